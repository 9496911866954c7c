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
converted once to 16 kHz wav under a directory (`convert`, atomic per file, skips done files).

Three steps, so that the per-file work (conversion, sample counts) runs as a job array that `--nj 64` on a
cluster divides (`local/prepare_voxceleb.sh` runs them through `$cmd`):
  plan    scan both trees and the trial lists, choose the held-out speakers, reuse the sample counts of an
          earlier run (unchanged entries of files older than its utt2dur), and write the remaining per-file
          work as job shares in a work directory (`ssrfnet.prep.audio_jobs`);
  job N   convert and count the files of share N;
  merge   build every data directory and trials file from the plan and the job results, check them and
          install them (unchanged ones are left untouched).
`prepare_voxceleb()` runs the three in this process, the shares on `nj` threads. Everything is linear in
the number of files: one directory walk, dictionaries keyed by utterance, one sort.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ssrfnet.fileio import atomic_write, atomic_write_text
from ssrfnet.kaldi.datadir import DataDirError, validate
from ssrfnet.kaldi.trials import (
    CLEANED_LISTS,
    UNCLEANED_LISTS,
    TrialsError,
    convert_voxceleb_list,
    write_trials,
)
from ssrfnet.prep.audio_jobs import FFMPEG_PIPE, FileTask, collect_samples, run_share, write_shares
from ssrfnet.prep.common import (
    PrepError,
    corpus_kind,
    install_all,
    known_samples,
    log,
    staging,
    timed_step,
    write_data_dir,
)

AUDIO_EXTS = (".wav", ".m4a")
PLAN_FORMAT = "ssrfnet-prepare-voxceleb-plan"
PLAN_VERSION = 1
_WHITESPACE = re.compile(r"\s")


class Utt:
    """One utterance found in a corpus tree (`path` is an absolute path string)."""

    __slots__ = ("key", "spk", "session", "stem", "path")

    def __init__(self, spk: str, session: str, stem: str, path: str):
        self.spk, self.session, self.stem, self.path = spk, session, stem, path
        self.key = f"{spk}-{session}-{stem}"

    @property
    def rel(self) -> str:
        return f"{self.spk}/{self.session}/{self.stem}"


def _sorted_entries(path: str) -> list[os.DirEntry]:
    with os.scandir(path) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _is_audio(name: str, exts: tuple[str, ...]) -> bool:
    return os.path.splitext(name)[1].lower() in exts


def _audio_below(path: str, exts: tuple[str, ...]) -> str | None:
    """The first audio file anywhere under directory `path` (for the wrong-depth error), or None."""
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            if _is_audio(name, exts):
                return os.path.join(dirpath, name)
    return None


def _check_component(path: str, part: str) -> None:
    if not part or _WHITESPACE.search(part):
        raise PrepError(f"{path}: path component {part!r} is empty or contains whitespace")


def scan_tree(root: Path, exts: tuple[str, ...]) -> list[Utt]:
    """All `<spk>/<session>/<stem>.<ext>` files under `root`, sorted by key; checks names and depth."""
    if not root.is_dir():
        raise PrepError(f"{root}: no such directory (is the corpus root right and fully unpacked?)")

    def misplaced(path: str) -> PrepError:
        return PrepError(f"{path}: audio file not at <speaker>/<session>/<file> depth under {root}")

    utts: dict[str, Utt] = {}
    for spk in _sorted_entries(str(root.absolute())):
        if not spk.is_dir():
            if _is_audio(spk.name, exts):
                raise misplaced(spk.path)
            continue
        _check_component(spk.path, spk.name)
        if "-" in spk.name:
            raise PrepError(f"{spk.path}: speaker directory {spk.name!r} contains '-', which would break "
                            "key prefixes")
        for session in _sorted_entries(spk.path):
            if not session.is_dir():
                if _is_audio(session.name, exts):
                    raise misplaced(session.path)
                continue
            _check_component(session.path, session.name)
            for entry in _sorted_entries(session.path):
                if entry.is_dir():
                    found = _audio_below(entry.path, exts)
                    if found:
                        raise misplaced(found)
                    continue
                stem, ext = os.path.splitext(entry.name)
                if ext.lower() not in exts:
                    continue
                _check_component(entry.path, stem)
                utt = Utt(spk.name, session.name, stem, entry.path)
                if utt.key in utts:
                    raise PrepError(f"{entry.path}: utterance id {utt.key!r} already used by "
                                    f"{utts[utt.key].path}")
                utts[utt.key] = utt
    if not utts:
        raise PrepError(f"{root}: no audio files ({', '.join(exts)}) found")
    return [utts[key] for key in sorted(utts)]


def wav_entry(utt: Utt, m4a_mode: str, convert_dir: str) -> tuple[str, str, str]:
    """(wav.scp value, the file that value reads, wav to convert to or ''): wav as it is, m4a as an ffmpeg
    pipe or converted once under convert_dir."""
    if utt.path[-4:].lower() == ".wav":
        return utt.path, utt.path, ""
    if m4a_mode == "pipe":
        return FFMPEG_PIPE.format(path=shlex.quote(utt.path)), utt.path, ""
    if m4a_mode == "convert":
        dest = f"{convert_dir}/{utt.spk}/{utt.session}/{utt.stem}.wav"
        return dest, dest, dest
    raise PrepError(f"unknown m4a mode {m4a_mode!r} (pipe or convert)")


def _converted(path: str) -> bool:
    try:
        return os.stat(path).st_size > 44
    except FileNotFoundError:
        return False


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


def _plan_set(utts: list[Utt], target: Path, m4a_mode: str, convert_dir: str):
    """wav.scp entries of one set, the sample counts an earlier run left in `target`, the rest as tasks."""
    entries = {utt.key: wav_entry(utt, m4a_mode, convert_dir) for utt in utts}
    wav = {key: entry[0] for key, entry in entries.items()}
    known = known_samples(target, wav, {key: entry[1] for key, entry in entries.items()})
    tasks = []
    for utt in utts:
        entry, _, dest = entries[utt.key]
        if dest and not _converted(dest):
            known.pop(utt.key, None)
            tasks.append(FileTask(utt.key, entry, utt.path, dest))
        elif utt.key not in known:
            tasks.append(FileTask(utt.key, entry, utt.path))
    return entries, known, tasks


def _write_utts(path: Path, sets: dict[str, tuple[list[Utt], dict]]) -> None:
    """The plan's utterance table: `set key spk session stem entry`, tab-separated, in key order per set."""
    with atomic_write(path) as handle:
        for name, (utts, entries) in sets.items():
            for utt in utts:
                entry = entries[utt.key][0]
                if "\t" in entry or "\n" in entry:
                    raise PrepError(f"utterance {utt.key} ({utt.path}): path contains a tab or newline")
                handle.write(f"{name}\t{utt.key}\t{utt.spk}\t{utt.session}\t{utt.stem}\t{entry}\n")


def plan_voxceleb(
    vox1_root: str | os.PathLike,
    vox2_root: str | os.PathLike,
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    nj: int = 4,
    m4a_mode: str = "pipe",
    convert_dir: str | os.PathLike | None = None,
    num_heldout_spk: int = 40,
    heldout_max_trials: int = 2000,
    seed: int = 777,
) -> int:
    """Step 1: scan, choose, reuse, write the per-file work as at most `nj` shares; returns their number."""
    vox1_root, vox2_root, data_root, work = Path(vox1_root), Path(vox2_root), Path(data_dir), Path(work_dir)
    if m4a_mode not in ("pipe", "convert"):
        raise PrepError(f"--m4a-mode must be pipe or convert, not {m4a_mode!r}")
    for root, what in ((vox1_root, "VoxCeleb1"), (vox2_root, "VoxCeleb2")):
        if not root.is_dir():
            raise PrepError(f"{root}: no such {what} directory")
    with timed_step("scan"):
        lists = find_trial_lists(vox1_root)
        vox1 = scan_tree(vox1_root / "wav", (".wav",))
        vox2 = scan_tree(vox2_root / "dev" / "aac", AUDIO_EXTS)
    for root, utts in ((vox1_root / "wav", vox1), (vox2_root / "dev" / "aac", vox2)):
        log(f"{root}: {len(utts)} utterances of {len({u.spk for u in utts})} speakers")
    spk2utts: dict[str, list[str]] = {}
    for utt in vox2:
        spk2utts.setdefault(utt.spk, []).append(utt.key)
    heldout = choose_heldout(spk2utts, num_heldout_spk, seed) if num_heldout_spk > 0 else []
    names = ["vox1", "vox2_dev", "vox2_train"] + (["vox2_heldout"] if heldout else [])
    with timed_step("check existing data dirs"):
        warn_invalid_existing(data_root, names)
    if not heldout and (data_root / "vox2_heldout").exists():
        log(f"WARNING: --num-heldout-spk 0: {data_root / 'vox2_heldout'} is left over from an earlier run")

    cdir = str(Path(convert_dir).absolute() if convert_dir else (vox2_root / "dev" / "wav").absolute())
    with timed_step("plan"):
        work.mkdir(parents=True, exist_ok=True)
        (work / "plan.json").unlink(missing_ok=True)
        entries1, known1, tasks1 = _plan_set(vox1, data_root / "vox1", m4a_mode, cdir)
        entries2, known2, tasks2 = _plan_set(vox2, data_root / "vox2_dev", m4a_mode, cdir)
        _write_utts(work / "utts.tsv", {"vox1": (vox1, entries1), "vox2": (vox2, entries2)})
        with atomic_write(work / "known.tsv") as handle:
            handle.writelines(f"{key} {n}\n" for known in (known1, known2) for key, n in known.items())
        tasks = tasks1 + tasks2
        num_jobs = write_shares(work, tasks, nj)
        plan = {
            "format": PLAN_FORMAT, "version": PLAN_VERSION, "data_dir": str(data_root.absolute()),
            "vox1_root": str(vox1_root), "vox2_root": str(vox2_root), "m4a_mode": m4a_mode,
            "convert_dir": cdir, "heldout": heldout, "heldout_max_trials": heldout_max_trials, "seed": seed,
            "lists": [str(p.absolute()) for p in lists], "names": names, "num_jobs": num_jobs,
        }
        atomic_write_text(work / "num_jobs", f"{num_jobs}\n")
        atomic_write_text(work / "plan.json", json.dumps(plan, indent=1) + "\n")
    converts = sum(1 for task in tasks if task.convert_to)
    log(f"{len(known1) + len(known2)} sample counts reused from earlier data dirs; {len(tasks)} files to "
        f"read ({converts} to convert to wav under {cdir}) in {num_jobs} job(s)")
    return num_jobs


def read_plan(work_dir: str | os.PathLike) -> dict:
    path = Path(work_dir) / "plan.json"
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PrepError(f"{path}: no readable plan ({err}); run the plan step first") from None
    if plan.get("format") != PLAN_FORMAT or plan.get("version") != PLAN_VERSION:
        raise PrepError(f"{path}: not a version-{PLAN_VERSION} stage-0 plan; run the plan step again")
    return plan


def run_voxceleb_job(work_dir: str | os.PathLike, job: int) -> int:
    """Step 2, job `job` (1-based) of the array; returns the number of files it read."""
    plan = read_plan(work_dir)
    if not 1 <= job <= plan["num_jobs"]:
        raise PrepError(f"--job {job} is outside 1..{plan['num_jobs']} (the plan in {work_dir} has "
                        f"{plan['num_jobs']} shares)")
    return run_share(Path(work_dir), job)


class _SetTables:
    """One set's columns from the plan's utterance table, in key order."""

    def __init__(self):
        self.wav: dict[str, str] = {}
        self.utt2spk: dict[str, str] = {}
        self.session: dict[str, str] = {}
        self.rel2key: dict[str, str] = {}


def _read_utts(path: Path) -> dict[str, _SetTables]:
    sets = {"vox1": _SetTables(), "vox2": _SetTables()}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 6 or fields[0] not in sets:
                raise PrepError(f"{path}:{lineno}: malformed plan line; run the plan step again")
            name, key, spk, session, stem, entry = fields
            tables = sets[name]
            tables.wav[key], tables.utt2spk[key], tables.session[key] = entry, spk, session
            tables.rel2key[f"{spk}/{session}/{stem}"] = key
    return sets


def _read_samples(work: Path, num_jobs: int) -> dict[str, int]:
    samples = {}
    with open(work / "known.tsv", encoding="utf-8") as handle:
        for line in handle:
            key, count = line.split()
            samples[key] = int(count)
    samples.update(collect_samples(work, num_jobs))
    return samples


def _write_set(out: Path, tables: _SetTables, keys, samples: dict[str, int]) -> None:
    wav = {key: tables.wav[key] for key in keys}
    missing = [key for key in wav if key not in samples]
    if missing:
        raise PrepError(f"utterance {missing[0]}: no sample count in the job results ({len(missing)} such); "
                        "re-run the jobs")
    write_data_dir(out, wav, {key: tables.utt2spk[key] for key in wav}, samples)


def _write_trials(stage: Path, plan: dict, sets: dict[str, _SetTables]) -> None:
    if not plan["lists"]:
        log(f"WARNING: no cleaned trial list ({', '.join(CLEANED_LISTS)}) in {plan['vox1_root']}; "
            "no vox1 trials")
    converted = {}
    for src in map(Path, plan["lists"]):
        dst = stage / "vox1" / "trials" / CLEANED_LISTS[src.name]
        try:
            count = convert_voxceleb_list(src, dst, sets["vox1"].rel2key)
        except TrialsError as err:
            raise PrepError(str(err)) from None
        log(f"{src} -> {dst.relative_to(stage)}: {count} trials")
        converted[dst.stem] = {"source": str(src.absolute()), "format": "challenge", "trials": count}
    write_corpus_info(stage / "vox1", Path(plan["vox1_root"]), converted)
    heldout = plan["heldout"]
    if not heldout:
        return
    vox2 = sets["vox2"]
    spk2utts: dict[str, list[str]] = {spk: [] for spk in heldout}
    for key, spk in vox2.utt2spk.items():
        if spk in spk2utts:
            spk2utts[spk].append(key)
    trials = heldout_trials(spk2utts, vox2.session, plan["seed"], plan["heldout_max_trials"])
    write_trials(stage / "vox2_heldout" / "trials" / "heldout.kaldi", trials)
    atomic_write_text(stage / "vox2_heldout" / "heldout_speakers", "".join(s + "\n" for s in heldout))
    n_target = sum(t[2] for t in trials)
    log(f"held out {len(heldout)} speakers: {n_target} target + {len(trials) - n_target} non-target trials")


def merge_voxceleb(work_dir: str | os.PathLike) -> None:
    """Step 3: every data directory and trials file from the plan and the job results, checked, installed."""
    work = Path(work_dir)
    plan = read_plan(work)
    data_root = Path(plan["data_dir"])
    with timed_step("merge: read the plan and the job results"):
        sets = _read_utts(work / "utts.tsv")
        samples = _read_samples(work, plan["num_jobs"])
    heldout = set(plan["heldout"])
    with staging(data_root, "prepare_voxceleb") as stage:
        with timed_step("writing data dirs"):
            vox1, vox2 = sets["vox1"], sets["vox2"]
            _write_set(stage / "vox1", vox1, vox1.wav, samples)
            _write_set(stage / "vox2_dev", vox2, vox2.wav, samples)
            _write_set(stage / "vox2_train", vox2, [k for k, s in vox2.utt2spk.items() if s not in heldout],
                       samples)
            if heldout:
                _write_set(stage / "vox2_heldout", vox2, [k for k, s in vox2.utt2spk.items() if s in heldout],
                           samples)
        with timed_step("trials"):
            _write_trials(stage, plan, sets)
        with timed_step("validation"):
            for name in plan["names"]:
                try:
                    validate(stage / name, require_spk_prefix=True, quiet=True)
                except DataDirError as err:
                    raise PrepError(f"internal error, produced an invalid data dir: {err}") from None
        with timed_step("install"):
            install_all(stage, data_root, plan["names"])


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
    """All of stage 0 in this process: plan into a scratch work dir, the shares on `nj` threads, merge."""
    data_root = Path(data_dir)
    created = not data_root.exists()
    data_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".prepare_voxceleb.work.", dir=data_root))
    try:
        num_jobs = plan_voxceleb(vox1_root, vox2_root, data_root, work, nj=nj, m4a_mode=m4a_mode,
                                 convert_dir=convert_dir, num_heldout_spk=num_heldout_spk,
                                 heldout_max_trials=heldout_max_trials, seed=seed)
        if num_jobs:
            # threads: the work is ffmpeg subprocesses and libsndfile reads, both outside the GIL
            with ThreadPoolExecutor(min(max(1, nj), num_jobs)) as pool:
                list(pool.map(lambda job: run_share(work, job), range(1, num_jobs + 1)))
        merge_voxceleb(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not any(data_root.iterdir()):
            data_root.rmdir()
