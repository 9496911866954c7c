"""VoxCeleb-like speaker sets: who speaks, in which sessions, what; and the VoxCeleb trial lists.

Planning is pure Python driven by one seeded RNG, so the same seed and sizes always give the same
speakers, session ids, file names, texts and trial lists.  Audio rendering happens elsewhere.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from ssrfnet.corpus.text import load_sentences
from ssrfnet.corpus.voices import (
    Voice,
    espeak_timbres,
    espeak_voice,
    festival_voices,
    flite_voices,
    random_channel,
)

SESSION_ALPHABET = string.ascii_letters + string.digits + "_-"
VOX1_META_HEADER = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"
VOX2_META_HEADER = "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set "


@dataclass
class Speaker:
    spk_id: str
    voice: Voice
    role: str  # train | test | babble
    subset: str = "dev"  # vox1 meta "Set": test = held out for the O list
    sessions: list = field(default_factory=list)  # [(session_id, Channel)]

    @property
    def group(self) -> tuple[str, str]:
        """The 'nationality + gender' analogue used by the hard list: same engine and gender."""
        return (self.voice.engine, self.voice.gender)


class VoicePool:
    """Hands out voices without reuse: every espeak-ng timbre, flite setting and festival setting once."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.espeak = espeak_timbres()
        rng.shuffle(self.espeak)
        self.flite = flite_voices(rng)
        rng.shuffle(self.flite)
        self.festival = festival_voices()

    def take(self, engine: str, gender: str | None = None) -> Voice | None:
        if engine == "espeak-ng":
            for i, t in enumerate(self.espeak):
                if gender is None or t[1] == gender:
                    return espeak_voice(self.rng, self.espeak.pop(i))
            return None
        pool = self.flite if engine == "flite" else self.festival
        for i, v in enumerate(pool):
            if gender is None or v.gender == gender:
                return pool.pop(i)
        return None

    def count(self, engine: str, gender: str) -> int:
        if engine == "espeak-ng":
            return sum(t[1] == gender for t in self.espeak)
        pool = self.flite if engine == "flite" else self.festival
        return sum(v.gender == gender for v in pool)


def session_id(rng: random.Random, used: set) -> str:
    while True:
        sid = "".join(rng.choice(SESSION_ALPHABET) for _ in range(11))
        if sid not in used:
            used.add(sid)
            return sid


def _pick_engine(rng: random.Random, n_speakers: int, i: int, flite_frac: float = 0.25) -> str:
    # festival is slow (~0.3 s per utterance): at most one speaker per set, only in bigger sets
    if n_speakers >= 20 and i == n_speakers // 2:
        return "festival"
    return "flite" if rng.random() < flite_frac else "espeak-ng"


def choose_voices(rng: random.Random, pool: VoicePool, n_train: int, n_test: int, n_babble: int):
    """Babble talkers (espeak-ng only), test speakers in same (engine, gender) pairs, then training."""
    babble = []
    for i in range(n_babble):
        babble.append(pool.take("espeak-ng", "mf"[i % 2]))
    test = []
    for k in range(n_test // 2):
        gender = "mf"[k % 2]
        engine = "flite" if rng.random() < 0.25 else "espeak-ng"
        if pool.count(engine, gender) < 2:
            engine = "espeak-ng"
        test += [pool.take(engine, gender), pool.take(engine, gender)]
    if n_test % 2:
        test.append(pool.take("espeak-ng"))
    train = []
    for i in range(n_train):
        v = pool.take(_pick_engine(rng, n_train, i)) or pool.take("espeak-ng")
        train.append(v)
    if any(v is None for v in babble + test + train):
        raise ValueError("not enough distinct voices for the requested numbers of speakers")
    return train, test, babble


def _utt_texts(rng: random.Random, sentences, n_sent: int, max_words: int = 28) -> str:
    """n_sent random sentences, re-drawn (a few times) when they would exceed max_words in total."""
    chosen: list[str] = []
    words = 0
    for _ in range(n_sent):
        for _try in range(8):
            sent = rng.choice(sentences)
            if not chosen or words + len(sent.split()) <= max_words:
                break
        else:
            break
        chosen.append(sent)
        words += len(sent.split())
    return " ".join(chosen)


def _jitter(rng: random.Random, voice: Voice) -> tuple[float, float]:
    if voice.engine == "espeak-ng":
        dp = rng.uniform(-4, 4)
    else:
        dp = rng.uniform(-0.03, 0.03)
    return round(dp, 3), round(rng.uniform(0.93, 1.07), 3)


def plan_speaker_utts(rng, spk: Speaker, sessions: int, n_utts: int, used_sessions: set, fmt: str,
                      prefix: str, sentences, short_frac: float) -> list[dict]:
    """Sessions with their own channel, and one render item per utterance (numbered per session)."""
    spk.sessions = [(session_id(rng, used_sessions), random_channel(rng)) for _ in range(max(1, sessions))]
    # every session gets one utterance, the rest are spread at random
    owners = list(range(len(spk.sessions)))[:n_utts]
    owners += [rng.randrange(len(spk.sessions)) for _ in range(n_utts - len(owners))]
    owners.sort()
    counters = [0] * len(spk.sessions)
    jobs = []
    for s in owners:
        counters[s] += 1
        sid, chan = spk.sessions[s]
        short = rng.random() < short_frac
        if short:
            n_sent, max_dur = 1, round(rng.uniform(1.3, 2.8), 2)
        else:
            n_sent = rng.choice((2, 2, 3))
            max_dur = None
        dp, dr = _jitter(rng, spk.voice)
        jobs.append({
            "kind": "speech",
            "out": f"{prefix}/{spk.spk_id}/{sid}/{counters[s]:05d}.{fmt}",
            "voice": spk.voice.to_dict(),
            "text": _utt_texts(rng, sentences, n_sent),
            "dpitch": dp,
            "drate": dr,
            "channel": chan.__dict__,
            "max_dur": max_dur,
            "fmt": fmt,
        })
    return jobs


def plan_vox(rng: random.Random, p: dict) -> dict:
    """All speakers and utterance jobs of the VoxCeleb2-like train set and the VoxCeleb1-like test set."""
    sentences = load_sentences()
    pool = VoicePool(rng)
    train_v, test_v, babble_v = choose_voices(
        rng, pool, p["num_train_speakers"], p["num_test_speakers"], p["num_babble_talkers"]
    )
    used_sessions: set = set()
    # VoxCeleb2 ids are sparse in id00012..id09272; VoxCeleb1 ids run from id10001 upwards
    train_nums = sorted(rng.sample(range(12, 9273), len(train_v)))
    train = [Speaker(f"id{n:05d}", v, "train") for n, v in zip(train_nums, train_v)]
    test = [Speaker(f"id{10001 + i:05d}", v, "test") for i, v in enumerate(test_v)]
    # the O list holds out the first half of the test pairs (Set = test), like VoxCeleb1's 40 test speakers
    n_pairs = len(test) // 2
    n_o = 2 * ((n_pairs + 1) // 2) if n_pairs else len(test)
    for spk in test[:n_o]:
        spk.subset = "test"
    babble = [Speaker(f"babble{i:04d}", v, "babble") for i, v in enumerate(babble_v)]

    fmt2 = p["vox2_format"]
    jobs: list[dict] = []
    for spk in train:
        jobs += plan_speaker_utts(rng, spk, p["sessions_per_speaker"], p["utts_per_speaker"], used_sessions,
                                  fmt2, "voxceleb2/dev/aac", sentences, short_frac=p["short_frac"])
    # guarantee at least one training utterance shorter than 3 s (the loaders must cope with them)
    if jobs and not any(j["max_dur"] for j in jobs):
        jobs[rng.randrange(len(jobs))]["max_dur"] = round(rng.uniform(1.3, 2.8), 2)
    test_jobs: list[dict] = []
    for spk in test:
        test_jobs += plan_speaker_utts(rng, spk, p["test_sessions_per_speaker"], p["test_utts_per_speaker"],
                                       used_sessions, "wav", "voxceleb1/wav", sentences, short_frac=0.0)
    babble_jobs = []
    for i, spk in enumerate(babble):
        chan = random_channel(rng)
        dp, dr = _jitter(rng, spk.voice)
        babble_jobs.append({
            "kind": "speech",
            "out": f"musan/speech/tts-babble/speech-tts-babble-{i:04d}.wav",
            "voice": spk.voice.to_dict(),
            "text": _utt_texts(rng, sentences, p["babble_sentences"], max_words=10_000),
            "dpitch": dp,
            "drate": dr,
            "channel": chan.__dict__,
            "max_dur": None,
            "fmt": "wav",
        })
    batches = batch_by_speaker(jobs) + batch_by_speaker(test_jobs) + [batch([j]) for j in babble_jobs]
    return {"train": train, "test": test, "babble": babble, "jobs": batches, "test_jobs": test_jobs,
            "pool": pool}


def batch(items: list[dict]) -> dict:
    """One worker job rendering several utterances (one ffmpeg call encodes all of their m4a files)."""
    return {"kind": "speech", "out": items[0]["out"], "outs": [it["out"] for it in items], "items": items}


def batch_by_speaker(items: list[dict]) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for it in items:
        groups.setdefault(it["out"].rsplit("/", 3)[1], []).append(it)
    return [batch(g) for g in groups.values()]


# ----------------------------------------------------------------------------------------- trials
def _test_utts(test_jobs: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """speaker -> [(session, 'idNNNNN/session/NNNNN.wav'), ...] in plan order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for j in test_jobs:
        key = "/".join(j["out"].split("/")[-3:])
        spk, sess, _ = key.split("/")
        out.setdefault(spk, []).append((sess, key))
    return out


def make_trials(rng: random.Random, utts: dict, speakers: list[Speaker], n_trials: int,
                hard: bool = False) -> list[tuple[int, str, str]]:
    """Roughly balanced target / non-target trials in VoxCeleb's `label enroll test` form.

    Targets pair different sessions of one speaker (same-session pairs only for a speaker with a single
    session); when there are fewer such pairs than n_trials / 2, the list gets shorter rather than
    unbalanced.  Non-targets pair two different speakers; with hard=True only speakers of the same
    engine and gender.
    """
    ids = [s.spk_id for s in speakers if s.spk_id in utts]
    pairs = []
    for spk in ids:
        u = utts[spk]
        cross = [(1, a[1], b[1]) for a in u for b in u if a[0] != b[0]]
        # same-session targets only for a speaker recorded in a single session
        pairs += cross or [(1, a[1], b[1]) for a in u for b in u if a[1] != b[1]]
    targets = rng.sample(pairs, min(n_trials // 2, len(pairs)))
    groups: dict = {}
    for s in speakers:
        if s.spk_id in utts:
            groups.setdefault(s.group if hard else "all", []).append(s.spk_id)
    groups = {g: m for g, m in groups.items() if len(m) >= 2}
    nontargets: set = set()
    want_nt = len(targets) if targets else n_trials // 2
    if groups:
        names = sorted(groups)
        weights = [len(groups[g]) for g in names]
        tries = 0
        while len(nontargets) < want_nt and tries < 50 * want_nt:
            tries += 1
            members = groups[rng.choices(names, weights)[0]]
            a, b = rng.sample(members, 2)
            nontargets.add((0, rng.choice(utts[a])[1], rng.choice(utts[b])[1]))
    trials = targets + sorted(nontargets)
    # grouped by enrolment utterance like the published lists; within a group, targets first
    trials.sort(key=lambda t: (t[1], -t[0], t[2]))
    return trials


def trial_lists(rng: random.Random, plan: dict, n_trials: int) -> dict[str, list]:
    utts = _test_utts(plan["test_jobs"])
    test = plan["test"]
    o_spk = [s for s in test if s.subset == "test"]
    return {
        "voxceleb1/veri_test2.txt": make_trials(rng, utts, o_spk, max(2, n_trials // 2)),
        "voxceleb1/list_test_all2.txt": make_trials(rng, utts, test, n_trials),
        "voxceleb1/list_test_hard2.txt": make_trials(rng, utts, test, n_trials, hard=True),
    }


def format_trials(trials: list[tuple[int, str, str]]) -> str:
    return "".join(f"{lab} {e} {t}\n" for lab, e, t in trials)


def vox1_meta(test: list[Speaker]) -> str:
    rows = [VOX1_META_HEADER]
    for s in test:
        rows.append(f"{s.spk_id}\t{s.voice.name}\t{s.voice.gender}\t{s.voice.engine}\t{s.subset}")
    return "\n".join(rows) + "\n"


def vox2_meta(train: list[Speaker]) -> str:
    rows = [VOX2_META_HEADER]
    for s in train:
        rows.append(f"{s.spk_id} ,n{s.spk_id[2:]:0>6} ,{s.voice.gender} ,dev ")
    return "\n".join(rows) + "\n"


def speakers_table(plan: dict) -> str:
    """Every talker of the corpus with its voice settings (used by tests and for inspection)."""
    rows = ["role\tid\tengine\tvoice\tgender\tpitch\trate\tnationality\tset"]
    for role in ("train", "test", "babble"):
        for s in plan[role]:
            v = s.voice
            rows.append(f"{role}\t{s.spk_id}\t{v.engine}\t{v.voice}\t{v.gender}\t{v.pitch:g}\t{v.rate:g}"
                        f"\t{v.nationality}\t{s.subset if role == 'test' else role}")
    return "\n".join(rows) + "\n"
