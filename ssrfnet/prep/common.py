"""Shared pieces of data preparation: errors, parallel durations, writing and installing data dirs.

Installing a data directory never loses what was there: each directory is built in a hidden staging
directory beside its target and renamed into place only when every directory of the run is complete.
If the target already holds identical content it is left untouched (so a re-run changes nothing); if it
differs, the old directory is kept as `<dir>.bak` (replacing an older `.bak`) and the new one renamed in.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ssrfnet.audio import SAMPLE_RATE, AudioError, audio_num_samples
from ssrfnet.errors import SSRFNetError
from ssrfnet.kaldi.datadir import spk2utt_lines
from ssrfnet.kaldi.table import read_table, write_table

# The stamp ssrfnet.corpus.build writes last at the root of a finished mini corpus (sibling packages may not
# import each other, so the name is repeated here; a test keeps the two equal).
MINI_CORPUS_STAMP = ".complete"


class PrepError(SSRFNetError, RuntimeError):
    """A data-preparation failure; the message names the file, line or utterance at fault."""


def mini_corpus_root(path: str | os.PathLike) -> Path | None:
    """The mini-corpus root `path` lies in (itself or up to two levels up), or None for real data.

    A directory counts only when its stamp is the corpus generator's JSON (seed, size, format version), so
    an unrelated `.complete` marker of some download script is not mistaken for it.
    """
    path = Path(path).absolute()
    for candidate in [path, *list(path.parents)[:2]]:
        try:
            stamp = json.loads((candidate / MINI_CORPUS_STAMP).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(stamp, dict) and {"format_version", "seed", "size"} <= set(stamp):
            return candidate
    return None


def corpus_kind(path: str | os.PathLike) -> str:
    """'mini' for audio of the synthesised mini corpus, else 'real' (recorded in data/<set>/corpus.json)."""
    return "mini" if mini_corpus_root(path) is not None else "real"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextlib.contextmanager
def timed_step(what: str) -> Iterator[None]:
    """Log `timing: <what>: <s> s, peak RSS <MiB> MiB` when the block finishes (bench scripts parse it).

    The peak is the process's peak so far, so within one process it never decreases from step to step."""
    start = time.perf_counter()
    yield
    log(f"timing: {what}: {time.perf_counter() - start:.3f} s, peak RSS {peak_rss_mib():.0f} MiB")


def fmt_dur(num_samples: int, sample_rate: int = SAMPLE_RATE) -> str:
    """Exact decimal seconds (16 kHz sample counts have at most 7 decimals)."""
    text = f"{num_samples / sample_rate:.7f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _count(job: tuple[str, str, str]) -> tuple[str, int]:
    key, entry, where = job
    return key, audio_num_samples(entry, where=where)


def num_samples_parallel(
    entries: list[tuple[str, str, str]], nj: int, known: dict[str, int] | None = None
) -> dict[str, int]:
    """Sample counts for `(key, wav.scp entry, where)` jobs over `nj` threads; AudioError -> PrepError.

    Keys in `known` are not recomputed (used to skip decoding unchanged pipe entries on a re-run).
    """
    known = known or {}
    result = {key: known[key] for key, _, _ in entries if key in known}
    todo = [job for job in entries if job[0] not in known]
    # Threads, not processes: the work is ffmpeg subprocesses and libsndfile header reads (both outside
    # the GIL), and threads avoid fork-after-thread hazards in callers that already run threads.
    try:
        if nj <= 1 or len(todo) < 8:
            result.update(_count(job) for job in todo)
        else:
            with ThreadPoolExecutor(nj) as pool:
                result.update(pool.map(_count, todo))
    except AudioError as err:
        raise PrepError(str(err)) from None
    return result


def known_samples(target: Path, wav: dict[str, str], sources: dict[str, str | Path]) -> dict[str, int]:
    """Sample counts to reuse from an existing `target/utt2dur`, so a re-run reads no audio again.

    A count is reused when the utterance's wav.scp entry is unchanged and `sources[key]` (the file the entry
    reads: the wav itself, or the m4a behind a pipe) is older than that utt2dur. A stat costs about a
    microsecond; a wav header read fifty, an m4a decode tens of milliseconds, on a million files.
    """
    try:
        old_wav = dict(read_table(target / "wav.scp"))
        old_dur = dict(read_table(target / "utt2dur"))
        stamp = (target / "utt2dur").stat().st_mtime
    except (OSError, ValueError):
        return {}
    known = {}
    for key, entry in wav.items():
        if old_wav.get(key) != entry or key not in old_dur:
            continue
        try:
            if os.stat(sources[key]).st_mtime >= stamp:
                continue
            known[key] = round(float(old_dur[key]) * SAMPLE_RATE)
        except (OSError, KeyError, ValueError):
            continue
    return known


def write_data_dir(
    out: Path, wav: dict[str, str], utt2spk: dict[str, str], num_samples: dict[str, int]
) -> None:
    """wav.scp, utt2spk, spk2utt and utt2dur, C-locale sorted."""
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "wav.scp", wav)
    write_table(out / "utt2spk", utt2spk)
    write_table(out / "spk2utt", spk2utt_lines(utt2spk), sort=False)
    write_table(out / "utt2dur", {key: fmt_dur(num_samples[key]) for key in wav})


def dirs_identical(a: Path, b: Path) -> bool:
    """Same relative file names and byte-identical contents."""

    def listing(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())

    names = listing(a)
    if names != listing(b):
        return False
    return all(os.path.samefile(a / n, b / n) or filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def install_dir(staged: Path, target: Path) -> str:
    """Move a fully built directory into place (see module docstring); returns what happened."""
    if target.is_dir() and dirs_identical(staged, target):
        shutil.rmtree(staged)
        return "unchanged"
    if target.exists():
        backup = target.with_name(target.name + ".bak")
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup)
        elif backup.exists() or backup.is_symlink():
            backup.unlink()
        os.replace(target, backup)
        os.replace(staged, target)
        return f"replaced (previous version kept in {backup})"
    os.replace(staged, target)
    return "created"


@contextlib.contextmanager
def staging(data_root: Path, tag: str) -> Iterator[Path]:
    """A hidden scratch directory inside `data_root`, removed afterwards whatever happens."""
    data_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{tag}.", suffix=".tmp", dir=data_root))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install_all(stage: Path, data_root: Path, names: list[str]) -> None:
    for name in names:
        outcome = install_dir(stage / name, data_root / name)
        log(f"{data_root / name}: {outcome}")
