"""The mini corpus' evaluation-set stand-ins, planned only (no TTS): layouts, labels, voices, extension."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.corpus import evalsets
from ssrfnet.corpus.build import (
    STAMP,
    CorpusMismatchError,
    check_root,
    plan_corpus,
    planned_files,
    resolve_params,
)
from ssrfnet.corpus.evalsets import EVAL_DIRS
from ssrfnet.prep.common import MINI_CORPUS_STAMP


@pytest.fixture(scope="module")
def plan():
    return plan_corpus(resolve_params("tiny", seed=5))


def _voice_of(plan) -> dict[str, str]:
    """Planned audio file -> the name of the voice speaking it (the main talker for mixtures)."""
    out = {}
    for job in plan["evalsets"]["jobs"]:
        if job["kind"] == "speech":
            out.update({it["out"]: json.dumps(it["voice"], sort_keys=True) for it in job["items"]})
        elif job["kind"] == "mix":
            for seg in job["segments"]:
                out[seg["out"]] = json.dumps(job["sources"][seg["main"]]["voice"], sort_keys=True)
        else:
            out.update({it["out"]: json.dumps(it["source"]["voice"], sort_keys=True) for it in job["items"]})
    return out


def _lines(plan, path: str) -> list[list[str]]:
    return [line.split() for line in plan["texts"][path].splitlines()]


def test_layouts_as_distributed(plan):
    outs = sorted(_voice_of(plan))
    patterns = [
        r"voxsrc23/VoxSRC2023_test/\d{6}\.wav",
        r"vcmix/voxconverse_test_SV/([a-z]{5})/\1_spk0[01]_\d{3}\.wav",
        r"VOiCES/sid_dev/sp(\d{4})/Lab41-SRI-VOiCES-rm1-(none|babb|musi|tele)-sp\1-ch\d{6}-sg\d{4}-mc0[123]-stu-"
        r"(clo|mid|far)-dg\d{3}\.wav",
        r"VOiCES/sid_eval/[a-z]{8}\.wav",
        r"CN-Celeb_flac/data/id00[89]\d\d/[a-z_]+-01-\d{3}\.flac",
        r"CN-Celeb_flac/eval/test/id00[89]\d\d-[a-z_]+-02-\d{3}\.flac",
        r"sitw/(dev|eval)/audio/[a-z]{5}\.flac",
    ]
    for out in outs:
        assert any(re.fullmatch(p, out) for p in patterns), out
    for pattern in patterns:
        assert any(re.fullmatch(pattern, out) for out in outs), pattern
    assert {out.split("/")[0] for out in outs} == set(EVAL_DIRS)
    # no pre-concatenated CN-Celeb enrolment files: the recipe concatenates them itself
    assert not any("eval/enroll/" in out for out in outs)
    assert "CN-Celeb_flac/eval/lists/enroll.lst" not in plan["texts"]


def test_every_list_names_planned_audio_with_the_right_label(plan):
    voice = _voice_of(plan)
    checks = 0
    for lab, a, b in _lines(plan, "voxsrc23/VoxSRC2023_test.txt"):
        a, b = (f"voxsrc23/VoxSRC2023_test/{x}" for x in (a, b))
        assert (lab == "1") == (voice[a] == voice[b])
        checks += 1
    base = "vcmix/voxconverse_test_SV"
    for lab, a, b in _lines(plan, f"{base}/trials_wo_overlap.txt"):
        assert (lab == "1") == (voice[f"{base}/{a}"] == voice[f"{base}/{b}"])
        checks += 1
    for part, keys, enroll_list in (
        (
            "dev",
            "VOiCES/sid_dev_lists_and_keys/dev-trial-keys.lst",
            "VOiCES/sid_dev_lists_and_keys/dev-enroll.lst",
        ),
        (
            "eval",
            "VOiCES/VOiCES_challenge_2019_post-eval-release/VOiCES_challenge_2019_eval.SID.trial-keys.lst",
            "VOiCES/sid_eval_lists/eval-enroll.lst",
        ),
    ):
        model = {m: f"VOiCES/{rel}" for m, rel in _lines(plan, enroll_list)}
        for m, test, lab in _lines(plan, keys):
            test = f"VOiCES/{test}" if part == "dev" else f"VOiCES/sid_eval/{test}"
            assert (lab == "tgt") == (voice[model[m]] == voice[test])
            checks += 1
    enroll = {
        m: [f"CN-Celeb_flac/data/{f[:-4]}.flac" for f in files]
        for m, *files in _lines(plan, "CN-Celeb_flac/eval/lists/enroll.map")
    }
    assert all(len(files) == 2 for files in enroll.values())  # several enrolment utterances per speaker
    for m, test, lab in _lines(plan, "CN-Celeb_flac/eval/lists/trials.lst"):
        assert len({voice[f] for f in enroll[m]}) == 1
        assert (lab == "1") == (voice[enroll[m][0]] == voice[f"CN-Celeb_flac/eval/{test[:-4]}.flac"])
        checks += 1
    for part in ("dev", "eval"):
        model = {m: f"sitw/{part}/{rel}" for m, rel in _lines(plan, f"sitw/{part}/lists/enroll-core.lst")}
        for m, test, lab in _lines(plan, f"sitw/{part}/keys/core-core.lst"):
            assert (lab == "tgt") == (voice[model[m]] == voice[f"sitw/{part}/{test}"])
            checks += 1
    assert checks > 40


def test_both_labels_in_every_list(plan):
    for path, text in plan["evalsets"]["texts"].items():
        if "trial" in path or path.endswith(("core-core.lst", "VoxSRC2023_test.txt")):
            labels = {line.split()[0 if path.endswith(".txt") else -1] for line in text.splitlines()}
            assert len(labels) == 2, path


def test_mixtures_pair_the_two_talkers_of_a_recording(plan):
    for job in (j for j in plan["evalsets"]["jobs"] if j["kind"] == "mix"):
        for seg in job["segments"]:
            main, other = job["sources"][seg["main"]], job["sources"][seg["other"]]
            assert main["voice"] != other["voice"] and 8 <= seg["sir_db"] <= 18
            assert main["channel"] == other["channel"]  # one programme, one channel


def test_stand_in_voices_are_new_talkers(plan):
    def key(v):
        return (v.engine, v.voice, v.pitch, v.rate)

    corpus = {key(s.voice) for role in ("train", "test", "babble") for s in plan["vox"][role]}
    stand_ins = {key(v) for v in plan["evalsets"]["voices"]}
    assert len(stand_ins) == len(plan["evalsets"]["voices"]) == 4 and not corpus & stand_ins
    rows = [
        line for line in plan["texts"]["mini_corpus_speakers.tsv"].splitlines() if line.startswith("eval\t")
    ]
    assert len(rows) == 4


def test_adding_the_stand_ins_leaves_the_rest_of_the_corpus_as_it_was():
    with_sets = plan_corpus(resolve_params("tiny", seed=9))
    without = plan_corpus(resolve_params("tiny", seed=9, evalset_speakers=0))
    assert json.dumps(without["jobs"], sort_keys=True) == json.dumps(
        with_sets["jobs"][: len(without["jobs"])], sort_keys=True
    )
    for path, text in without["texts"].items():
        if path != "mini_corpus_speakers.tsv":
            assert with_sets["texts"][path] == text, path
    extra = set(planned_files(resolve_params("tiny", seed=9))) - set(
        planned_files(resolve_params("tiny", seed=9, evalset_speakers=0))
    )
    assert extra and {f.split("/")[0] for f in extra} == set(EVAL_DIRS)


def test_a_corpus_from_before_the_stand_ins_is_extended_not_refused(tmp_path: Path):
    want = json.loads(json.dumps(resolve_params("tiny", seed=9), sort_keys=True))
    old = {k: v for k, v in want.items() if not k.startswith("evalset_")}
    tmp_path.joinpath(STAMP).write_text(json.dumps(old))
    (tmp_path / "voxceleb1").mkdir()
    assert check_root(tmp_path, want, force=False) == "resume"
    tmp_path.joinpath(STAMP).write_text(json.dumps({**old, "seed": 10}))
    with pytest.raises(CorpusMismatchError, match="seed"):
        check_root(tmp_path, want, force=False)


def test_size_checks_and_the_shared_stamp_name():
    assert MINI_CORPUS_STAMP == STAMP
    with pytest.raises(ValueError, match="at least 2 speakers and 2 utterances"):
        resolve_params("tiny", evalset_utts=1)
    assert plan_corpus(resolve_params("tiny", evalset_speakers=0))["evalsets"]["jobs"] == []


def _fake_tts(monkeypatch, signals):
    monkeypatch.setattr(evalsets, "_tts_samples", lambda src, tmpdir, n: signals[n])


def test_mixture_rendering_puts_the_other_talker_underneath(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    main, other = rng.standard_normal(16000), rng.standard_normal(8000)
    _fake_tts(monkeypatch, [main, other])
    job = {
        "sources": [{}, {}],
        "segments": [{"out": "seg.wav", "main": 0, "other": 1, "sir_db": 12.0, "offset": 0.25}],
    }
    evalsets.render_mix(job, tmp_path, str(tmp_path))
    mixed, sr = sf.read(tmp_path / "seg.wav")
    under = mixed - main * (mixed[:4000] @ main[:4000]) / (main[:4000] @ main[:4000])
    assert sr == 16000 and len(mixed) == 16000
    assert np.max(np.abs(under[:4000])) < 1e-3  # the other talker starts at the offset
    part = under[4000:12000]
    sir = 10 * np.log10(np.mean((mixed[4000:12000] - part) ** 2) / np.mean(part**2))
    # 12 dB over the whole main utterance, so 3 dB less where the other talker (half as long) is present
    assert sir == pytest.approx(12.0 - 10 * np.log10(2), abs=0.3)


def test_room_rendering_reverberates_and_adds_the_distractor(tmp_path, monkeypatch):
    dry = np.zeros(8000)
    dry[100] = 1.0
    _fake_tts(monkeypatch, [dry, dry])
    job = {
        "dims": [6.0, 5.0, 3.0],
        "rt60": 0.5,
        "src": [1.0, 2.5, 1.5],
        "mics": [[1.7, 2.5, 1.2], [4.5, 2.5, 1.2]],
        "items": [
            {"out": "near.wav", "source": {}, "mic": 0, "noise": None, "snr": 10.0, "seed": 1},
            {"out": "far.wav", "source": {}, "mic": 1, "noise": "coloured", "snr": 5.0, "seed": 2},
        ],
    }
    evalsets.render_room(job, tmp_path, str(tmp_path))
    near, _ = sf.read(tmp_path / "near.wav")
    far, _ = sf.read(tmp_path / "far.wav")
    assert len(near) == len(far) == 8000 + 4000  # the reverberant tail is kept
    # the direct sound arrives later at the far microphone, and the near one's tail decays
    assert np.argmax(np.abs(far)) > np.argmax(np.abs(near))
    assert np.sum(near[-2000:] ** 2) < 0.01 * np.sum(near**2)
    assert np.sum(far[-2000:] ** 2) > 10 * np.sum(near[-2000:] ** 2)  # the noise runs to the end
