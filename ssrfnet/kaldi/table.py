"""Read and write Kaldi two-column tables (wav.scp, utt2spk, spk2utt, utt2dur, ...).

Keys are unique and files are kept in C-locale (byte) order, which for UTF-8 text is Python's
code-point order, so `sorted()` matches `LC_ALL=C sort`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write


class TableError(SSRFNetError, ValueError):
    """A malformed Kaldi table; the message names the file and line."""


def read_table(path: str | os.PathLike, *, require_sorted: bool = False) -> list[tuple[str, str]]:
    """Return the (key, rest-of-line) pairs of a Kaldi table, in file order.

    Raises TableError naming the file and line for a line without a value, a duplicated key,
    or (with `require_sorted`) a key out of C-locale order.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    items: list[tuple[str, str]] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise TableError(f"{path}:{lineno}: empty line")
            parts = line.strip().split(maxsplit=1)
            if len(parts) < 2:
                raise TableError(f"{path}:{lineno}: expected '<key> <value>', got {line!r}")
            key, value = parts
            if key in first_line:
                raise TableError(f"{path}:{lineno}: duplicate key {key!r} (first on line {first_line[key]})")
            if require_sorted and items and key < items[-1][0]:
                raise TableError(
                    f"{path}:{lineno}: key {key!r} is not in sorted (LC_ALL=C) order after {items[-1][0]!r}"
                )
            first_line[key] = lineno
            items.append((key, value))
    return items


def read_dict(path: str | os.PathLike, *, require_sorted: bool = False) -> dict[str, str]:
    return dict(read_table(path, require_sorted=require_sorted))


def write_table(path: str | os.PathLike, items, *, sort: bool = True) -> None:
    """Write (key, value) pairs atomically, C-locale sorted by key unless `sort` is False."""
    pairs = list(items.items()) if isinstance(items, dict) else list(items)
    if sort:
        pairs.sort(key=lambda kv: kv[0])
    with atomic_write(path) as handle:
        for key, value in pairs:
            handle.write(f"{key} {value}\n")
