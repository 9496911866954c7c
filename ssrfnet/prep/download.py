"""Download, verify, join and unpack the corpus archives listed in a URLs file.

URLs file: one archive per line, `<name> <url> <md5> [<unpack-subdir>]`; blank lines and `#` comments are
ignored. `url` may be http(s):// or file://. Multi-part archives are listed part by part with names ending
in `_partaa`, `_partab`, ... (`vox1_dev_wav_partaa`); the parts are joined into one archive named after the
common prefix (`vox1_dev_wav.zip`). Archives unpack into `<download-dir>/<unpack-subdir>`; by default
names starting with `vox1` go to `voxceleb1/` (so the dev and test wav trees merge into `voxceleb1/wav/`),
`vox2` to `voxceleb2/`, and everything else to `<download-dir>` itself (`musan/`, `RIRS_NOISES/`).
Non-archives (the trial lists `veri_test2.txt`, ...) are copied into their subdir (voxceleb1/ for lists).

Stages: 0 download + md5 check (a file already present with the right md5 is kept; a wrong md5 moves the
file aside to `<name>.bad` and fails), 1 join parts, 2 unpack (a `.<archive>.unpacked` marker skips done
work). Every step writes to a temporary name and renames on success.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ssrfnet.fileio import atomic_write_text
from ssrfnet.kaldi.trials import CLEANED_LISTS, UNCLEANED_LISTS
from ssrfnet.prep.common import PrepError, log

PART_RE = re.compile(r"^(?P<prefix>.+)_part[a-z]{2}$")
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass
class Entry:
    name: str
    url: str
    md5: str
    subdir: str
    lineno: int


def default_subdir(name: str) -> str:
    if name.startswith("vox1") or name in CLEANED_LISTS or name in UNCLEANED_LISTS:
        return "voxceleb1"
    if name.startswith("vox2"):
        return "voxceleb2"
    return "."


def read_urls(path: str | os.PathLike) -> list[Entry]:
    path = Path(path)
    if not path.is_file():
        raise PrepError(f"{path}: no such URLs file")
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) not in (3, 4):
            raise PrepError(
                f"{path}:{lineno}: expected '<name> <url> <md5> [<subdir>]', got {line.strip()!r}"
            )
        name, url, md5 = fields[:3]
        if "/" in name or name.startswith("."):
            raise PrepError(f"{path}:{lineno}: archive name {name!r} must be a plain file name")
        if not MD5_RE.match(md5):
            raise PrepError(f"{path}:{lineno}: {md5!r} is not an md5 checksum (32 hex digits)")
        if name in seen:
            raise PrepError(f"{path}:{lineno}: archive {name!r} already listed on line {seen[name]}")
        seen[name] = lineno
        subdir = fields[3] if len(fields) == 4 else default_subdir(name)
        entries.append(Entry(name, url, md5.lower(), subdir, lineno))
    if not entries:
        raise PrepError(f"{path}: lists no archives")
    return entries


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _move_aside(path: Path) -> Path:
    bad = path.with_name(path.name + ".bad")
    n = 1
    while bad.exists():
        bad = path.with_name(f"{path.name}.bad{n}")
        n += 1
    os.replace(path, bad)
    return bad


def fetch(entry: Entry, dl: Path) -> str:
    """Download one archive unless present with the right md5; returns what happened."""
    target = dl / entry.name
    if target.is_file():
        if md5sum(target) == entry.md5:
            return f"{target}: present, md5 ok"
        bad = _move_aside(target)
        log(f"{target}: md5 mismatch, moved aside to {bad}; downloading again")
    part = dl / f".{entry.name}.download"
    try:
        with urllib.request.urlopen(entry.url) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 22)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise PrepError(f"{entry.name}: download of {entry.url} failed: {err}") from None
    got = md5sum(part)
    if got != entry.md5:
        os.replace(part, target)
        bad = _move_aside(target)
        raise PrepError(
            f"{entry.name}: md5 of the download from {entry.url} is {got}, expected {entry.md5}; "
            f"the file was moved aside to {bad} and is not used"
        )
    os.replace(part, target)
    return f"{target}: downloaded, md5 ok"


def _archive_kind(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def join_parts(entries: list[Entry], dl: Path, join: bool = True) -> list[tuple[Path, str]]:
    """Join multi-part archives (unless `join` is False).

    Returns (file, subdir) for everything to unpack or place, in order.
    """
    groups: dict[str, list[Entry]] = {}
    singles: list[tuple[Path, str]] = []
    for entry in entries:
        match = PART_RE.match(entry.name)
        if match:
            groups.setdefault(match["prefix"], []).append(entry)
        else:
            singles.append((dl / entry.name, entry.subdir))
    for prefix, parts in sorted(groups.items()):
        parts.sort(key=lambda e: e.name)
        for part in parts:
            if not (dl / part.name).is_file():
                raise PrepError(f"{dl / part.name}: part missing (run stage 0 first)")
        kind = _archive_kind(dl / parts[0].name) or "bin"
        joined = dl / f"{prefix}.{kind}"
        if not join:
            singles.append((joined, parts[0].subdir))
            continue
        stamp = dl / f".{joined.name}.joined"
        signature = "".join(f"{p.name} {p.md5}\n" for p in parts)
        if joined.is_file() and stamp.is_file() and stamp.read_text() == signature:
            log(f"{joined}: already joined")
        else:
            tmp = dl / f".{joined.name}.tmp"
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(dl / part.name, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            os.replace(tmp, joined)
            atomic_write_text(stamp, signature)
            log(f"{joined}: joined {len(parts)} parts")
        singles.append((joined, parts[0].subdir))
    return singles


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        parts = Path(name).parts
        if name.startswith("/") or ".." in parts:
            raise PrepError(f"{archive}: refusing to unpack unsafe member path {name!r}")


def unpack(path: Path, dest: Path) -> str:
    dest.mkdir(parents=True, exist_ok=True)
    stamp = path.with_name(f".{path.name}.unpacked")
    signature = f"{path.stat().st_size} {path.stat().st_mtime_ns} {dest.resolve()}\n"
    if stamp.is_file() and stamp.read_text() == signature:
        return f"{path}: already unpacked into {dest}"
    kind = _archive_kind(path)
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            _safe_members(archive.namelist(), path)
            archive.extractall(dest)
    elif kind in ("tar", "tar.gz"):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            _safe_members([m.name for m in members], path)
            for member in members:
                if member.issym() or member.islnk():
                    _safe_members([member.linkname], path)
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, filter="data")
            else:
                archive.extractall(dest)
    else:
        if dest.resolve() != path.parent.resolve():
            shutil.copy2(path, dest / path.name)
        atomic_write_text(stamp, signature)
        return f"{path}: not an archive, placed in {dest}"
    atomic_write_text(stamp, signature)
    return f"{path}: unpacked into {dest}"


def download_data(
    download_dir: str | os.PathLike, urls_file: str | os.PathLike, *, stage: int = 0, nj: int = 4
):
    dl = Path(download_dir)
    entries = read_urls(urls_file)
    dl.mkdir(parents=True, exist_ok=True)
    if stage <= 0:
        errors = []
        with ThreadPoolExecutor(max(1, nj)) as pool:
            futures = [pool.submit(fetch, entry, dl) for entry in entries]
            for future in futures:
                try:
                    log(future.result())
                except PrepError as err:
                    errors.append(str(err))
        if errors:
            raise PrepError("; ".join(errors))
    items = join_parts(entries, dl, join=stage <= 1)
    if stage <= 2:
        for path, subdir in items:
            if not path.is_file():
                raise PrepError(f"{path}: missing (run stages 0 and 1 first)")
            log(unpack(path, dl / subdir))
