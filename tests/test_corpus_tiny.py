"""End-to-end checks on a generated tiny mini corpus (generated twice, once per module, for determinism)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.corpus import CorpusMismatchError, make_mini_corpus

TOOLS = ("espeak-ng", "flite", "sox", "ffmpeg", "fluidsynth")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason="needs espeak-ng flite sox ffmpeg fluidsynth"
)
SEED = 7


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini") / "corpora"
    info = make_mini_corpus(root, size="tiny", seed=SEED, nj=2)
    return Path(info["root"]), info


@pytest.fixture(scope="module")
def corpus_again(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini_again") / "corpora"
    info = make_mini_corpus(root, size="tiny", seed=SEED, nj=1)
    return Path(info["root"])


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _digest(root: Path) -> dict[str, str]:
    return {f: hashlib.md5((root / f).read_bytes()).hexdigest() for f in _files(root)}


def _speakers(root: Path) -> list[dict]:
    lines = (root / "mini_corpus_speakers.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


def test_layout(corpus):
    root, info = corpus
    files = _files(root)
    assert ".complete" in files
    vox2 = [f for f in files if f.startswith("voxceleb2/dev/aac/")]
    vox1 = [f for f in files if f.startswith("voxceleb1/wav/")]
    assert len(vox2) == 16 and len(vox1) == 24
    for f in vox2:
        assert re.fullmatch(r"voxceleb2/dev/aac/id0\d{4}/[A-Za-z0-9_-]{11}/\d{5}\.m4a", f), f
    for f in vox1:
        assert re.fullmatch(r"voxceleb1/wav/id1\d{4}/[A-Za-z0-9_-]{11}/\d{5}\.wav", f), f
    for f in ("veri_test2.txt", "list_test_all2.txt", "list_test_hard2.txt", "vox1_meta.csv"):
        assert f"voxceleb1/{f}" in files
    for kind in ("noise", "music", "speech"):
        clips = [f for f in files if f.startswith(f"musan/{kind}/") and f.endswith(".wav")]
        assert clips, kind
        for f in clips:
            assert re.fullmatch(rf"musan/{kind}/([\w-]+)/{kind}-\1-\d{{4}}\.wav", f), f
    rirs = [f for f in files if f.startswith("RIRS_NOISES/") and f.endswith(".wav")]
    assert len(rirs) == 3
    for rtype in ("smallroom", "mediumroom", "largeroom"):
        lines = (root / f"RIRS_NOISES/simulated_rirs/{rtype}/rir_list").read_text().splitlines()
        for ln in lines:
            path = ln.split()[-1]
            assert (root.parent / path).is_file() or (root / path).is_file()
    assert not [f for f in files if f.endswith((".part", ".tmp"))]
    assert Path(info["trials"]["O"]).is_file() and Path(info["voxceleb2_dev"]).is_dir()


def test_audio_format(corpus):
    root, _ = corpus
    for path in sorted([*root.rglob("*.wav"), *root.rglob("*.flac")]):
        meta = sf.info(str(path))
        assert (meta.samplerate, meta.channels, meta.subtype) == (16000, 1, "PCM_16"), path
        assert meta.frames > 1000, path
    m4a = sorted(root.rglob("*.m4a"))
    # decode like the recipe's wav.scp pipe does
    out = subprocess.run(["ffmpeg", "-v", "8", "-i", str(m4a[0]), "-f", "wav", "-acodec", "pcm_s16le", "-"],
                         capture_output=True, check=True).stdout
    x, sr = sf.read(io.BytesIO(out))
    assert sr == 16000 and x.ndim == 1 and len(x) > 8000 and np.max(np.abs(x)) > 0.05


def test_some_training_utterances_are_short(corpus):
    root, _ = corpus
    durs = []
    for path in root.rglob("*.m4a"):
        res = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(path)], capture_output=True, text=True, check=True)
        durs.append(float(res.stdout))
    assert min(durs) < 3.0
    assert max(durs) > 4.0


def test_trials_and_meta(corpus):
    root, _ = corpus
    spk = {s["id"]: s for s in _speakers(root)}
    seen_lists = 0
    for name in ("veri_test2.txt", "list_test_all2.txt", "list_test_hard2.txt"):
        lines = (root / "voxceleb1" / name).read_text().splitlines()
        assert lines
        labels = []
        for ln in lines:
            lab, enr, tst = ln.split(" ")
            assert lab in ("0", "1")
            assert (root / "voxceleb1/wav" / enr).is_file() and (root / "voxceleb1/wav" / tst).is_file()
            a, b = enr.split("/")[0], tst.split("/")[0]
            assert (lab == "1") == (a == b)
            if lab == "0" and name == "list_test_hard2.txt":
                assert (spk[a]["engine"], spk[a]["gender"]) == (spk[b]["engine"], spk[b]["gender"])
            labels.append(int(lab))
        assert 0.35 <= np.mean(labels) <= 0.65
        seen_lists += 1
    assert seen_lists == 3
    meta = (root / "voxceleb1/vox1_meta.csv").read_text().splitlines()
    assert meta[0] == "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"
    for row in meta[1:]:
        sid, name, gender, nat, subset = row.split("\t")
        assert spk[sid]["gender"] == gender and spk[sid]["engine"] == nat and subset in ("dev", "test")


def test_speaker_sets_disjoint(corpus):
    root, _ = corpus
    rows = _speakers(root)
    by_role = {r: [s for s in rows if s["role"] == r] for r in ("train", "test", "babble")}
    assert all(by_role.values())
    assert not {s["id"] for s in by_role["train"]} & {s["id"] for s in by_role["test"]}
    key = lambda s: (s["engine"], s["voice"], s["pitch"], s["rate"])  # noqa: E731
    assert not {key(s) for s in by_role["train"]} & {key(s) for s in by_role["test"]}
    timbre = lambda s: (s["engine"], s["voice"])  # noqa: E731
    corpus_timbres = {timbre(s) for s in by_role["train"] + by_role["test"]}
    assert not corpus_timbres & {timbre(s) for s in by_role["babble"]}
    on_disk = {p.name for p in (root / "voxceleb2/dev/aac").iterdir()}
    assert on_disk == {s["id"] for s in by_role["train"]}


def test_rirs_decay(corpus):
    root, _ = corpus
    for path in sorted((root / "RIRS_NOISES").rglob("*.wav")):
        h, sr = sf.read(str(path))
        assert sr == 16000 and h.ndim == 1
        peak = int(np.argmax(np.abs(h)))
        n = len(h) - peak
        head = np.sum(h[peak:peak + n // 4] ** 2)
        tail = np.sum(h[len(h) - n // 4:] ** 2)
        assert tail < 0.05 * head, path


def test_deterministic(corpus, corpus_again):
    root, _ = corpus
    a, b = _digest(root), _digest(corpus_again)
    assert sorted(a) == sorted(b)
    for name in ("voxceleb1/veri_test2.txt", "voxceleb1/list_test_all2.txt", "voxceleb1/list_test_hard2.txt"):
        assert a[name] == b[name]
    differing = sorted(f for f in a if a[f] != b[f])
    assert differing == [], f"audio not byte-identical: {differing[:5]}"


def test_stamp_noop_and_mismatch(corpus):
    root, _ = corpus
    stamp = json.loads((root / ".complete").read_text())
    assert stamp["seed"] == SEED and stamp["size"] == "tiny"
    t0 = time.time()
    info = make_mini_corpus(root, size="tiny", seed=SEED)
    assert info["noop"] is True and time.time() - t0 < 2.0
    with pytest.raises(CorpusMismatchError, match="seed"):
        make_mini_corpus(root, size="tiny", seed=SEED + 1)
    with pytest.raises(CorpusMismatchError, match="vox2_format"):
        make_mini_corpus(root, size="tiny", seed=SEED, vox2_format="wav")


def test_force_and_wav_format(tmp_path):
    """A minimal corpus: wav training audio, then regenerated over with --force."""
    small = dict(num_train_speakers=1, utts_per_speaker=2, num_test_speakers=2, test_utts_per_speaker=2,
                 num_rirs=0, num_music=0, num_noise=1, num_babble_talkers=1, babble_sentences=1)
    info = make_mini_corpus(tmp_path, size="tiny", seed=1, nj=2, vox2_format="wav", **small)
    wavs = sorted((tmp_path / "voxceleb2").rglob("*.wav"))
    assert len(wavs) == 2 and not list(tmp_path.rglob("*.m4a"))
    assert info["noop"] is False
    (tmp_path / "voxceleb2" / "stray.txt").write_text("x")
    make_mini_corpus(tmp_path, size="tiny", seed=2, nj=2, vox2_format="wav", force=True, **small)
    assert not (tmp_path / "voxceleb2" / "stray.txt").exists()
    assert json.loads((tmp_path / ".complete").read_text())["seed"] == 2


def test_resume_after_interruption(tmp_path):
    """Without a .complete stamp but with matching .params, a re-run finishes only what is missing."""
    small = dict(num_train_speakers=1, utts_per_speaker=3, num_test_speakers=2, test_utts_per_speaker=2,
                 num_rirs=0, num_music=0, num_noise=0, num_babble_talkers=0)
    make_mini_corpus(tmp_path, size="tiny", seed=3, nj=1, **small)
    before = _digest(tmp_path)
    victim = sorted(tmp_path.rglob("*.m4a"))[1]
    victim.unlink()
    (tmp_path / ".complete").unlink()
    part = victim.parent / ".00009.m4a.abc.part"
    part.write_bytes(b"half")
    info = make_mini_corpus(tmp_path, size="tiny", seed=3, nj=1, **small)
    assert info["noop"] is False and not part.exists()
    assert _digest(tmp_path) == before


def test_evaluation_set_stand_ins_prepare(corpus, tmp_path):
    """Every stand-in goes through its real preparation, as run.sh's stage 0 does it."""
    from ssrfnet.kaldi.datadir import load_data_dir
    from ssrfnet.kaldi.trials import read_trials
    from ssrfnet.prep.evalsets import PREPARERS

    root, info = corpus
    data = tmp_path / "data"
    for name, path in zip(PREPARERS, info["evalsets"].values()):
        if name == "vcmix":
            PREPARERS[name](path, info["voxceleb1"], data, nj=2)
        else:
            PREPARERS[name](path, data, nj=2)
        utts = load_data_dir(data / name).utts
        assert json.loads((data / name / "corpus.json").read_text())["corpus"] == "mini"
        for trials_file in sorted((data / name / "trials").glob("*.kaldi")):
            labels = {t[2] for t in read_trials(trials_file, utts=utts)}
            assert labels == {True, False}, trials_file
    lists = sorted(p.name for p in data.glob("*/trials/*.kaldi"))
    assert lists == ["cnceleb1_eval.kaldi", "sitw_dev_core-core.kaldi", "sitw_eval_core-core.kaldi",
                     "vcmix_test.kaldi", "voices_dev.kaldi", "voices_eval.kaldi", "voxsrc23_test.kaldi"]
    enrol = [line for line in (data / "cnceleb/wav.scp").read_text().splitlines() if "-enroll " in line]
    assert enrol and all(line.split(maxsplit=1)[1].startswith("sox ") for line in enrol)
