"""Stand-ins for the evaluation sets beyond VoxCeleb1, each in the layout it is distributed in.

    voxsrc23/VoxSRC2023_test/NNNNNN.wav, voxsrc23/VoxSRC2023_test.txt        VoxSRC-23 test, labelled list
    vcmix/voxconverse_test_SV/<rec>/<rec>_spkNN_NNN.wav, .../trials_wo_overlap.txt
                                                  VoxConverse test SV; VCMix is built from it + veri_test2.txt
    VOiCES/sid_dev/spNNNN/Lab41-SRI-VOiCES-...wav, sid_dev_lists_and_keys/, sid_eval/, sid_eval_lists/,
           VOiCES_challenge_2019_post-eval-release/                          VOiCES 2019 dev and eval
    CN-Celeb_flac/data/idNNNNN/<genre>-NN-NNN.flac, eval/test/, eval/lists/{enroll.map,trials.lst,test.lst}
    sitw/{dev,eval}/audio/<name>.flac, lists/enroll-core.lst, keys/core-core.lst

The character of each set is imitated where it is cheap: every VoxSRC-23 utterance has its own channel;
VoxConverse segments are two-speaker mixtures (the other talker of the conversation underneath, 8-18 dB
lower, through the programme's shared channel); VOiCES audio is played in a simulated room
(pyroomacoustics, as for the RIRs) and picked up by near and far microphones with a distractor noise;
CN-Celeb speakers talk in several genres (channels) and have several enrolment utterances each.

The CN-Celeb stand-in ships enroll.map but not the pre-concatenated eval/enroll/ files (nor enroll.lst), so
what the mini run scores is the recipe's own concatenation of each speaker's enrolment utterances.
All stand-in speakers come from the corpus voice pool and share no voice with the training, test or babble
talkers. Sizes: `evalset_speakers` S and `evalset_utts` U (0 speakers: no stand-ins); see plan_evalsets.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np

from ssrfnet.corpus import musan
from ssrfnet.corpus.voices import Channel, Voice, random_channel, sox_finish, tts
from ssrfnet.corpus.vox import VoicePool, _jitter, _utt_texts, batch

SR = 16000
EVAL_DIRS = ("voxsrc23", "vcmix", "VOiCES", "CN-Celeb_flac", "sitw")
CNCELEB_GENRES = ("interview", "speech", "singing", "vlog", "live_broadcast", "drama", "recitation",
                  "entertainment", "advertisement", "play", "movie")
VOICES_EVAL_KEYS = "VOiCES_challenge_2019_post-eval-release/VOiCES_challenge_2019_eval.SID.trial-keys.lst"
VOICES_DISTRACTORS = {"none": None, "babb": "band", "musi": "chirp", "tele": "coloured"}


# ------------------------------------------------------------------------------------------ helpers
def eval_voices(pool: VoicePool, rng: random.Random, count: int) -> list[Voice]:
    voices = []
    for _ in range(count):
        engine = "flite" if rng.random() < 0.25 and pool.count("flite", "m") + pool.count("flite", "f") else \
            "espeak-ng"
        voice = pool.take(engine) or pool.take("espeak-ng")
        if voice is None:
            raise ValueError("not enough distinct voices for the evaluation-set stand-ins")
        voices.append(voice)
    return voices


def source(rng: random.Random, voice: Voice, sentences, channel: Channel | None = None,
           n_sent: int | None = None) -> dict:
    """What a TTS rendering needs (the shape vox.plan_speaker_utts gives its items)."""
    dpitch, drate = _jitter(rng, voice)
    return {"voice": voice.to_dict(), "text": _utt_texts(rng, sentences, n_sent or rng.choice((1, 2)), 22),
            "dpitch": dpitch, "drate": drate,
            "channel": None if channel is None else channel.__dict__, "max_dur": None}


def speech_item(rng, voice, sentences, out: str, fmt: str, channel: Channel | None = None) -> dict:
    return {"kind": "speech", "out": out, "fmt": fmt,
            **source(rng, voice, sentences, channel or random_channel(rng))}


def batches(items: list[dict], size: int = 6) -> list[dict]:
    return [batch(items[i:i + size]) for i in range(0, len(items), size)]


def unique_names(rng: random.Random, count: int, make) -> list[str]:
    seen: set = set()
    while len(seen) < count:
        seen.add(make(rng))
    names = sorted(seen)  # sorted first: set order depends on the process's hash seed
    rng.shuffle(names)
    return names


def letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def pair_trials(enrolls, tests, same) -> list[tuple[bool, str, str]]:
    """Every enrolment x test pair (of different files) with its label."""
    return [(same(e, t), e[1], t[1]) for e in enrolls for t in tests if e[1] != t[1]]


# ------------------------------------------------------------------------------------------ VoxSRC-23
def plan_voxsrc23(rng, voices: list[Voice], p: dict, sentences) -> tuple[list[dict], dict[str, str]]:
    speakers = rng.sample(voices, min(len(voices), p["evalset_speakers"] + 1))
    n = len(speakers) * p["evalset_utts"]
    names = unique_names(rng, n, lambda r: f"{r.randrange(100000):06d}.wav")
    items, utts = [], []
    for k, voice in enumerate(speakers):
        for _ in range(p["evalset_utts"]):
            name = names.pop()
            items.append(speech_item(rng, voice, sentences, f"voxsrc23/VoxSRC2023_test/{name}", "wav"))
            utts.append((k, name))
    trials = [(a[0] == b[0], a[1], b[1]) for i, a in enumerate(utts) for b in utts[i + 1:]]
    targets = [t for t in trials if t[0]]
    nontargets = rng.sample([t for t in trials if not t[0]], min(len(trials) - len(targets), len(targets)))
    lines = targets + nontargets
    rng.shuffle(lines)
    text = "".join(f"{int(lab)} {a} {b}\n" for lab, a, b in lines)
    return batches(items), {"voxsrc23/VoxSRC2023_test.txt": text}


# --------------------------------------------------------------------------------- VoxConverse (VCMix)
def plan_voxconverse(rng, voices: list[Voice], p: dict, sentences) -> tuple[list[dict], dict[str, str]]:
    """Two-speaker recordings; each segment is one talker with the other one underneath."""
    base = "vcmix/voxconverse_test_SV"
    n_rec, n_seg = len(voices) // 2, p["evalset_utts"]
    recs = unique_names(rng, n_rec, lambda r: letters(r, 5))
    jobs, segs = [], []
    for r, rec in enumerate(recs):
        channel = random_channel(rng)
        talkers = voices[2 * r:2 * r + 2]
        sources = [source(rng, talkers[k % 2], sentences, channel, 1) for k in range(2 * n_seg)]
        segments = []
        for k in range(2 * n_seg):
            rel = f"{rec}/{rec}_spk{k % 2:02d}_{k // 2 + 1:03d}.wav"
            other = (k + 1) % (2 * n_seg)
            segments.append({"out": f"{base}/{rel}", "main": k, "other": other,
                             "sir_db": round(rng.uniform(8, 18), 1), "offset": round(rng.uniform(0, 0.6), 2)})
            segs.append(((rec, k % 2), rel))
        jobs.append({"kind": "mix", "out": segments[0]["out"], "outs": [s["out"] for s in segments],
                     "sources": sources, "segments": segments})
    lines = [(a[0] == b[0], a[1], b[1]) for i, a in enumerate(segs) for b in segs[i + 1:]]
    rng.shuffle(lines)
    text = "".join(f"{int(lab)} {a} {b}\n" for lab, a, b in lines)
    return jobs, {f"{base}/trials_wo_overlap.txt": text}


def render_mix(job: dict, root: Path, tmpdir: str) -> None:
    from ssrfnet.audio import write_wav

    clean = [_tts_samples(src, tmpdir, n) for n, src in enumerate(job["sources"])]
    for seg in job["segments"]:
        out = root / seg["out"]
        if out.exists():
            continue
        main, other = clean[seg["main"]], clean[seg["other"]]
        start = int(seg["offset"] * len(main))
        under = np.zeros_like(main)
        piece = other[: len(main) - start]
        under[start:start + len(piece)] = piece
        gain = _rms(main) / max(_rms(under), 1e-9) * 10 ** (-seg["sir_db"] / 20)
        write_wav(out, _peak(main + gain * under, 0.7))


# --------------------------------------------------------------------------------------------- VOiCES
def _room(rng) -> tuple[list[float], list[float], list[list[float]]]:
    """A room, a loudspeaker position and three microphones: near (about 0.7 m), mid and far."""
    dims = [round(rng.uniform(5, 8), 2), round(rng.uniform(4, 7), 2), round(rng.uniform(2.6, 3.2), 2)]
    src = [1.0, round(dims[1] / 2, 2), 1.5]
    mics = [[round(min(dims[0] - 0.3, 1.0 + d), 2), round(dims[1] / 2 + rng.uniform(-0.8, 0.8), 2), 1.2]
            for d in (0.7, rng.uniform(1.8, 2.5), rng.uniform(3.5, dims[0] - 1.5))]
    return dims, src, mics


def _voices_part(rng, part: str, room: int, voices, p, sentences) -> tuple[dict, list, list]:
    dims, src, mics = _room(rng)
    items, enrolls, tests = [], [], []
    for voice in voices:
        spk, chapter = rng.randrange(10, 9999), rng.randrange(100, 999999)
        for n in range(1 + p["evalset_utts"]):
            mic = 0 if n == 0 else rng.choice((1, 2))
            dist = "none" if n == 0 else rng.choice(tuple(VOICES_DISTRACTORS))
            segment, degrees = rng.randrange(1, 9999), rng.choice((0, 60, 90, 120, 180))
            stem = (f"Lab41-SRI-VOiCES-rm{room}-{dist}-sp{spk:04d}-ch{chapter:06d}-sg{segment:04d}"
                    f"-mc{mic + 1:02d}-stu-{('clo', 'mid', 'far')[mic]}-dg{degrees:03d}")
            rel = f"sid_dev/sp{spk:04d}/{stem}.wav" if part == "dev" else f"sid_eval/{letters(rng, 8)}.wav"
            items.append({"out": f"VOiCES/{rel}", "source": source(rng, voice, sentences), "mic": mic,
                          "noise": VOICES_DISTRACTORS[dist], "snr": round(rng.uniform(5, 15), 1),
                          "seed": rng.getrandbits(32)})
            (tests if n else enrolls).append((voice.name, rel))
    job = {"kind": "room", "out": items[0]["out"], "outs": [it["out"] for it in items], "dims": dims,
           "rt60": round(rng.uniform(0.3, 0.7), 2), "src": src, "mics": mics, "items": items}
    return job, enrolls, tests


def plan_voices(rng, voices: list[Voice], p: dict, sentences) -> tuple[list[dict], dict[str, str]]:
    speakers = rng.sample(voices, min(len(voices), 2 * p["evalset_speakers"]))
    half = max(2, len(speakers) // 2)
    jobs, texts = [], {}
    for part, room, group in (("dev", 1, speakers[:half]), ("eval", 2, speakers[-half:])):
        job, enrolls, tests = _voices_part(rng, part, room, group, p, sentences)
        jobs.append(job)
        model = {rel: Path(rel).stem for _, rel in enrolls}
        trials = pair_trials(enrolls, tests, lambda e, t: e[0] == t[0])
        if part == "dev":
            lists = "VOiCES/sid_dev_lists_and_keys"
            keys, strip = f"{lists}/dev-trial-keys.lst", ""
        else:  # the eval keys name the test files without their sid_eval/ directory
            lists = "VOiCES/sid_eval_lists"
            keys = f"VOiCES/{VOICES_EVAL_KEYS}"
            strip = "sid_eval/"
        texts[f"{lists}/{part}-enroll.lst"] = "".join(f"{model[rel]} {rel}\n" for _, rel in enrolls)
        texts[f"{lists}/{part}-test.lst"] = "".join(f"{rel}\n" for _, rel in tests)
        texts[keys] = "".join(f"{model[e]} {t.removeprefix(strip)} {'tgt' if lab else 'imp'}\n"
                              for lab, e, t in trials)
    return jobs, texts


def render_room(job: dict, root: Path, tmpdir: str) -> None:
    import pyroomacoustics as pra
    from scipy.signal import fftconvolve

    from ssrfnet.audio import write_wav

    try:
        absorption, max_order = pra.inverse_sabine(job["rt60"], job["dims"])
    except ValueError:
        absorption, max_order = 0.99, 3
    room = pra.ShoeBox(job["dims"], fs=SR, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(job["src"])
    room.add_microphone_array(np.array(job["mics"]).T)
    room.compute_rir()
    for n, item in enumerate(job["items"]):
        out = root / item["out"]
        if out.exists():
            continue
        x = _tts_samples(item["source"], tmpdir, n)
        y = fftconvolve(x, np.asarray(room.rir[item["mic"]][0]))[: len(x) + SR // 4]
        if item["noise"]:
            noise = musan.synth_noise(item["noise"], len(y) / SR + 0.01, item["seed"])[: len(y)]
            y = y + noise * _rms(y) / max(_rms(noise), 1e-9) * 10 ** (-item["snr"] / 20)
        write_wav(out, _peak(y, 0.6))


# ------------------------------------------------------------------------------------------- CN-Celeb
def plan_cnceleb(rng, voices: list[Voice], p: dict, sentences) -> tuple[list[dict], dict[str, str]]:
    speakers = rng.sample(voices, min(len(voices), p["evalset_speakers"]))
    ids = sorted(rng.sample(range(800, 1000), len(speakers)))
    items, enroll_map, enrolls, tests = [], [], [], []
    for spk_num, voice in zip(ids, speakers):
        spk = f"id{spk_num:05d}"
        genres = rng.sample(CNCELEB_GENRES, 2)
        files = []
        for role, genre, session in (("enroll", genres[0], 1), ("test", genres[1], 2)):
            channel = random_channel(rng)
            for n in range(1, p["evalset_utts"] + 1):
                name = f"{genre}-{session:02d}-{n:03d}"
                if role == "enroll":
                    out, listed = f"CN-Celeb_flac/data/{spk}/{name}.flac", f"{spk}/{name}.wav"
                    files.append(listed)
                else:
                    out, listed = f"CN-Celeb_flac/eval/test/{spk}-{name}.flac", f"test/{spk}-{name}.wav"
                    tests.append((spk, listed))
                items.append(speech_item(rng, voice, sentences, out, "flac", channel))
        enroll_map.append(f"{spk}-enroll {' '.join(files)}\n")
        enrolls.append((spk, f"{spk}-enroll"))
    trials = pair_trials(enrolls, tests, lambda e, t: e[0] == t[0])
    base = "CN-Celeb_flac/eval/lists"
    texts = {f"{base}/enroll.map": "".join(enroll_map),
             f"{base}/test.lst": "".join(f"{t}\n" for _, t in tests),
             f"{base}/trials.lst": "".join(f"{e} {t} {int(lab)}\n" for lab, e, t in trials)}
    return batches(items), texts


# ----------------------------------------------------------------------------------------------- SITW
def plan_sitw(rng, voices: list[Voice], p: dict, sentences) -> tuple[list[dict], dict[str, str]]:
    speakers = rng.sample(voices, min(len(voices), 2 * p["evalset_speakers"]))
    half = max(2, len(speakers) // 2)
    n_test = max(1, p["evalset_utts"] - 1)
    names = unique_names(rng, len(speakers) * (1 + n_test) * 2, lambda r: letters(r, 5))
    items, texts = [], {}
    for part, group in (("dev", speakers[:half]), ("eval", speakers[-half:])):
        models = unique_names(rng, len(group), lambda r: f"{r.randrange(10000, 99999)}")
        enrolls, tests = [], []
        for model, voice in zip(models, group):
            for n in range(1 + n_test):
                rel = f"audio/{names.pop()}.flac"
                items.append(speech_item(rng, voice, sentences, f"sitw/{part}/{rel}", "flac"))
                (tests if n else enrolls).append((model, rel))
        trials = pair_trials(enrolls, tests, lambda e, t: e[0] == t[0])
        model_of = {rel: model for model, rel in enrolls}
        texts[f"sitw/{part}/lists/enroll-core.lst"] = "".join(f"{m} {rel}\n" for m, rel in enrolls)
        texts[f"sitw/{part}/lists/test-core.lst"] = "".join(f"{rel}\n" for _, rel in tests)
        texts[f"sitw/{part}/keys/core-core.lst"] = "".join(
            f"{model_of[e]} {t} {'tgt' if lab else 'imp'}\n" for lab, e, t in trials)
    return batches(items), texts


# ------------------------------------------------------------------------------------------ the plan
def plan_evalsets(rng: random.Random, p: dict, pool: VoicePool, sentences) -> dict:
    """Jobs and list files of every stand-in, and the voices they use.

    S = evalset_speakers, U = evalset_utts: VoxSRC-23 S+1 speakers x U utterances; VoxConverse max(2, S)
    two-speaker recordings x 2U segments; VOiCES and SITW S speakers per part (dev, eval), each one
    enrolment + U (SITW: U-1) test utterances; CN-Celeb S speakers x (U enrolment + U test) utterances.
    """
    if p["evalset_speakers"] <= 0:
        return {"jobs": [], "texts": {}, "voices": []}
    voices = eval_voices(pool, rng, 2 * max(2, p["evalset_speakers"]))
    jobs, texts = [], {}
    for plan in (plan_voxsrc23, plan_voxconverse, plan_voices, plan_cnceleb, plan_sitw):
        set_jobs, set_texts = plan(rng, voices, p, sentences)
        jobs += set_jobs
        texts.update(set_texts)
    return {"jobs": jobs, "texts": texts, "voices": voices}


def speakers_rows(voices: list[Voice]) -> str:
    """Rows for mini_corpus_speakers.tsv (role 'eval': the stand-ins' talkers)."""
    return "".join(f"eval\teval{i:02d}\t{v.engine}\t{v.voice}\t{v.gender}\t{v.pitch:g}\t{v.rate:g}"
                   f"\t{v.nationality}\teval\n" for i, v in enumerate(voices))


# ------------------------------------------------------------------------------------------ rendering
def _tts_samples(src: dict, tmpdir: str, n: int) -> np.ndarray:
    import soundfile as sf

    raw, wav = f"{tmpdir}/src{n}.raw.wav", f"{tmpdir}/src{n}.wav"
    pre = tts(Voice(**src["voice"]), src["text"], raw, src["dpitch"], src["drate"])
    channel = Channel(**src["channel"]) if src["channel"] else None
    sox_finish(raw, wav, pre, channel, src["max_dur"])
    samples, _ = sf.read(wav, dtype="float64")
    return samples


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def _peak(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.max(np.abs(x))), 1e-9))).astype(np.float32)
