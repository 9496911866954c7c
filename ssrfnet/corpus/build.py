"""Plan and render the whole mini corpus (VoxCeleb1/2-, MUSAN- and RIRS_NOISES-like) under one root.

* Deterministic: a single `random.Random(seed)` makes the whole plan in the parent process; workers
  only execute jobs, so results do not depend on `nj` or on scheduling.
* Atomic: every file is written under a temporary name and renamed; `.complete` (the generation
  parameters as JSON) is written last.  `.params` is written first, so an interrupted run resumes
  (finished files are kept) when re-run with the same parameters.
* Safe: a root holding another corpus (different parameters) or unknown data is refused unless
  `force=True`, which deletes only the corpus' own sub-directories and stamps.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from ssrfnet.corpus import evalsets, musan, rirs, vox
from ssrfnet.corpus.text import load_sentences, sentence_source
from ssrfnet.corpus.voices import (
    Channel,
    MissingToolError,
    Voice,
    encode_m4a,
    find_soundfont,
    require_tools,
    sox_finish,
    tts,
)
from ssrfnet.errors import ConfError, SSRFNetError
from ssrfnet.fileio import atomic_write_text

FORMAT_VERSION = 1
STAMP = ".complete"
PARAMS = ".params"
SUBDIRS = ("voxceleb1", "voxceleb2", "musan", "RIRS_NOISES", *evalsets.EVAL_DIRS)
OWN_FILES = (STAMP, PARAMS, "mini_corpus_speakers.tsv")

SIZES: dict[str, dict] = {
    "tiny": dict(num_train_speakers=4, utts_per_speaker=4, sessions_per_speaker=2,
                 num_test_speakers=6, test_utts_per_speaker=4, test_sessions_per_speaker=2,
                 num_trials=60, num_rirs=3, rirs_per_room=1, num_music=2, music_seconds=5.0,
                 num_noise=3, noise_seconds=3.0, num_babble_talkers=2, babble_sentences=2,
                 evalset_speakers=2, evalset_utts=2),
    "default": dict(num_train_speakers=40, utts_per_speaker=16, sessions_per_speaker=4,
                    num_test_speakers=20, test_utts_per_speaker=10, test_sessions_per_speaker=3,
                    num_trials=3000, num_rirs=30, rirs_per_room=2, num_music=10, music_seconds=30.0,
                    num_noise=20, noise_seconds=10.0, num_babble_talkers=8, babble_sentences=8,
                    evalset_speakers=3, evalset_utts=3),
    "large": dict(num_train_speakers=200, utts_per_speaker=30, sessions_per_speaker=6,
                  num_test_speakers=60, test_utts_per_speaker=16, test_sessions_per_speaker=4,
                  num_trials=30000, num_rirs=200, rirs_per_room=4, num_music=40, music_seconds=40.0,
                  num_noise=60, noise_seconds=15.0, num_babble_talkers=20, babble_sentences=10,
                  evalset_speakers=6, evalset_utts=4),
}
# Parameters added after corpora of FORMAT_VERSION 1 were generated: a finished corpus whose stamp lacks only
# these is extended in place (its files are planned identically, the new ones are added), not refused.
EXTENSION_KEYS = ("evalset_speakers", "evalset_utts")
DEFAULTS = dict(vox2_format="m4a", short_frac=0.06)


class CorpusMismatchError(SSRFNetError, RuntimeError):
    pass


def resolve_params(size: str = "default", seed: int = 1234, **overrides) -> dict:
    if size not in SIZES:
        raise ConfError(f"--size: unknown size {size!r}; choose one of {', '.join(SIZES)}")
    p = {"format_version": FORMAT_VERSION, "size": size, "seed": int(seed), **DEFAULTS, **SIZES[size]}
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in p:
            raise ConfError(f"unknown corpus parameter {k}")
        p[k] = type(p[k])(v) if p[k] is not None else v
    if p["vox2_format"] not in ("m4a", "wav"):
        raise ConfError("--vox2-format must be m4a or wav")
    if p["num_test_speakers"] < 2 or p["num_train_speakers"] < 1:
        raise ConfError("the mini corpus needs at least 1 training and 2 test speakers")
    if p["evalset_speakers"] > 0 and (p["evalset_speakers"] < 2 or p["evalset_utts"] < 2):
        raise ConfError(
            "evaluation-set stand-ins need at least 2 speakers and 2 utterances each (or 0 speakers)"
        )
    p["sentences"] = sentence_source()
    return p


def plan_corpus(params: dict) -> dict:
    """The complete, deterministic plan: jobs (one per output audio file or room) and text files."""
    rng = random.Random(f"ssrfnet-mini-corpus:{params['seed']}")
    vplan = vox.plan_vox(rng, params)
    trials = vox.trial_lists(rng, vplan, params["num_trials"])
    mjobs = musan.plan_musan(rng, params)
    rjobs = rirs.plan_rirs(rng, params["num_rirs"], params["rirs_per_room"])
    texts = {path: vox.format_trials(t) for path, t in trials.items()}
    texts["voxceleb1/vox1_meta.csv"] = vox.vox1_meta(vplan["test"])
    texts["voxceleb2/vox2_meta.csv"] = vox.vox2_meta(vplan["train"])
    texts.update(musan.annotations(mjobs, vplan["babble"]))
    texts.update(rirs.rir_lists(rjobs))
    # planned last, so that adding the stand-ins left every other file of a corpus as it was
    eplan = evalsets.plan_evalsets(rng, params, vplan["pool"], load_sentences())
    texts.update(eplan["texts"])
    texts["mini_corpus_speakers.tsv"] = vox.speakers_table(vplan) + evalsets.speakers_rows(eplan["voices"])
    jobs = vplan["jobs"] + mjobs + rjobs + eplan["jobs"]
    return {"jobs": jobs, "texts": texts, "vox": vplan, "trials": trials, "evalsets": eplan}


def job_outputs(job: dict) -> list[str]:
    return job.get("outs", [job["out"]])


def planned_files(params: dict) -> list[str]:
    """Every file the corpus will contain, relative to the root (sorted)."""
    plan = plan_corpus(params)
    files = [o for j in plan["jobs"] for o in job_outputs(j)] + list(plan["texts"])
    return sorted(files + [STAMP])


# ---------------------------------------------------------------------------------------- workers
def _tmp_beside(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return tmp


def _write_wav_atomic(path: Path, data, sr: int = 16000) -> None:
    import soundfile as sf

    tmp = _tmp_beside(path)
    try:
        sf.write(tmp, data, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _render_speech(items: list[dict], rootp: Path, tmpdir: str) -> None:
    """TTS + sox for each missing utterance, then one ffmpeg call for all m4a outputs of the batch."""
    staged = []
    for n, it in enumerate(items):
        final = rootp / it["out"]
        if final.exists():
            continue
        raw = os.path.join(tmpdir, f"tts{n}.wav")
        wav = os.path.join(tmpdir, f"utt{n}.wav")
        pre = tts(Voice(**it["voice"]), it["text"], raw, it["dpitch"], it["drate"])
        sox_finish(raw, wav, pre, Channel(**it["channel"]), it["max_dur"])
        os.unlink(raw)
        staged.append((wav, final, _tmp_beside(final), it["fmt"]))
    try:
        to_encode = [(wav, tmp) for wav, _, tmp, fmt in staged if fmt == "m4a"]
        if to_encode:
            encode_m4a(to_encode)
        for wav, final, tmp, fmt in staged:
            if fmt == "flac":
                _wav_to_flac(wav, tmp)
            elif fmt != "m4a":
                shutil.move(wav, tmp)
            os.replace(tmp, final)
    finally:
        for _, _, tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _wav_to_flac(wav: str, out: str) -> None:
    import soundfile as sf

    samples, rate = sf.read(wav, dtype="int16")
    sf.write(out, samples, rate, subtype="PCM_16", format="FLAC")


def run_job(root: str, job: dict, soundfont: str | None) -> int:
    """Render one job; returns the number of its output files.  Skips jobs whose outputs all exist."""
    rootp = Path(root)
    outs = [rootp / o for o in job_outputs(job)]
    if all(o.exists() for o in outs):
        return 0
    with tempfile.TemporaryDirectory(prefix="minicorpus.") as tmpdir:
        kind = job["kind"]
        if kind == "speech":
            _render_speech(job["items"], rootp, tmpdir)
        elif kind == "noise":
            _write_wav_atomic(outs[0], musan.synth_noise(job["noise"], job["seconds"], job["seed"]))
        elif kind == "music":
            midi, _ = musan.make_song(job["seed"], job["seconds"])
            staged = os.path.join(tmpdir, "song.wav")
            musan.render_song(midi, staged, job["seconds"], soundfont, tmpdir)
            tmp = _tmp_beside(outs[0])
            shutil.move(staged, tmp)
            os.replace(tmp, outs[0])
        elif kind == "rir":
            for out, h in zip(outs, rirs.simulate_room(job)):
                if not out.exists():
                    _write_wav_atomic(out, h)
        elif kind == "mix":
            evalsets.render_mix(job, rootp, tmpdir)
        elif kind == "room":
            evalsets.render_room(job, rootp, tmpdir)
        else:
            raise ValueError(f"unknown job kind {kind}")
    return len(outs)


def _job_cost(job: dict) -> float:
    """Rough relative cost, so slow jobs start first and the pool drains evenly."""
    if job["kind"] == "rir":
        return 5.0 * job["rt60"] * len(job["pairs"]) * (3 if job["room_type"] == "largeroom" else 1)
    if job["kind"] == "music":
        return 1.0 + job["seconds"] / 10
    if job["kind"] in ("mix", "room"):
        return 3.0 + len(job["outs"])
    if job["kind"] == "speech":
        return sum((3.0 if it["voice"]["engine"] == "festival" else 1.0) * (1 + len(it["text"]) / 300)
                   for it in job["items"])
    return 0.5


def _worker_init() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc="mini corpus", unit="file", file=sys.stderr, disable=not enabled,
                    mininterval=1.0)
    except ImportError:  # pragma: no cover
        return None


def render(root: str, jobs: list[dict], nj: int, progress: bool = True) -> None:
    todo = [j for j in jobs if not all((Path(root) / o).exists() for o in job_outputs(j))]
    soundfont = find_soundfont() if any(j["kind"] == "music" for j in todo) else None
    todo.sort(key=_job_cost, reverse=True)
    n_files = sum(len(job_outputs(j)) for j in jobs)
    bar = _progress(n_files, progress)
    if bar is not None:
        bar.update(n_files - sum(len(job_outputs(j)) for j in todo))
    try:
        if nj <= 1:
            for job in todo:
                n = run_job(root, job, soundfont)
                if bar is not None:
                    bar.update(n)
            return
        with ProcessPoolExecutor(max_workers=nj, initializer=_worker_init) as pool:
            pending = set()
            it = iter(todo)
            # keep a bounded queue so an error stops the run quickly
            for job in it:
                pending.add(pool.submit(run_job, root, job, soundfont))
                if len(pending) >= 4 * nj:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    n = fut.result()
                    if bar is not None:
                        bar.update(n)
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(run_job, root, nxt, soundfont))
    finally:
        if bar is not None:
            bar.close()


# -------------------------------------------------------------------------------------------- API
def _stamp_params(params: dict) -> str:
    return json.dumps(params, sort_keys=True, indent=1) + "\n"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _summary(root: Path, params: dict, seconds: float, noop: bool) -> dict:
    return {
        "root": str(root),
        "voxceleb1": str(root / "voxceleb1"),
        "voxceleb1_wav": str(root / "voxceleb1" / "wav"),
        "voxceleb2_dev": str(root / "voxceleb2" / "dev" / "aac"),
        "musan": str(root / "musan"),
        "rirs_noises": str(root / "RIRS_NOISES"),
        "evalsets": {name: str(root / name) for name in evalsets.EVAL_DIRS if params["evalset_speakers"]},
        "trials": {
            "O": str(root / "voxceleb1" / "veri_test2.txt"),
            "E": str(root / "voxceleb1" / "list_test_all2.txt"),
            "H": str(root / "voxceleb1" / "list_test_hard2.txt"),
        },
        "params": params,
        "seconds": round(seconds, 2),
        "noop": noop,
    }


def _extends(have: dict | None, want: dict) -> bool:
    """`want` only adds EXTENSION_KEYS to the parameters `have` was generated with."""
    if not isinstance(have, dict) or any(k in have for k in EXTENSION_KEYS):
        return False
    return {k: v for k, v in want.items() if k not in EXTENSION_KEYS} == have


def check_root(root: Path, params: dict, force: bool) -> str:
    """'done' (stamp matches), 'resume' / 'fresh' (go on), or raise CorpusMismatchError."""
    want = json.loads(_stamp_params(params))
    stamp = _read_json(root / STAMP)
    if stamp == want and not force:
        return "done"
    started = _read_json(root / PARAMS)
    if started == want and not force:
        return "resume"
    if not force and any(_extends(have, want) for have in (stamp, started)):
        return "resume"
    entries = os.listdir(root) if root.is_dir() else []
    if entries and not force:
        have = stamp or started
        if have:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            what = f"a corpus generated with different parameters (differs in: {', '.join(diff)})"
        else:
            what = f"other files ({', '.join(sorted(entries)[:5])})"
        raise CorpusMismatchError(
            f"{root} already holds {what}; refusing to mix corpora. Use another directory, or --force "
            f"(force=True) to delete {', '.join(SUBDIRS)} there and regenerate."
        )
    if force:
        for name in SUBDIRS:
            shutil.rmtree(root / name, ignore_errors=True)
        for name in OWN_FILES:
            with contextlib.suppress(FileNotFoundError):
                (root / name).unlink()
    return "fresh"


def required_tools(params: dict) -> list[str]:
    tools = ["espeak-ng", "flite", "sox"]
    if params["vox2_format"] == "m4a":
        tools.append("ffmpeg")
    if params["num_music"]:
        tools.append("fluidsynth")
    if params["num_train_speakers"] >= 20:
        tools.append("text2wave")
    return tools


def make_mini_corpus(root, size: str = "tiny", seed: int = 1234, nj: int | None = None, force: bool = False,
                     progress: bool = False, **overrides) -> dict:
    """Synthesise the mini corpus under `root` and return a summary dict of its paths.

    Keyword overrides take the names of the size parameters (num_train_speakers=..., vox2_format='wav').
    Re-running with the same parameters on a finished root is a fast no-op.
    """
    t0 = time.time()
    root = Path(root).absolute()
    params = resolve_params(size, seed, **overrides)
    state = check_root(root, params, force)
    if state == "done":
        return _summary(root, params, time.time() - t0, noop=True)
    require_tools(required_tools(params))
    plan = plan_corpus(params)
    engines = {it["voice"]["engine"] for j in plan["jobs"] if j["kind"] == "speech" for it in j["items"]}
    if "festival" in engines:
        require_tools(["text2wave"])
    root.mkdir(parents=True, exist_ok=True)
    if state == "resume":  # an interrupted run with the same parameters: drop its half-written files
        for name in SUBDIRS:
            for part in (root / name).rglob(".*.part"):
                part.unlink()
    atomic_write_text(root / PARAMS, _stamp_params(params))
    if nj is None:
        nj = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    render(str(root), plan["jobs"], max(1, int(nj)), progress=progress)
    for rel, text in plan["texts"].items():
        atomic_write_text(root / rel, text)
    atomic_write_text(root / STAMP, _stamp_params(params))
    return _summary(root, params, time.time() - t0, noop=False)


__all__ = ["SIZES", "CorpusMismatchError", "MissingToolError", "make_mini_corpus", "plan_corpus",
           "planned_files", "resolve_params", "require_tools"]
