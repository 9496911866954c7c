"""Stage 0: Kaldi data directories for VoxCeleb1 and VoxCeleb2 dev (real corpora or the mini corpus).

Produces, under `<data>`:
  vox1/          all of `<vox1-root>/wav/idXXXXX/<session>/<n>.wav` (dev and test unpacked into one tree),
                 with trials/vox1_{O,E,H}_cleaned.kaldi from the cleaned VGG lists found in `<vox1-root>`;
  vox2_dev/      all of `<vox2-root>/dev/aac/idXXXXX/<session>/<n>.m4a` (or .wav);
  vox2_train/    vox2_dev minus the held-out speakers (what training uses);
  vox2_heldout/  the held-out speakers, with trials/heldout.kaldi: a development set for validation
                 during training, drawn from training-corpus speakers and never from the test set.
Each has wav.scp, utt2spk, spk2utt and utt2dur (seconds), keys `<spk>-<session>-<n>` in C-locale order.

m4a audio is either read through an ffmpeg pipe in wav.scp (`pipe`, the default, no extra disk) or
converted once to 16 kHz wav under a directory (`convert`, parallel, atomic per file, skips done files).
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ssrfnet.fileio import atomic_write_text
from ssrfnet.kaldi.datadir import DataDirError, validate
from ssrfnet.kaldi.trials import (
    CLEANED_LISTS,
    UNCLEANED_LISTS,
    TrialsError,
    convert_voxceleb_list,
    write_trials,
)
from ssrfnet.prep.common import (
    PrepError,
    corpus_kind,
    install_all,
    known_samples,
    log,
    num_samples_parallel,
    staging,
    write_data_dir,
)

AUDIO_EXTS = (".wav", ".m4a")
FFMPEG_PIPE = "ffmpeg -nostdin -v 8 -i {path} -f wav -ar 16000 -ac 1 -acodec pcm_s16le - |"


class Utt:
    """One utterance found in a corpus tree."""

    __slots__ = ("key", "spk", "session", "rel", "path")

    def __init__(self, spk: str, session: str, stem: str, path: Path):
        self.spk, self.session, self.path = spk, session, path
        self.key = f"{spk}-{session}-{stem}"
        self.rel = f"{spk}/{session}/{stem}"


def scan_tree(root: Path, exts: tuple[str, ...]) -> list[Utt]:
    """All `<spk>/<session>/<stem>.<ext>` files under `root`, sorted by key; checks names and depth."""
    if not root.is_dir():
        raise PrepError(f"{root}: no such directory (is the corpus root right and fully unpacked?)")
    utts: dict[str, Utt] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            stem, ext = os.path.splitext(name)
            if ext.lower() not in exts:
                continue
            parts = path.relative_to(root).parts
            if len(parts) != 3:
                raise PrepError(f"{path}: audio file not at <speaker>/<session>/<file> depth under {root}")
            spk, session = parts[0], parts[1]
            for part in (spk, session, stem):
                if not part or any(c.isspace() for c in part) or "/" in part:
                    raise PrepError(f"{path}: path component {part!r} is empty or contains whitespace")
            if "-" in spk:
                raise PrepError(
                    f"{path}: speaker directory {spk!r} contains '-', which would break key prefixes"
                )
            utt = Utt(spk, session, stem, path.absolute())
            if utt.key in utts:
                raise PrepError(f"{path}: utterance id {utt.key!r} already used by {utts[utt.key].path}")
            utts[utt.key] = utt
    if not utts:
        raise PrepError(f"{root}: no audio files ({', '.join(exts)}) found")
    return [utts[key] for key in sorted(utts)]


def _convert_one(job: tuple[Path, Path]) -> None:
    src, dst = job
    if dst.is_file() and dst.stat().st_size > 44:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.wav")
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "8",
        "-y",
        "-i",
        str(src),
        "-ar",
        "16000",
        "-ac",
        "1",
        "-acodec",
        "pcm_s16le",
        "-f",
        "wav",
        str(tmp),
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        detail = proc.stderr.decode(errors="replace").strip()[-300:]
        raise PrepError(f"{src}: ffmpeg conversion to wav failed (exit {proc.returncode}): {detail}")
    os.replace(tmp, dst)


def wav_entries(utts: list[Utt], m4a_mode: str, convert_dir: Path | None, nj: int) -> dict[str, str]:
    """wav.scp values: wav paths as they are; m4a as an ffmpeg pipe or converted once under convert_dir."""
    wav: dict[str, str] = {}
    jobs = []
    for utt in utts:
        if utt.path.suffix.lower() == ".wav":
            wav[utt.key] = str(utt.path)
        elif m4a_mode == "pipe":
            wav[utt.key] = FFMPEG_PIPE.format(path=shlex.quote(str(utt.path)))
        elif m4a_mode == "convert":
            assert convert_dir is not None
            dst = convert_dir.absolute() / utt.spk / utt.session / (utt.path.stem + ".wav")
            jobs.append((utt.path, dst))
            wav[utt.key] = str(dst)
        else:
            raise PrepError(f"unknown m4a mode {m4a_mode!r} (pipe or convert)")
    if jobs:
        log(
            f"converting {len(jobs)} m4a files to wav under {convert_dir} ({nj} jobs; done files are skipped)"
        )
        with ThreadPoolExecutor(max(1, nj)) as pool:
            list(pool.map(_convert_one, jobs))
    return wav


def build_set(utts: list[Utt], out: Path, target: Path, wav: dict[str, str], nj: int) -> dict[str, int]:
    """Write one data dir for `utts`; sample counts from headers (wav) or decoding (pipes)."""
    where = {u.key: f"utterance {u.key} ({u.path})" for u in utts}
    jobs = [(key, entry, where[key]) for key, entry in wav.items()]
    samples = num_samples_parallel(jobs, nj, known=known_samples(target, wav, {u.key: u.path for u in utts}))
    write_data_dir(out, wav, {u.key: u.spk for u in utts}, samples)
    return samples


def subset_dir(src: Path, out: Path, keep_spks: set[str]) -> None:
    """Copy the rows of src's tables whose utterance (or speaker, for spk2utt) is kept."""
    out.mkdir(parents=True, exist_ok=True)
    utt2spk = dict(line.split() for line in (src / "utt2spk").read_text().splitlines())
    for name in ("wav.scp", "utt2spk", "utt2dur", "spk2utt"):
        lines = (src / name).read_text().splitlines(keepends=True)
        if name == "spk2utt":
            kept = [line for line in lines if line.split(maxsplit=1)[0] in keep_spks]
        else:
            kept = [line for line in lines if utt2spk[line.split(maxsplit=1)[0]] in keep_spks]
        (out / name).write_text("".join(kept))


def choose_heldout(spk2utts: dict[str, list[str]], num: int, seed: int) -> list[str]:
    """`num` speakers with at least two utterances, chosen deterministically from `seed`."""
    speakers = sorted(spk2utts)
    eligible = [s for s in speakers if len(spk2utts[s]) >= 2]
    if num == 1:
        raise PrepError(
            "--num-heldout-spk must be 0 (no held-out split) or at least 2 (for non-target trials)"
        )
    if num >= len(speakers) - 1:
        raise PrepError(
            f"--num-heldout-spk {num} leaves {max(0, len(speakers) - num)} of {len(speakers)} VoxCeleb2 "
            f"speakers for training; use fewer (at most {len(speakers) - 2})"
        )
    if num > len(eligible):
        raise PrepError(f"--num-heldout-spk {num}: only {len(eligible)} speakers have two or more utterances")
    return sorted(random.Random(seed).sample(eligible, num))


def heldout_trials(
    spk2utts: dict[str, list[str]], session: dict[str, str], seed: int, max_trials: int
) -> list[tuple[str, str, bool]]:
    """Balanced, deterministic target/non-target trials among the given speakers' utterances.

    Targets pair utterances of one speaker, from different sessions where the speaker has them; non-targets
    pair utterances of two different speakers. At most `max_trials` in all, sorted.
    """
    rng = random.Random(seed + 1)
    speakers = sorted(spk2utts)
    quota = max(1, (max_trials // 2 + len(speakers) - 1) // len(speakers))
    targets: list[tuple[str, str]] = []
    for spk in speakers:
        utts = sorted(spk2utts[spk])
        if len(utts) > 200:
            utts = sorted(rng.sample(utts, 200))
        pairs = [(a, b) for i, a in enumerate(utts) for b in utts[i + 1 :]]
        rng.shuffle(pairs)
        cross = [p for p in pairs if session[p[0]] != session[p[1]]]
        same = [p for p in pairs if session[p[0]] == session[p[1]]]
        targets.extend((cross + same)[:quota])
    rng.shuffle(targets)
    targets = sorted(targets[: max_trials // 2])
    all_utts = [(u, s) for s in speakers for u in sorted(spk2utts[s])]
    nontargets: set[tuple[str, str]] = set()
    attempts = 0
    while len(nontargets) < len(targets) and attempts < 100 * max(1, len(targets)):
        attempts += 1
        (a, sa), (b, sb) = rng.sample(all_utts, 2)
        if sa != sb:
            nontargets.add((min(a, b), max(a, b)))
    trials = [(a, b, True) for a, b in targets] + [(a, b, False) for a, b in nontargets]
    return sorted(trials)


def find_trial_lists(vox1_root: Path) -> list[Path]:
    """The cleaned VGG lists present in vox1_root; an uncleaned list without its cleaned twin is an error."""
    found = [vox1_root / name for name in CLEANED_LISTS if (vox1_root / name).is_file()]
    for name, cleaned in UNCLEANED_LISTS.items():
        if (vox1_root / name).is_file() and not (vox1_root / cleaned).is_file():
            raise PrepError(
                f"{vox1_root / name}: only the original, uncleaned VoxCeleb1 list is present; download the "
                f"cleaned {cleaned} into {vox1_root} (scoring on the original list gives wrong EERs)"
            )
    return found


def write_corpus_info(out: Path, vox1_root: Path, lists: dict) -> None:
    """data/vox1/corpus.json: where the audio and lists came from, and whether it is the mini corpus
    (the results table reads it to tell a mini stand-in from VoxCeleb1 itself)."""
    info = {"set": "vox1", "title": "VoxCeleb1", "corpus": corpus_kind(vox1_root),
            "root": str(vox1_root.absolute()), "lists": lists}
    atomic_write_text(out / "corpus.json", json.dumps(info, indent=1, sort_keys=True) + "\n")


def warn_invalid_existing(data_root: Path, names: list[str]) -> None:
    """An existing, broken data dir is reported (file/line/utterance) and will be replaced, kept as .bak."""
    for name in names:
        if (data_root / name).is_dir():
            try:
                validate(data_root / name, quiet=True)
            except DataDirError as err:
                log(
                    f"WARNING: existing {data_root / name} is invalid and will be rebuilt "
                    f"(old copy kept as {name}.bak): {err}"
                )


def prepare_voxceleb(
    vox1_root: str | os.PathLike,
    vox2_root: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    nj: int = 4,
    m4a_mode: str = "pipe",
    convert_dir: str | os.PathLike | None = None,
    num_heldout_spk: int = 40,
    heldout_max_trials: int = 2000,
    seed: int = 777,
) -> None:
    vox1_root, vox2_root, data_root = Path(vox1_root), Path(vox2_root), Path(data_dir)
    if m4a_mode not in ("pipe", "convert"):
        raise PrepError(f"--m4a-mode must be pipe or convert, not {m4a_mode!r}")
    for root, what in ((vox1_root, "VoxCeleb1"), (vox2_root, "VoxCeleb2")):
        if not root.is_dir():
            raise PrepError(f"{root}: no such {what} directory")
    lists = find_trial_lists(vox1_root)
    vox1 = scan_tree(vox1_root / "wav", (".wav",))
    log(f"{vox1_root / 'wav'}: {len(vox1)} utterances of {len({u.spk for u in vox1})} speakers")
    vox2 = scan_tree(vox2_root / "dev" / "aac", AUDIO_EXTS)
    log(f"{vox2_root / 'dev' / 'aac'}: {len(vox2)} utterances of {len({u.spk for u in vox2})} speakers")
    spk2utts: dict[str, list[str]] = {}
    for utt in vox2:
        spk2utts.setdefault(utt.spk, []).append(utt.key)
    heldout = choose_heldout(spk2utts, num_heldout_spk, seed) if num_heldout_spk > 0 else []

    names = ["vox1", "vox2_dev", "vox2_train"] + (["vox2_heldout"] if heldout else [])
    warn_invalid_existing(data_root, names)
    if not heldout and (data_root / "vox2_heldout").exists():
        log(f"WARNING: --num-heldout-spk 0: {data_root / 'vox2_heldout'} is left over from an earlier run")
    with staging(data_root, "prepare_voxceleb") as stage:
        wav1 = {u.key: str(u.path) for u in vox1}
        build_set(vox1, stage / "vox1", data_root / "vox1", wav1, nj)
        rel2key = {u.rel: u.key for u in vox1}
        if not lists:
            log(f"WARNING: no cleaned trial list ({', '.join(CLEANED_LISTS)}) in {vox1_root}; no vox1 trials")
        converted = {}
        for src in lists:
            dst = stage / "vox1" / "trials" / CLEANED_LISTS[src.name]
            try:
                count = convert_voxceleb_list(src, dst, rel2key)
            except TrialsError as err:
                raise PrepError(str(err)) from None
            log(f"{src} -> {dst.relative_to(stage)}: {count} trials")
            converted[dst.stem] = {"source": str(src.absolute()), "format": "challenge", "trials": count}
        write_corpus_info(stage / "vox1", vox1_root, converted)

        cdir = Path(convert_dir) if convert_dir else vox2_root / "dev" / "wav"
        wav2 = wav_entries(vox2, m4a_mode, cdir, nj)
        build_set(vox2, stage / "vox2_dev", data_root / "vox2_dev", wav2, nj)
        train_spks = set(spk2utts) - set(heldout)
        subset_dir(stage / "vox2_dev", stage / "vox2_train", train_spks)
        if heldout:
            subset_dir(stage / "vox2_dev", stage / "vox2_heldout", set(heldout))
            session = {u.key: u.session for u in vox2}
            trials = heldout_trials({s: spk2utts[s] for s in heldout}, session, seed, heldout_max_trials)
            write_trials(stage / "vox2_heldout" / "trials" / "heldout.kaldi", trials)
            atomic_write_text(stage / "vox2_heldout" / "heldout_speakers", "".join(s + "\n" for s in heldout))
            n_target = sum(t[2] for t in trials)
            log(
                f"held out {len(heldout)} speakers: {n_target} target + "
                f"{len(trials) - n_target} non-target trials"
            )
        for name in names:
            try:
                validate(stage / name, require_spk_prefix=True, quiet=True)
            except DataDirError as err:
                raise PrepError(f"internal error, produced an invalid data dir: {err}") from None
        install_all(stage, data_root, names)
