"""Per-file audio work of data preparation, split into job shares that `$cmd JOB=1:N` can run anywhere.

The work of stage 0 that grows with the corpus file by file is converting m4a to wav (`--m4a-mode convert`)
and counting samples (a wav header, or decoding an ffmpeg pipe). `write_shares` cuts the list of tasks into
contiguous shares of about equal estimated cost, one file per job:

    <work>/todo.<n>.tsv      key <TAB> wav.scp entry <TAB> source file <TAB> convert-to wav path (or empty)

`run_share(work, n)` (job n of the array, on any machine that sees the files) converts what its share asks
for, then counts the samples of every entry (m4a decoding runs FFMPEG_BATCH files per ffmpeg process:
starting ffmpeg costs far more than decoding one short file), and writes `<work>/samples.<n>.tsv`
atomically: a first line `# share <sha256 of todo.<n>.tsv>`, then `key samples` lines. A result file
therefore never outlives the share it was computed from: a re-run skips a finished share with the same
digest and redoes any other.
`collect_samples(work, n)` merges the results and names a missing or stale one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ssrfnet.audio import AudioError, audio_num_samples, is_pipe
from ssrfnet.fileio import atomic_write
from ssrfnet.prep.common import PrepError, log, timed_step

# Estimated relative cost of one file: decoding (conversion or a pipe) against reading a wav header.
COST_DECODE = 100
COST_HEADER = 1
FFMPEG_BATCH = 32  # files per ffmpeg process
# The wav.scp pipe that reads an m4a (the entry stage 0 writes for --m4a-mode pipe).
FFMPEG_PIPE = "ffmpeg -nostdin -v 8 -i {path} -f wav -ar 16000 -ac 1 -acodec pcm_s16le - |"
_SHARE_MAGIC = "# share "


class FileTask(NamedTuple):
    """One utterance's per-file work: optional conversion `source -> convert_to`, then its sample count."""

    key: str
    entry: str  # the wav.scp value whose samples are counted
    source: str  # the corpus file (named in error messages)
    convert_to: str = ""  # wav to produce from `source` first ("" = nothing to convert)

    @property
    def where(self) -> str:
        return f"utterance {self.key} ({self.source})"

    @property
    def cost(self) -> int:
        return COST_DECODE if self.convert_to or is_pipe(self.entry) else COST_HEADER


def share_path(work: Path, job: int) -> Path:
    return Path(work) / f"todo.{job}.tsv"


def result_path(work: Path, job: int) -> Path:
    return Path(work) / f"samples.{job}.tsv"


def split_points(costs: Iterable[int], num_jobs: int) -> list[int]:
    """Boundaries [0, b1, ..., len] cutting a sequence into `num_jobs` contiguous runs of about equal cost.

    Every run holds at least one task, whatever the cost distribution."""
    weights = np.fromiter(costs, dtype=np.int64)
    count = len(weights)
    if not 1 <= num_jobs <= count:
        raise ValueError(f"cannot cut {count} tasks into {num_jobs} shares")
    cumulative = np.cumsum(weights)
    targets = cumulative[-1] * np.arange(1, num_jobs) / num_jobs
    bounds = [0]
    for k, cut in enumerate(np.searchsorted(cumulative, targets, side="left") + 1, 1):
        bounds.append(min(max(int(cut), bounds[-1] + 1), count - (num_jobs - k)))
    bounds.append(count)
    return bounds


def _check_field(task: FileTask, value: str) -> None:
    if "\t" in value or "\n" in value:
        raise PrepError(f"{task.where}: path or entry contains a tab or newline: {value!r}")


def write_shares(work: Path, tasks: list[FileTask], nj: int) -> int:
    """Write the task list as at most `nj` shares (none when there is nothing to do); returns their number."""
    work = Path(work)
    for old in work.glob("todo.*.tsv"):
        old.unlink()
    num_jobs = min(max(1, nj), len(tasks))
    if num_jobs == 0:
        return 0
    bounds = split_points((task.cost for task in tasks), num_jobs)
    for job in range(1, num_jobs + 1):
        with atomic_write(share_path(work, job)) as handle:
            for task in tasks[bounds[job - 1] : bounds[job]]:
                for value in task:
                    _check_field(task, value)
                handle.write("\t".join(task) + "\n")
    return num_jobs


def read_share(path: Path) -> list[FileTask]:
    tasks = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4:
                raise PrepError(f"{path}:{lineno}: expected 4 tab-separated fields, got {len(fields)}")
            tasks.append(FileTask(*fields))
    return tasks


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _result_digest(path: Path) -> str | None:
    """The share digest a result file was computed from, or None if it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
    except OSError:
        return None
    return first[len(_SHARE_MAGIC) :].strip() if first.startswith(_SHARE_MAGIC) else None


def _wav_output_args(path: str) -> list[str]:
    return ["-ar", "16000", "-ac", "1", "-acodec", "pcm_s16le", "-f", "wav", path]


def _temp_name(dest: str) -> str:
    return os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}.{os.getpid()}.tmp.wav")


def _complete(path: str) -> bool:
    try:
        return os.stat(path).st_size > 44
    except FileNotFoundError:
        return False


def decode_many(sources: list[str], outputs: list[str]) -> bool:
    """One ffmpeg process decodes every source to its 16 kHz mono 16-bit wav output; True on success.

    Starting ffmpeg costs tens of milliseconds, decoding a VoxCeleb m4a a few; one process for a batch
    gives byte-identical wavs (each output maps one input). On any failure the outputs are removed and
    False is returned, so that the caller can go file by file and name the bad one."""
    cmd = ["ffmpeg", "-nostdin", "-v", "8", "-y"]
    for source in sources:
        cmd += ["-i", source]
    for i, output in enumerate(outputs):
        cmd += ["-map", f"{i}:a:0", *_wav_output_args(output)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode == 0 and all(_complete(out) for out in outputs):
        return True
    for output in outputs:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(output)
    return False


def convert_to_wav(source: str, dest: str, where: str) -> None:
    """ffmpeg `source` to 16 kHz mono 16-bit wav at `dest`, atomically; an existing complete wav is kept."""
    if _complete(dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = _temp_name(dest)
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "8", "-y", "-i", source, *_wav_output_args(tmp)],
                          capture_output=True, check=False)
    if proc.returncode != 0 or not os.path.isfile(tmp):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        detail = proc.stderr.decode(errors="replace").strip()[-300:]
        raise PrepError(f"{where}: ffmpeg conversion to wav failed (exit {proc.returncode}): {detail}")
    os.replace(tmp, dest)


def convert_all(tasks: list[FileTask], batch: int = FFMPEG_BATCH) -> None:
    """Convert every task's source to its `convert_to` wav, `batch` files per ffmpeg process."""
    todo = [task for task in tasks if task.convert_to and not _complete(task.convert_to)]
    for first in range(0, len(todo), batch):
        chunk = todo[first : first + batch]
        for task in chunk:
            os.makedirs(os.path.dirname(task.convert_to), exist_ok=True)
        temps = [_temp_name(task.convert_to) for task in chunk]
        if decode_many([task.source for task in chunk], temps):
            for task, tmp in zip(chunk, temps):
                os.replace(tmp, task.convert_to)
        else:
            for task in chunk:
                convert_to_wav(task.source, task.convert_to, task.where)


def is_standard_pipe(task: FileTask) -> bool:
    """The entry is this recipe's own ffmpeg pipe over the task's source (so a batch decode counts it)."""
    return task.entry == FFMPEG_PIPE.format(path=shlex.quote(task.source))


def count_all(tasks: list[FileTask], scratch: Path, batch: int = FFMPEG_BATCH) -> list[tuple[str, int]]:
    """(key, samples) of every task: wav headers; our own ffmpeg pipes decoded `batch` at a time into
    scratch wavs (the same samples the pipe writes); any other pipe on its own."""
    counts: dict[str, int] = {}
    piped = [task for task in tasks if is_standard_pipe(task)]
    for first in range(0, len(piped), batch):
        chunk = piped[first : first + batch]
        temps = [str(scratch / f"{i}.wav") for i in range(len(chunk))]
        if decode_many([task.source for task in chunk], temps):
            for task, tmp in zip(chunk, temps):
                counts[task.key] = audio_num_samples(tmp, where=task.where)
                os.unlink(tmp)
    try:
        for task in tasks:
            if task.key not in counts:
                counts[task.key] = audio_num_samples(task.entry, where=task.where)
    except AudioError as err:
        raise PrepError(str(err)) from None
    return [(task.key, counts[task.key]) for task in tasks]


def run_share(work: Path, job: int) -> int:
    """Job `job` of the array: conversions, then sample counts, of its share; returns the files it counted."""
    share = share_path(work, job)
    if not share.is_file():
        raise PrepError(f"{share}: no such share (run the plan step first, with the same work dir)")
    digest = _digest(share)
    out = result_path(work, job)
    if _result_digest(out) == digest:
        log(f"{out}: already computed from this share; nothing to do")
        return 0
    tasks = read_share(share)
    converts = sum(1 for task in tasks if task.convert_to)
    with timed_step(f"job {job}: conversion of {converts} files"):
        convert_all(tasks)
    with timed_step(f"job {job}: durations of {len(tasks)} files"), \
            tempfile.TemporaryDirectory(prefix=f".scratch.{job}.", dir=work) as scratch:
        counts = count_all(tasks, Path(scratch))
    with atomic_write(out) as handle:
        handle.write(f"{_SHARE_MAGIC}{digest}\n")
        handle.writelines(f"{key} {samples}\n" for key, samples in counts)
    return len(counts)


def collect_samples(work: Path, num_jobs: int) -> dict[str, int]:
    """key -> samples over the results of jobs 1..num_jobs; each must be current for its share."""
    samples: dict[str, int] = {}
    for job in range(1, num_jobs + 1):
        out = result_path(work, job)
        if _result_digest(out) != _digest(share_path(work, job)):
            raise PrepError(f"{out}: missing or computed from another share; re-run job {job} of the array")
        with open(out, encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                key, count = line.split()
                samples[key] = int(count)
    return samples
