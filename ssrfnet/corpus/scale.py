"""A VoxCeleb-sized corpus tree in the real layout, made of hard links to a few short real audio files.

    from ssrfnet.corpus.scale import make_scale_corpus
    info = make_scale_corpus("/scratch/scale", scale=0.01)     # scale=1: the real sizes
    info["voxceleb1"], info["voxceleb2"], info["counts"]

Lays out, under `<out>`:
  voxceleb2/dev/aac/idXXXXX/<video>/<n>.m4a   (or .wav) VoxCeleb2 dev: 5,994 speakers, 145,569 videos,
                                              1,092,009 utterances;
  voxceleb1/wav/idXXXXX/<video>/<n>.wav       VoxCeleb1 dev + test: 1,251 speakers (id10001-id11251; the 40
                                              test speakers id10270-id10309), 22,496 videos, 153,516 files;
  voxceleb1/{veri_test2,list_test_all2,list_test_hard2}.txt   the cleaned O / E / H lists at their real sizes
                                              (37,611 / 579,818 / 550,894 trials), `1|0 <enroll> <test>`
                                              with paths of that tree; O over the 40 test speakers, E over
                                              all speakers, H with non-targets inside groups standing in for
                                              the same nationality and gender;
  .sources/                                   the few real files every utterance is a hard link to.
Every count is the real one times `scale` (rounded; at least what the layout needs), except that the
VoxCeleb1 test part never shrinks below two speakers of the real mean size (scale 0.05). Videos per speaker
and utterances per video are log-normally spread around the real means (24.3 and 7.5 for VoxCeleb2, 18.0
and 6.8 for VoxCeleb1); video ids are 11 YouTube-alphabet characters (so some contain or start with '-'),
files are numbered 00001.. per video. Everything derives from `seed`. Building costs one mkdir per
directory and one os.link per file; the tree is built beside its target and renamed into place, and a
manifest (`scale_corpus.json`) makes a second call with the same options a no-op.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ssrfnet.audio import SAMPLE_RATE, AudioError, audio_num_samples, write_wav
from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write, atomic_write_text

FORMAT, VERSION = "ssrfnet-scale-corpus", 1
MANIFEST = "scale_corpus.json"
VOX2_DEV = {"speakers": 5994, "videos": 145569, "utterances": 1092009}
VOX1_DEV = {"speakers": 1211, "videos": 21819, "utterances": 148642}
VOX1_TEST = {"speakers": 40, "videos": 677, "utterances": 4874}
VOX1_TEST_FIRST_ID = 10270
TRIAL_LISTS = {"veri_test2.txt": 37611, "list_test_all2.txt": 579818, "list_test_hard2.txt": 550894}
YOUTUBE_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HARD_GROUP_SIZE = 25  # speakers per stand-in (nationality, gender) group of the H list
DEFAULT_SOURCE_SECONDS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.2)


class ScaleCorpusError(SSRFNetError, RuntimeError):
    """A bad option, source file or output directory of the scale corpus; the message names it."""


@dataclass(frozen=True)
class ScaleCounts:
    vox2_speakers: int
    vox2_videos: int
    vox2_utterances: int
    vox1_test_speakers: int
    vox1_test_videos: int
    vox1_test_utterances: int
    vox1_dev_speakers: int
    vox1_dev_videos: int
    vox1_dev_utterances: int
    trials_O: int
    trials_E: int
    trials_H: int

    @property
    def vox1_speakers(self) -> int:
        return self.vox1_test_speakers + self.vox1_dev_speakers

    @property
    def vox1_utterances(self) -> int:
        return self.vox1_test_utterances + self.vox1_dev_utterances


def scaled_counts(scale: float) -> ScaleCounts:
    """The real sizes times `scale`, rounded, raised to what the layout needs (every video has a file)."""
    if not 0 < scale <= 1:
        raise ScaleCorpusError(f"--scale must be in (0, 1], got {scale}")

    def of(real: int, least: int) -> int:
        return max(least, round(real * scale))

    # the test part keeps at least two speakers of the real mean size, so that the O list can be drawn
    test_scale = max(scale, 2 / VOX1_TEST["speakers"])
    test_spk = round(VOX1_TEST["speakers"] * test_scale)
    test_videos = max(test_spk, round(VOX1_TEST["videos"] * test_scale))
    test_files = max(2 * test_videos, round(VOX1_TEST["utterances"] * test_scale))
    dev_spk = of(VOX1_DEV["speakers"], 1)
    dev_videos = of(VOX1_DEV["videos"], dev_spk)
    vox2_spk = of(VOX2_DEV["speakers"], 4)
    vox2_videos = of(VOX2_DEV["videos"], vox2_spk)
    return ScaleCounts(
        vox2_spk, vox2_videos, of(VOX2_DEV["utterances"], 2 * vox2_videos),
        test_spk, test_videos, test_files,
        dev_spk, dev_videos, of(VOX1_DEV["utterances"], 2 * dev_videos),
        *(of(n, 4) for n in TRIAL_LISTS.values()),
    )


def allocate(total: int, bins: int, rng: np.random.Generator, sigma: float, minimum: int = 1) -> np.ndarray:
    """`bins` integers >= `minimum` summing to `total`, spread log-normally (largest-remainder rounding)."""
    spare = total - bins * minimum
    if bins < 1 or spare < 0:
        raise ScaleCorpusError(f"cannot spread {total} items over {bins} bins with at least {minimum} each")
    share = rng.lognormal(0.0, sigma, bins)
    share *= spare / share.sum()
    counts = np.floor(share).astype(np.int64)
    remainder = np.argsort(counts - share, kind="stable")[: spare - int(counts.sum())]
    counts[remainder] += 1
    return counts + minimum


def video_ids(count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct 11-character ids from the YouTube alphabet."""
    alphabet = np.frombuffer(YOUTUBE_ALPHABET, dtype=np.uint8)
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        raw = alphabet[rng.integers(0, 64, size=(count - len(ids), 11))].tobytes().decode("ascii")
        for i in range(0, len(raw), 11):
            vid = raw[i : i + 11]
            if vid not in seen:
                seen.add(vid)
                ids.append(vid)
    return ids


@dataclass
class SetLayout:
    """Speakers, their videos and the files per video of one corpus part."""

    speakers: list[str]
    videos_per_speaker: np.ndarray
    videos: list[str]
    files_per_video: np.ndarray

    @property
    def files_per_speaker(self) -> np.ndarray:
        ends = np.cumsum(self.videos_per_speaker)
        return np.add.reduceat(self.files_per_video, ends - self.videos_per_speaker)


def plan_set(speakers: list[str], num_videos: int, num_files: int, rng: np.random.Generator) -> SetLayout:
    per_speaker = allocate(num_videos, len(speakers), rng, sigma=0.6)
    per_video = allocate(num_files, num_videos, rng, sigma=0.8)
    return SetLayout(speakers, per_speaker, video_ids(num_videos, rng), per_video)


def vox1_speakers(counts: ScaleCounts) -> tuple[list[str], list[str]]:
    """(test ids from id10270 on, dev ids spread evenly over the rest of id10001-id11251)."""
    real_test = range(VOX1_TEST_FIRST_ID, VOX1_TEST_FIRST_ID + VOX1_TEST["speakers"])
    test = [f"id{n}" for n in real_test[: counts.vox1_test_speakers]]
    last = 10001 + VOX1_DEV["speakers"] + VOX1_TEST["speakers"]
    others = [n for n in range(10001, last) if n not in real_test]
    picks = np.linspace(0, len(others) - 1, counts.vox1_dev_speakers).round().astype(int)
    return test, [f"id{others[i]}" for i in picks]


def vox2_speakers(counts: ScaleCounts, rng: np.random.Generator) -> list[str]:
    """Distinct ids in id00001-id09272, the range the real VoxCeleb2 dev ids fall in."""
    return [f"id{n:05d}" for n in sorted(rng.choice(np.arange(1, 9273), counts.vox2_speakers, replace=False))]


def link_tree(root: str, ext: str, layout: SetLayout, sources: list[str]) -> list[str]:
    """mkdir each speaker and video once, os.link every file; returns the files' `spk/video/n.ext` paths."""
    rels: list[str] = []
    os.makedirs(root, exist_ok=True)
    video = 0
    for spk, num_videos in zip(layout.speakers, layout.videos_per_speaker.tolist()):
        os.mkdir(f"{root}/{spk}")
        for _ in range(num_videos):
            rel_dir = f"{spk}/{layout.videos[video]}"
            os.mkdir(f"{root}/{rel_dir}")
            for n in range(1, int(layout.files_per_video[video]) + 1):
                rel = f"{rel_dir}/{n:05d}{ext}"
                os.link(sources[len(rels) % len(sources)], f"{root}/{rel}")
                rels.append(rel)
            video += 1
    return rels


class SpeakerPool:
    """Some speakers of a file list: speaker i owns files [starts[i], starts[i] + counts[i]).

    `groups` (one id per speaker) restricts non-target partners to the same group (the H list)."""

    def __init__(self, starts: np.ndarray, counts: np.ndarray, groups: np.ndarray | None = None):
        self.starts, self.counts = np.asarray(starts, np.int64), np.asarray(counts, np.int64)
        self.groups = np.zeros(len(self.counts), np.int64) if groups is None else np.asarray(groups, np.int64)
        self.order = np.argsort(self.groups, kind="stable")  # speakers grouped
        self.group_size = np.bincount(self.groups)
        self.group_start = np.cumsum(self.group_size) - self.group_size
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(len(self.order)) - self.group_start[self.groups[self.order]]
        if np.any(self.group_size[self.groups] < 2):
            raise ScaleCorpusError("every trial group needs at least two speakers (raise --scale)")

    def targets(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Two different files of one speaker, speakers weighted by their number of files."""
        able = np.flatnonzero(self.counts >= 2)
        spk = rng.choice(able, size, p=self.counts[able] / self.counts[able].sum())
        first = rng.integers(0, self.counts[spk])
        second = rng.integers(0, self.counts[spk] - 1)
        second += second >= first
        return self.starts[spk] + first, self.starts[spk] + second

    def nontargets(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random file, and a random file of another speaker of the same group."""
        spk_a = rng.choice(len(self.counts), size, p=self.counts / self.counts.sum())
        group = self.groups[spk_a]
        step = rng.integers(1, self.group_size[group])
        spk_b = self.order[self.group_start[group] + (self.rank[spk_a] + step) % self.group_size[group]]
        a = self.starts[spk_a] + rng.integers(0, self.counts[spk_a])
        return a, self.starts[spk_b] + rng.integers(0, self.counts[spk_b])


def draw_trials(pool: SpeakerPool, count: int, num_files: int, rng: np.random.Generator, name: str):
    """`count` distinct (enroll, test, is_target) file-index trials, half of them targets, sorted."""
    chosen = []
    for label, want, draw in ((1, count // 2, pool.targets), (0, count - count // 2, pool.nontargets)):
        keys = np.empty(0, np.int64)
        for _ in range(50):
            a, b = draw(2 * (want - len(keys)) + 16, rng)
            keys = np.union1d(keys, np.minimum(a, b) * num_files + np.maximum(a, b))
            if len(keys) >= want:
                break
        else:
            kind = "target" if label else "non-target"
            raise ScaleCorpusError(f"{name}: cannot draw {want} distinct {kind} trials from this few "
                                   "utterances (raise --scale)")
        keys = rng.choice(keys, want, replace=False)
        low, high = keys // num_files, keys % num_files
        swap = rng.random(want) < 0.5
        enroll, test = np.where(swap, high, low), np.where(swap, low, high)
        chosen.append(np.stack([enroll, test, np.full(want, label)], 1))
    trials = np.concatenate(chosen)
    return trials[np.lexsort((trials[:, 1], trials[:, 0]))]


def write_trial_list(path: Path, trials: np.ndarray, rels: list[str]) -> None:
    with atomic_write(path) as handle:
        handle.writelines(f"{label} {rels[a]} {rels[b]}\n" for a, b, label in trials.tolist())


def hard_groups(num_speakers: int, rng: np.random.Generator) -> np.ndarray:
    """Stand-in (nationality, gender) groups of about HARD_GROUP_SIZE speakers, each of at least two."""
    num_groups = max(1, num_speakers // HARD_GROUP_SIZE)
    return rng.permutation(num_speakers) % num_groups


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal (a stand-in talker), float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 100 + 20 * seed % 90 + 25 * np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6.3))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k * np.exp(-((k * f0 - 600) / 900) ** 2) for k in range(1, 16))
    envelope = (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.3))) ** 2
    wave = voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


def _encode_m4a(wav: Path, m4a: Path) -> None:
    if shutil.which("ffmpeg") is None:
        raise ScaleCorpusError("ffmpeg is needed to make m4a stand-ins (or use --vox2-format wav)")
    cmd = ["ffmpeg", "-nostdin", "-v", "8", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
           "-c:a", "aac", "-b:a", "48k", str(m4a)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace")[-200:]
        raise ScaleCorpusError(f"{wav}: ffmpeg m4a encoding failed: {detail}")


def make_sources(dest: Path, seconds: tuple[float, ...], vox2_format: str, given: Path | None,
                 seed: int) -> tuple[list[str], list[str]]:
    """The real files to link to: (wavs for VoxCeleb1, VoxCeleb2 files in `vox2_format`), under `dest`."""
    dest.mkdir(parents=True)
    if given is not None:
        found = sorted(p for p in Path(given).rglob("*.wav") if p.is_file())[: len(seconds)]
        if not found:
            raise ScaleCorpusError(f"{given}: no .wav files to use as sources")
        wavs = []
        for i, src in enumerate(found):
            wavs.append(dest / f"source{i:02d}.wav")
            shutil.copyfile(src, wavs[-1])
    else:
        wavs = [dest / f"source{i:02d}.wav" for i in range(len(seconds))]
        for i, (path, length) in enumerate(zip(wavs, seconds)):
            write_wav(path, speechlike(length, seed + i))
    for path in wavs:
        try:
            audio_num_samples(str(path), where=f"source {path}")
        except AudioError as err:
            raise ScaleCorpusError(str(err)) from None
    vox2 = wavs
    if vox2_format == "m4a":
        vox2 = [path.with_suffix(".m4a") for path in wavs]
        for wav, m4a in zip(wavs, vox2):
            _encode_m4a(wav, m4a)
    return [str(p) for p in wavs], [str(p) for p in vox2]


def _build(build: Path, counts: ScaleCounts, options: dict, log) -> None:
    rng = np.random.default_rng(options["seed"])
    given = Path(options["sources"]) if options["sources"] else None
    wavs, vox2_sources = make_sources(build / ".sources", tuple(options["source_seconds"]),
                                      options["vox2_format"], given, options["seed"])
    vox2 = plan_set(vox2_speakers(counts, rng), counts.vox2_videos, counts.vox2_utterances, rng)
    link_tree(str(build / "voxceleb2" / "dev" / "aac"), "." + options["vox2_format"], vox2, vox2_sources)
    log(f"voxceleb2/dev/aac: {counts.vox2_utterances} files, {counts.vox2_videos} videos, "
        f"{counts.vox2_speakers} speakers")
    test_ids, dev_ids = vox1_speakers(counts)
    test = plan_set(test_ids, counts.vox1_test_videos, counts.vox1_test_utterances, rng)
    dev = plan_set(dev_ids, counts.vox1_dev_videos, counts.vox1_dev_utterances, rng)
    root1 = build / "voxceleb1"
    rels = link_tree(str(root1 / "wav"), ".wav", test, wavs)
    rels += link_tree(str(root1 / "wav"), ".wav", dev, wavs[::-1])
    log(f"voxceleb1/wav: {len(rels)} files, {counts.vox1_speakers} speakers")
    per_spk = np.concatenate([test.files_per_speaker, dev.files_per_speaker])
    starts = np.cumsum(per_spk) - per_spk
    n_test = len(test_ids)
    pools = {
        "veri_test2.txt": SpeakerPool(starts[:n_test], per_spk[:n_test]),
        "list_test_all2.txt": SpeakerPool(starts, per_spk),
        "list_test_hard2.txt": SpeakerPool(starts, per_spk, hard_groups(len(per_spk), rng)),
    }
    for (name, pool), count in zip(pools.items(), (counts.trials_O, counts.trials_E, counts.trials_H)):
        write_trial_list(root1 / name, draw_trials(pool, count, len(rels), rng, name), rels)
        log(f"voxceleb1/{name}: {count} trials")


def make_scale_corpus(
    out: str | os.PathLike,
    *,
    scale: float = 1.0,
    seed: int = 0,
    vox2_format: str = "m4a",
    sources: str | os.PathLike | None = None,
    source_seconds: tuple[float, ...] = DEFAULT_SOURCE_SECONDS,
    log=lambda message: print(message, flush=True),
) -> dict:
    """Build (or find already built, with the same options) the scale corpus under `out`; see the module doc.

    `sources`: a directory whose first len(source_seconds) .wav files (16 kHz) are linked to instead of
    synthesised ones (m4a stand-ins are encoded from them). Returns the manifest (roots, counts, options).
    """
    out = Path(out)
    if vox2_format not in ("m4a", "wav"):
        raise ScaleCorpusError(f"--vox2-format must be m4a or wav, not {vox2_format!r}")
    if not source_seconds or min(source_seconds) <= 0:
        raise ScaleCorpusError("--source-seconds needs at least one positive length")
    counts = scaled_counts(scale)
    options = json.loads(json.dumps({
        "scale": scale, "seed": seed, "vox2_format": vox2_format,
        "sources": str(Path(sources).absolute()) if sources else None, "source_seconds": list(source_seconds),
    }))
    manifest_path = out / MANIFEST
    roots = {name: out / name for name in ("voxceleb1", "voxceleb2", ".sources")}
    old = None
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("options") == options and all(p.is_dir() for p in roots.values()):
            log(f"{out}: scale corpus already built with these options")
            return old
    elif any(p.exists() for p in roots.values()):
        raise ScaleCorpusError(f"{out}: holds voxceleb1/voxceleb2 not made by this tool (no {MANIFEST}); "
                               "choose another output directory")
    build = out / ".build.tmp"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        _build(build, counts, options, log)
        manifest_path.unlink(missing_ok=True)
        for name, path in roots.items():
            shutil.rmtree(path, ignore_errors=True)
            os.replace(build / name, path)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    manifest = {
        "format": FORMAT, "version": VERSION, "options": options, "counts": asdict(counts),
        "voxceleb1": str(roots["voxceleb1"]), "voxceleb2": str(roots["voxceleb2"]),
    }
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return manifest
