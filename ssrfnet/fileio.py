"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A process killed at any instant leaves either the old file or the new one, never a half-written file.
`staged_dir` does the same for a whole output directory (and files that belong with it): it is built in a
temporary sibling and swapped in by renames only when complete, so a failed run leaves the previous
complete output byte-identical. A full disk, a read-only directory or a missing permission while writing
raises `WriteError`, one line naming the file.
JSON is written strictly: NaN and infinities become null (`strict_json`, `atomic_write_json`), so every
reader (jq, JavaScript, other languages) can parse what the recipe writes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from ssrfnet.errors import SSRFNetError

# errors of the file system a user can fix (free space, permissions), as opposed to bugs
_USER_ERRNOS = {errno.ENOSPC: "no space left on device (free some and re-run; earlier files are intact)",
                errno.EDQUOT: "disk quota exceeded (free some and re-run; earlier files are intact)",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                errno.EPERM: "operation not permitted", errno.EFBIG: "file too large"}


class WriteError(SSRFNetError, OSError):
    """A file could not be written (disk full, quota, read-only or permission); names the file."""


def write_error(path, err: OSError) -> WriteError | OSError:
    """The WriteError naming `path` for a file-system error a user can fix, else `err` itself."""
    why = _USER_ERRNOS.get(err.errno)
    if why is None:
        return err
    out = WriteError(f"{path}: cannot write: {why}")
    out.errno = err.errno
    return out


@contextlib.contextmanager
def user_write_errors(path):
    """Turn OSError(ENOSPC, EACCES, ...) raised in the block into WriteError naming `path`."""
    try:
        yield
    except WriteError:
        raise
    except OSError as err:
        mapped = write_error(path, err)
        if mapped is err:
            raise
        raise mapped from err


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file object whose contents replace `path` only if the block finishes without error."""
    path = Path(path)
    with user_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with user_write_errors(path):
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


class _RecordingWriter:
    """A binary file handle that remembers the OSError of a failed write: torch.save reports one as a
    RuntimeError of its zip writer, which would hide a full disk."""

    def __init__(self, handle):
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save through a temporary file, so an interrupted save never corrupts `path`; a full disk is
    a WriteError naming `path`."""
    import torch

    with atomic_write(path, "wb") as handle:
        writer = _RecordingWriter(handle)
        try:
            torch.save(obj, writer)
        except Exception as err:
            if writer.error is None:
                raise
            raise write_error(path, writer.error) from err


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


# -- whole output directories -------------------------------------------------------------------------
class StagedDir:
    """An output directory under construction (`path`, a hidden sibling of `target`); see staged_dir."""

    def __init__(self, target: Path, path: Path):
        self.target, self.path = target, path
        self.companions: list[tuple[Path, bytes]] = []

    def also_write(self, path: str | os.PathLike, data: str | bytes) -> None:
        """A file outside the directory that is replaced together with it (renamed right after the directory,
        in the order given), e.g. the results tables beside a scores directory."""
        self.companions.append((Path(path), data.encode("utf-8") if isinstance(data, str) else bytes(data)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(target: Path, kind: str) -> list[tuple[Path, int]]:
    """(path, pid) of the hidden `.<name>.<kind>-<pid>-*` siblings that earlier runs left behind."""
    found = []
    prefix = f".{target.name}.{kind}-"
    if not target.parent.is_dir():
        return found
    for entry in target.parent.iterdir():
        if entry.name.startswith(prefix):
            pid = entry.name[len(prefix):].split("-", 1)[0]
            found.append((entry, int(pid) if pid.isdigit() else -1))
    return found


def recover_staged(target: str | os.PathLike) -> None:
    """Clean up after a run killed inside `staged_dir`: half-built directories of dead processes go; a
    previous complete output that was moved aside for a swap comes back when the swap did not finish."""
    target = Path(target)
    for path, pid in _leftovers(target, "new"):
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
    old = sorted((p for p, pid in _leftovers(target, "old") if pid != os.getpid() and not _pid_alive(pid)),
                 key=lambda p: p.stat().st_mtime)
    if old and not target.exists():
        os.rename(old.pop(), target)
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


def _write_companions(stage: StagedDir) -> list[tuple[str, Path]]:
    """Every companion file written (and synced) under a temporary name; nothing renamed yet."""
    written: list[tuple[str, Path]] = []
    try:
        for path, data in stage.companions:
            with user_write_errors(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                written.append((tmp, path))
                os.fchmod(fd, 0o666 & ~_umask())
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
    except BaseException:
        for tmp, _ in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return written


def commit_dir(built: str | os.PathLike, target: str | os.PathLike, companions=()) -> None:
    """Swap a directory that was built elsewhere (e.g. by the jobs of a stage) in over `target`, with its
    companion files [(path, text or bytes)], as `staged_dir` does when its block succeeds."""
    stage = StagedDir(Path(target), Path(built))
    for path, data in companions:
        stage.also_write(path, data)
    _swap_in(stage)


def _swap_in(stage: StagedDir) -> None:
    """Rename the finished directory over its target (the old copy aside until that worked), then the
    companions in order, then remove the old copy."""
    target = stage.target
    companions = _write_companions(stage)
    old = None
    try:
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(3).hex()}")
            with user_write_errors(target):
                os.rename(target, old)
        try:
            os.rename(stage.path, target)
        except OSError as err:
            if old is not None:
                os.rename(old, target)
                old = None
            raise write_error(target, err) from err
    except BaseException:
        for tmp, _ in companions:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for tmp, path in companions:
        os.replace(tmp, path)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike):
    """Build a whole output directory as one unit: yields a `StagedDir` whose `path` (an empty hidden sibling
    of `target`) the block fills; when the block succeeds it replaces `target` by renames (the old copy is
    removed only after the swap), with the `also_write` companions right after it. When the block fails,
    nothing of the old output changes and the half-built directory is removed; what a killed run leaves
    behind is cleaned (or put back) by the next `staged_dir` on the same target (`recover_staged`).

    The new directory holds only what the block writes: files of the old one are not carried over."""
    target = Path(target)
    with user_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        recover_staged(target)
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-{os.getpid()}-", dir=target.parent))
    os.chmod(path, 0o777 & ~_umask())
    stage = StagedDir(target, path)
    try:
        yield stage
        _swap_in(stage)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
