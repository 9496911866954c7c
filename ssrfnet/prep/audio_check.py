"""The audio of a data directory checked up front, before training or extraction starts.

Every wav.scp entry is checked cheaply, one share of the sorted keys per job (`check_job`, run as a `$cmd`
job array by steps/validate_audio.sh): the key is in utt2spk, the file exists, is not empty and its header
reads; 16 kHz; at least one sample. Pipes (`cmd |`) are run and decoded (the only way to check them),
plain files only with `decode='all'`, which also finds NaN/Inf samples. Odd but usable input becomes a note
(several channels: mixed down; silence; shorter than a crop: repeated end to end).

`summarize` joins the jobs' findings: `<out>/bad_utts` (`<utt> <reason>`, every bad entry), `<out>/notes`,
one console summary naming the first bad entries and their count, and a `DataDirError` unless `skip_bad`
(the caller then leaves the listed utterances out, never silently). `<out>/checked` records what was
checked (a digest of wav.scp, utt2spk and the options), so that a re-run on unchanged data skips the jobs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from pathlib import Path

from ssrfnet.audio import SAMPLE_RATE, AudioError, audio_header, is_pipe, read_audio_checked
from ssrfnet.fileio import atomic_write_text
from ssrfnet.kaldi.datadir import DataDirError
from ssrfnet.kaldi.table import TableError, read_dict, read_table

log = logging.getLogger("ssrfnet.prep.audio_check")

DECODE_CHOICES = ("none", "pipes", "all")
CHECK_VERSION = 1
SHOWN = 5  # bad entries named on the console (all are in bad_utts)


def job_share(keys: list[str], job: int, num_jobs: int) -> list[str]:
    """The contiguous 1-based share of the sorted keys that job `job` checks (as stage 4 splits them)."""
    if not 1 <= job <= num_jobs:
        raise DataDirError(f"--job {job} is outside 1..{num_jobs}")
    return keys[len(keys) * (job - 1) // num_jobs : len(keys) * job // num_jobs]


def _tables(data_dir: Path) -> tuple[list[tuple[str, str]], dict[str, str] | None]:
    wav_scp = data_dir / "wav.scp"
    if not wav_scp.is_file():
        raise DataDirError(f"{wav_scp}: no such file")
    try:
        table = read_table(wav_scp)
        utt2spk = read_dict(data_dir / "utt2spk") if (data_dir / "utt2spk").is_file() else None
    except TableError as err:
        raise DataDirError(str(err)) from err
    if not table:
        raise DataDirError(f"{wav_scp}: is empty (no utterances)")
    return table, utt2spk


def check_entry(key: str, entry: str, where: str, *, decode: str = "pipes",
                crop_samples: int | None = None) -> tuple[str | None, list[str]]:
    """(why the entry is unusable or None, notes) for one wav.scp entry."""
    try:
        if (is_pipe(entry) and decode != "none") or decode == "all":
            return None, read_audio_checked(entry, where=where, crop_samples=crop_samples)[1]
        if is_pipe(entry):
            return None, []
        frames, rate, channels = audio_header(entry.strip(), where=where)
    except AudioError as err:
        return _reason(str(err), where), []
    if rate != SAMPLE_RATE:
        return f"sample rate is {rate} Hz, expected {SAMPLE_RATE} Hz", []
    if frames == 0:
        return "audio has no samples", []
    notes = [f"{channels} channels mixed down to mono"] if channels > 1 else []
    return None, notes + _short(frames, crop_samples)


def _short(frames: int, crop_samples: int | None) -> list[str]:
    if crop_samples and frames < crop_samples:
        return [f"{frames / SAMPLE_RATE:.2f} s, shorter than one {crop_samples / SAMPLE_RATE:g} s crop "
                "(repeated end to end)"]
    return []


def _reason(message: str, where: str) -> str:
    """An AudioError's message without the `where: ` it starts with (bad_utts names the utterance)."""
    prefix = f"{where}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def check_job(data_dir: str | os.PathLike, out_dir: str | os.PathLike, *, job: int = 1, num_jobs: int = 1,
              decode: str = "pipes", crop_seconds: float = 0.0) -> dict:
    """Check this job's share of `<data>/wav.scp`; writes `<out>/split/{bad,notes}.<job>`."""
    if decode not in DECODE_CHOICES:
        raise DataDirError(f"--decode must be one of {', '.join(DECODE_CHOICES)}, got {decode!r}")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    table, utt2spk = _tables(data_dir)
    entries = dict(table)
    crop = int(round(crop_seconds * SAMPLE_RATE)) or None
    bad, notes = [], []
    for key in job_share(sorted(entries), job, num_jobs):
        if utt2spk is not None and key not in utt2spk:
            bad.append((key, f"not in {data_dir / 'utt2spk'}"))
            continue
        why, found = check_entry(key, entries[key], f"{data_dir / 'wav.scp'}: {key}", decode=decode,
                                 crop_samples=crop)
        if why is not None:
            bad.append((key, why))
        notes += [(key, note) for note in found]
    if job == 1 and utt2spk is not None:
        bad += [(utt, f"in {data_dir / 'utt2spk'} but not in {data_dir / 'wav.scp'}")
                for utt in sorted(set(utt2spk) - set(entries))]
    split = out_dir / "split"
    atomic_write_text(split / f"notes.{job}", "".join(f"{k} {why}\n" for k, why in notes))
    atomic_write_text(split / f"bad.{job}", "".join(f"{k} {why}\n" for k, why in bad))  # last: job done
    return {"bad": bad, "notes": notes}


def check_digest(data_dir: str | os.PathLike, decode: str, crop_seconds: float) -> str:
    """What a finished check covered: wav.scp and utt2spk as they are now, and the options."""
    digest = hashlib.sha1(f"v{CHECK_VERSION} decode={decode} crop={crop_seconds:g}\n".encode())
    for name in ("wav.scp", "utt2spk"):
        path = Path(data_dir) / name
        if path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def is_checked(data_dir, out_dir, decode: str, crop_seconds: float) -> bool:
    """True when `<out>/checked` says this data directory was already checked with these options."""
    marker = Path(out_dir) / "checked"
    return marker.is_file() and marker.read_text().strip() == check_digest(data_dir, decode, crop_seconds)


def _read_parts(out_dir: Path, kind: str, num_jobs: int) -> list[tuple[str, str]]:
    rows = []
    for job in range(1, num_jobs + 1):
        part = out_dir / "split" / f"{kind}.{job}"
        if not part.is_file():
            raise DataDirError(f"{part}: missing: audio check job {job} did not finish "
                               f"(see {out_dir}/log/validate_audio.{job}.log)")
        for line in part.read_text(encoding="utf-8").splitlines():
            key, _, why = line.partition(" ")
            rows.append((key, why))
    return rows


def _note_kind(note: str) -> str:
    if "channels" in note:
        return "multi-channel (mixed down to mono)"
    if note.startswith("silent"):
        return "silent (every sample 0)"
    return "shorter than one crop (repeated end to end)"


def summarize(data_dir: str | os.PathLike, out_dir: str | os.PathLike, num_jobs: int, *,
              skip_bad: bool = False, decode: str = "pipes", crop_seconds: float = 0.0) -> dict:
    """Join the job outputs into `<out>/bad_utts` and `<out>/notes`; returns {'total', 'bad', 'notes',
    'lines'} (the console lines). Raises DataDirError naming the first bad entries unless `skip_bad`."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    table, _ = _tables(data_dir)
    bad = sorted(_read_parts(out_dir, "bad", num_jobs))
    notes = sorted(_read_parts(out_dir, "notes", num_jobs))
    atomic_write_text(out_dir / "bad_utts", "".join(f"{k} {why}\n" for k, why in bad))
    atomic_write_text(out_dir / "notes", "".join(f"{k} {why}\n" for k, why in notes))
    lines = []
    for kind, count in sorted(Counter(_note_kind(n) for _, n in notes).items()):
        keys = [k for k, n in notes if _note_kind(n) == kind]
        lines.append(f"WARNING: {count} of {len(table)} entries of {data_dir}/wav.scp are {kind}: "
                     f"{' '.join(keys[:SHOWN])}{' ...' if count > SHOWN else ''} (all in {out_dir}/notes)")
    result = {"total": len(table), "bad": bad, "notes": notes, "lines": lines}
    if bad:
        shown = "; ".join(f"{k} ({why})" for k, why in bad[:SHOWN]) + ("; ..." if len(bad) > SHOWN else "")
        message = (f"{data_dir}/wav.scp: {len(bad)} of {len(table)} entries are unusable: {shown}; "
                   f"all listed in {out_dir}/bad_utts")
        if not skip_bad:
            raise DataDirError(f"{message}; fix them, or re-run with --skip-bad true to leave them out")
        lines.append(f"WARNING: {message}; left out (--skip-bad true)")
    atomic_write_text(out_dir / "checked", check_digest(data_dir, decode, crop_seconds) + "\n")
    return result
