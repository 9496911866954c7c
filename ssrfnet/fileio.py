"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A process killed at any instant leaves either the old file or the new one, never a half-written file.
JSON is written strictly: NaN and infinities become null (`strict_json`, `atomic_write_json`), so every
reader (jq, JavaScript, other languages) can parse what the recipe writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file object whose contents replace `path` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save through a temporary file, so an interrupted save never corrupts `path`."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def finite_or_none(obj):
    """A copy of a JSON-able structure with every NaN/inf float (numpy scalars included) replaced by None."""
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()  # numpy scalar -> Python scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def strict_json(obj, **kwargs) -> str:
    """json.dumps that never writes Infinity/NaN (they become null); fails on anything non-standard."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)


def atomic_write_json(path: str | os.PathLike, obj, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Strict JSON (see strict_json), written atomically with a final newline."""
    atomic_write_text(path, strict_json(obj, indent=indent, sort_keys=sort_keys) + "\n")
