"""Calibration trials from the held-out training-corpus speakers: short test segments vs long enrolments.

Score calibration (`ssrfnet.scoring.calibration`) is trained on these trials and never on a test list. As in
WeSpeaker's and ESPnet's QMF recipes, a trial pairs a *long* segment (the whole utterance, when it is longer
than `long_min` = 6 s) with a *short* one (a random span of 2-6 s, uniform in length, cut from another
utterance), so the calibration sees how the meaning of a score changes with duration:

- every source utterance (at most `max_utts_per_spk` per speaker, chosen at random) gives one short segment
  (its whole length if it is shorter than the drawn length) and, if it is long enough, one long segment;
- target trials pair a long and a short segment of one speaker from *different* source utterances;
  non-target trials pair segments of two speakers; at most `max_trials` in all, half of them targets where
  there are that many, drawn at random and written sorted.

Corpora without utterances longer than 6 s use what exists: when no utterance is longer than `long_min`,
every utterance serves whole as a long segment (a warning says so). The embedded mini corpus has both
kinds (the tiny one: 1.5-10.8 s, median 7.5 s), so its long side is the utterances over 6 s as on
VoxCeleb2, and its short utterances (under 2 s) serve whole as short segments. Lengths are drawn per
utterance from a generator seeded by (seed, utterance index), so a re-run writes byte-identical files
and the installed directory is left untouched.

Output `<out>` (a Kaldi data dir): wav.scp (long segments point at the source audio; short ones at
`<out>/wav/<key>.wav`, 16-bit copies of the span), utt2spk, spk2utt, utt2dur, `segments.tsv` (key, kind,
source utterance, start and duration in seconds), `trials/calibration.kaldi` and `calibration_set.json`.
Keys are `<source utt>-long` and `<source utt>-short`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssrfnet.audio import SAMPLE_RATE, AudioError, read_audio, write_wav
from ssrfnet.fileio import atomic_write_json, atomic_write_text
from ssrfnet.kaldi.datadir import DataDirError, load_data_dir, validate
from ssrfnet.kaldi.trials import write_trials
from ssrfnet.prep.common import PrepError, fmt_dur, install_dir, log, staging, write_data_dir

SHORT_SECONDS = (2.0, 6.0)
LONG_MIN_SECONDS = 6.0
TRIALS_NAME = "trials/calibration.kaldi"


@dataclass
class Segment:
    key: str
    spk: str
    source: str  # source utterance
    kind: str  # "short" or "long"
    entry: str  # wav.scp value of the source
    start: int  # samples
    num_samples: int
    source_samples: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.num_samples == self.source_samples


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def _chosen_utts(spk2utts: dict[str, list[str]], max_per_spk: int, seed: int) -> list[str]:
    chosen = []
    for n, spk in enumerate(sorted(spk2utts)):
        utts = sorted(spk2utts[spk])
        if max_per_spk > 0 and len(utts) > max_per_spk:
            utts = sorted(_rng(seed, 1, n).choice(utts, max_per_spk, replace=False).tolist())
        chosen.extend(utts)
    return chosen


def plan_segments(data, utts: list[str], *, seed: int, short_seconds, long_min: float) -> list[Segment]:
    """Short (and long) segments of the chosen utterances of a loaded data dir (see module docstring)."""
    lo, hi = (float(v) for v in short_seconds)
    if not 0 < lo <= hi:
        raise PrepError(f"--short-seconds must be two increasing positive lengths, got {lo},{hi}")
    total = {u: int(round(data.utt2dur[u] * SAMPLE_RATE)) for u in utts}
    use_all_long = not any(total[u] > long_min * SAMPLE_RATE for u in utts)
    if use_all_long:
        longest = max(total.values()) / SAMPLE_RATE
        log(f"WARNING: {data.path}: no utterance is longer than --long-min {long_min:g} s (the longest is "
            f"{longest:.2f} s); every utterance serves whole as a long segment")
    segments = []
    for i, utt in enumerate(sorted(utts)):
        spk, entry, n = data.utt2spk[utt], data.wav_scp[utt], total[utt]
        rng = _rng(seed, 2, i)
        length = min(int(round(rng.uniform(lo, hi) * SAMPLE_RATE)), n)
        start = int(rng.integers(0, n - length + 1))
        segments.append(Segment(f"{utt}-short", spk, utt, "short", entry, start, length, n))
        if use_all_long or n > long_min * SAMPLE_RATE:
            segments.append(Segment(f"{utt}-long", spk, utt, "long", entry, 0, n, n))
    return segments


def calibration_trials(segments: list[Segment], *, seed: int, max_trials: int) -> list[tuple[str, str, bool]]:
    """(long key, short key, is_target) trials; targets never pair two segments of one utterance."""
    longs = [s for s in segments if s.kind == "long"]
    shorts = [s for s in segments if s.kind == "short"]
    li, si = (a.ravel() for a in np.meshgrid(np.arange(len(longs)), np.arange(len(shorts)), indexing="ij"))
    spk_id = {spk: k for k, spk in enumerate(sorted({s.spk for s in segments}))}
    l_spk = np.array([spk_id[s.spk] for s in longs])[li]
    s_spk = np.array([spk_id[s.spk] for s in shorts])[si]
    same_utt = np.array([s.source for s in longs])[li] == np.array([s.source for s in shorts])[si]
    target = np.flatnonzero((l_spk == s_spk) & ~same_utt)
    nontarget = np.flatnonzero(l_spk != s_spk)
    rng = _rng(seed, 3)
    n_tar = min(target.size, max_trials // 2)
    picked_tar = rng.choice(target, n_tar, replace=False)
    picked_non = rng.choice(nontarget, min(nontarget.size, max_trials - n_tar), replace=False)
    trials = [(longs[li[k]].key, shorts[si[k]].key, True) for k in picked_tar.tolist()]
    trials += [(longs[li[k]].key, shorts[si[k]].key, False) for k in picked_non.tolist()]
    return sorted(trials)


def _write_short(job: tuple[Segment, Path]) -> None:
    seg, path = job
    where = f"calibration segment {seg.key} (from {seg.source})"
    try:
        if seg.entry.rstrip().endswith("|"):
            wave = read_audio(seg.entry, where=where)[seg.start : seg.start + seg.num_samples]
        else:
            wave = read_audio(seg.entry, where=where, start=seg.start, frames=seg.num_samples)
    except AudioError as err:
        raise PrepError(str(err)) from None
    if len(wave) != seg.num_samples:
        raise PrepError(f"{where}: read {len(wave)} samples, utt2dur promised {seg.num_samples}")
    write_wav(path, wave)


def _check_classes(trials, src: Path) -> None:
    n_tar = sum(t[2] for t in trials)
    if n_tar == 0 or n_tar == len(trials):
        which = "target" if n_tar == 0 else "non-target"
        raise PrepError(
            f"{src}: the calibration set has no {which} trials ({len(trials)} trials); it needs at least two "
            "speakers, and speakers with two or more utterances"
        )


def write_calibration_dir(stage_dir: Path, out: Path, segments: list[Segment], trials, nj: int) -> None:
    """The data dir in `stage_dir`, whose wav.scp names the short copies at their final place in `out`."""
    wav, utt2spk, samples, jobs = {}, {}, {}, []
    for seg in segments:
        wav[seg.key] = seg.entry if seg.whole else str(out / "wav" / f"{seg.key}.wav")
        if not seg.whole:
            jobs.append((seg, stage_dir / "wav" / f"{seg.key}.wav"))
        utt2spk[seg.key], samples[seg.key] = seg.spk, seg.num_samples
    (stage_dir / "wav").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, nj)) as pool:
        list(pool.map(_write_short, jobs))
    write_data_dir(stage_dir, wav, utt2spk, samples)
    atomic_write_text(stage_dir / "segments.tsv", "".join(
        f"{s.key}\t{s.kind}\t{s.source}\t{fmt_dur(s.start)}\t{fmt_dur(s.num_samples)}\n"
        for s in sorted(segments, key=lambda s: s.key)))
    write_trials(stage_dir / TRIALS_NAME, trials)


def make_calibration_set(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seed: int = 777,
    short_seconds=SHORT_SECONDS,
    long_min: float = LONG_MIN_SECONDS,
    max_utts_per_spk: int = 20,
    max_trials: int = 20000,
    nj: int = 4,
) -> dict:
    """Build `out_dir` from the held-out data dir `src_dir` (see module docstring); returns a summary."""
    src, out = Path(src_dir), Path(out_dir)
    try:
        data = load_data_dir(src, require_spk_prefix=False)
    except DataDirError as err:
        raise PrepError(str(err)) from None
    if data.utt2dur is None:
        raise PrepError(f"{src / 'utt2dur'}: not found; calibration segments need the utterance durations")
    if max_trials < 2:
        raise PrepError(f"--max-trials must be at least 2, got {max_trials}")
    utts = _chosen_utts(data.spk2utts, max_utts_per_spk, seed)
    segments = plan_segments(data, utts, seed=seed, short_seconds=short_seconds, long_min=long_min)
    trials = calibration_trials(segments, seed=seed, max_trials=max_trials)
    _check_classes(trials, src)
    summary = {
        "source": str(src), "seed": seed, "short_seconds": [float(v) for v in short_seconds],
        "long_min_seconds": float(long_min), "max_utts_per_spk": max_utts_per_spk, "max_trials": max_trials,
        "num_speakers": len({s.spk for s in segments}), "num_source_utterances": len(utts),
        "num_short": sum(s.kind == "short" for s in segments),
        "num_long": sum(s.kind == "long" for s in segments),
        "num_target": sum(t[2] for t in trials), "num_nontarget": sum(not t[2] for t in trials),
    }
    with staging(out.parent, f"calibration_set.{out.name}") as stage:
        staged = stage / out.name
        write_calibration_dir(staged, out, segments, trials, nj)
        atomic_write_json(staged / "calibration_set.json", summary, indent=1, sort_keys=True)
        try:
            validate(staged, require_spk_prefix=True, quiet=True)
        except DataDirError as err:
            raise PrepError(f"internal error, produced an invalid data dir: {err}") from None
        outcome = install_dir(staged, out)
    log(f"{out}: {outcome}; {summary['num_short']} short + {summary['num_long']} long segments of "
        f"{summary['num_speakers']} speakers, {summary['num_target']} target + {summary['num_nontarget']} "
        f"non-target trials in {out / TRIALS_NAME}")
    return summary
