"""Fast checks of the mini-corpus planner and generators (no TTS, no audio files on disk)."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest

from ssrfnet.corpus import CorpusMismatchError, MissingToolError, make_mini_corpus, require_tools
from ssrfnet.corpus.build import STAMP, plan_corpus, planned_files, resolve_params
from ssrfnet.corpus.musan import NOISE_KINDS, make_song, synth_noise
from ssrfnet.corpus.rirs import plan_rirs, rir_lists
from ssrfnet.corpus.text import MAX_WORDS, MIN_WORDS, load_sentences, sentences_from_text


@pytest.fixture(scope="module")
def default_plan():
    return plan_corpus(resolve_params("default", seed=11))


def _speakers(plan, role):
    return plan["vox"][role]


def test_sentences_are_clean():
    pool = load_sentences()
    assert len(pool) >= 50
    assert list(pool) == sorted(set(pool))
    for s in pool[:500]:
        assert MIN_WORDS <= len(s.split()) <= MAX_WORDS
        assert s[0].isupper() and s[-1] in ".!?"
    text = "Hello.\n%\nThis is a short but perfectly good sentence for speaking aloud.\n\t\t-- Someone\n%\n"
    assert sentences_from_text(text) == ["This is a short but perfectly good sentence for speaking aloud."]


def test_plan_is_deterministic_and_seed_dependent():
    a = planned_files(resolve_params("tiny", seed=3))
    b = planned_files(resolve_params("tiny", seed=3))
    c = planned_files(resolve_params("tiny", seed=4))
    assert a == b
    assert a != c
    pa = plan_corpus(resolve_params("tiny", seed=3))
    pb = plan_corpus(resolve_params("tiny", seed=3))
    assert pa["texts"] == pb["texts"]
    assert json.dumps(pa["jobs"], sort_keys=True) == json.dumps(pb["jobs"], sort_keys=True)


def test_speaker_sets_disjoint(default_plan):
    train = _speakers(default_plan, "train")
    test = _speakers(default_plan, "test")
    babble = _speakers(default_plan, "babble")
    assert len(train) == 40 and len(test) == 20 and len(babble) == 8
    ids_train = {s.spk_id for s in train}
    ids_test = {s.spk_id for s in test}
    assert not ids_train & ids_test
    assert all(re.fullmatch(r"id0\d{4}", i) for i in ids_train)
    assert sorted(ids_test) == [f"id{10001 + i}" for i in range(20)]
    voices = [s.voice for s in train + test + babble]
    assert len(set(voices)) == len(voices)  # no speaker identity reused anywhere
    # babble talkers: not even the timbre (engine + voice) of any corpus speaker
    corpus_timbres = {v.timbre for v in (s.voice for s in train + test)}
    assert not corpus_timbres & {s.voice.timbre for s in babble}
    # espeak-ng timbres are never shared between speakers
    esp = [v.timbre for v in voices if v.engine == "espeak-ng"]
    assert len(set(esp)) == len(esp)
    engines = {v.engine for v in voices}
    assert {"espeak-ng", "flite"} <= engines
    assert {v.gender for v in voices} == {"m", "f"}


def test_sessions_and_short_utterances(default_plan):
    items = [it for j in default_plan["jobs"] if j["kind"] == "speech" for it in j["items"]]
    train = [it for it in items if it["out"].startswith("voxceleb2/dev/aac/")]
    assert len(train) == 40 * 16
    for it in train:
        assert re.fullmatch(r"voxceleb2/dev/aac/id\d{5}/[A-Za-z0-9_-]{11}/\d{5}\.m4a", it["out"])
    assert any(it["max_dur"] and it["max_dur"] < 3 for it in train)
    sessions = {}
    for it in train:
        spk, sess = it["out"].split("/")[3:5]
        sessions.setdefault(spk, set()).add(sess)
    assert all(len(s) == 4 for s in sessions.values())
    # utterances are numbered from 00001 within each session
    per_sess = {}
    for it in train:
        per_sess.setdefault(it["out"].rsplit("/", 1)[0], []).append(it["out"].rsplit("/", 1)[1])
    for names in per_sess.values():
        assert names == [f"{i:05d}.m4a" for i in range(1, len(names) + 1)]


def test_trial_lists(default_plan):
    test = {s.spk_id: s for s in _speakers(default_plan, "test")}
    utts = {it["out"].split("/", 2)[2] for j in default_plan["jobs"] if j["kind"] == "speech"
            for it in j["items"] if it["out"].startswith("voxceleb1/wav/")}
    lists = default_plan["texts"]
    for name in ("veri_test2.txt", "list_test_all2.txt", "list_test_hard2.txt"):
        lines = lists[f"voxceleb1/{name}"].splitlines()
        assert len(lines) >= 200, name
        assert len(set(lines)) == len(lines)
        labels = []
        for line in lines:
            lab, enr, tst = line.split(" ")
            assert lab in ("0", "1") and enr in utts and tst in utts and enr != tst
            s1, s2 = enr.split("/")[0], tst.split("/")[0]
            assert (lab == "1") == (s1 == s2)
            if lab == "1":
                assert enr.split("/")[1] != tst.split("/")[1]  # different sessions
            elif name == "list_test_hard2.txt":
                assert test[s1].group == test[s2].group
            if name == "veri_test2.txt":
                assert test[s1].subset == "test" and test[s2].subset == "test"
            labels.append(int(lab))
        assert 0.4 <= np.mean(labels) <= 0.6, name
    e_spk = {ln.split()[1].split("/")[0] for ln in lists["voxceleb1/list_test_all2.txt"].splitlines()}
    o_spk = {ln.split()[1].split("/")[0] for ln in lists["voxceleb1/veri_test2.txt"].splitlines()}
    assert o_spk < e_spk
    meta = lists["voxceleb1/vox1_meta.csv"].splitlines()
    assert meta[0].split("\t") == ["VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"]
    assert len(meta) == 21 and all(len(r.split("\t")) == 5 for r in meta)


def test_noise_and_music_generators():
    for kind in NOISE_KINDS:
        x = synth_noise(kind, 1.0, 5)
        assert x.dtype == np.float32 and len(x) == 16000
        assert 0 < np.max(np.abs(x)) <= 1.0
        np.testing.assert_array_equal(x, synth_noise(kind, 1.0, 5))
    midi, info = make_song(9, 8.0)
    assert midi == make_song(9, 8.0)[0]
    assert midi[:4] == b"MThd"
    _, fmt, ntrk, ppq = struct.unpack(">IHHH", midi[4:14])
    assert fmt == 1 and ppq == 480 and ntrk >= 4
    pos, seen = 14, 0
    while pos < len(midi):  # every chunk is a well-formed MTrk ending in End-of-Track
        assert midi[pos:pos + 4] == b"MTrk"
        (length,) = struct.unpack(">I", midi[pos + 4:pos + 8])
        assert midi[pos + 8 + length - 3:pos + 8 + length] == b"\xff\x2f\x00"
        pos += 8 + length
        seen += 1
    assert seen == ntrk and pos == len(midi)


def test_rir_plan_layout():
    import random

    jobs = plan_rirs(random.Random(0), 10, 2)
    outs = [o for j in jobs for o in j["outs"]]
    assert len(outs) == 10
    for o in outs:
        m = re.fullmatch(r"RIRS_NOISES/simulated_rirs/(small|medium|large)room/"
                         r"(Room\d{3})/(Room\d{3})-\d{5}\.wav", o)
        assert m and m.group(2) == m.group(3)
    for j in jobs:
        lo, hi = {"smallroom": (3, 5), "mediumroom": (5, 10), "largeroom": (10, 20)}[j["room_type"]]
        assert all(lo <= d <= hi for d in j["dims"][:2])
        assert 0.2 <= j["rt60"] <= 1.2
    lists = rir_lists(jobs)
    line = lists["RIRS_NOISES/simulated_rirs/smallroom/rir_list"].splitlines()[0]
    assert re.fullmatch(r"--rir-id smallroom-Room001-00001 --room-id smallroom-Room001 "
                        r"RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001\.wav", line)


def test_refuses_foreign_or_mismatched_root(tmp_path):
    (tmp_path / "other.txt").write_text("not a corpus")
    with pytest.raises(CorpusMismatchError, match="refusing"):
        make_mini_corpus(tmp_path, size="tiny", seed=1)
    stamp_dir = tmp_path / "b"
    stamp_dir.mkdir()
    params = resolve_params("tiny", seed=2)
    (stamp_dir / STAMP).write_text(json.dumps(params))
    (stamp_dir / "voxceleb1").mkdir()
    with pytest.raises(CorpusMismatchError, match="seed"):
        make_mini_corpus(stamp_dir, size="tiny", seed=1)
    # same parameters and a stamp: a no-op that does not even look for the TTS binaries
    info = make_mini_corpus(stamp_dir, size="tiny", seed=2)
    assert info["noop"] is True


def test_missing_tool_names_package(monkeypatch):
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n in ("flite", "text2wave") else real_which(n))
    with pytest.raises(MissingToolError, match=r"apt-get install festival festvox-kdlpc16k flite"):
        require_tools(["sox", "flite", "text2wave"])


def test_bad_parameters():
    with pytest.raises(ValueError):
        resolve_params("huge")
    with pytest.raises(ValueError):
        resolve_params("tiny", vox2_format="flac")
    with pytest.raises(ValueError):
        resolve_params("tiny", num_test_speakers=1)
