"""Stage 1: MUSAN/RIR data dirs and packed audio (round trip, staleness, bad input)."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.audio import read_audio
from ssrfnet.data.packed import PackedAudio, PackError, write_pack
from ssrfnet.kaldi.datadir import load_data_dir, validate
from ssrfnet.prep.augment_sets import prepare_augmentation
from ssrfnet.prep.common import PrepError

from helpers import REPO

SETS = ("musan_noise", "musan_music", "musan_speech", "rirs")


def _wav(path: Path, n: int, seed: int, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).uniform(-0.9, 0.9, n)
    sf.write(path, x, rate, subtype="PCM_16")


def make_aug_corpus(root: Path) -> tuple[Path, Path]:
    musan, rirs = root / "musan", root / "RIRS_NOISES"
    seed = 0
    for category, source in (("noise", "free-sound"), ("music", "fma"), ("speech", "librivox")):
        for i in range(2):
            seed += 1
            _wav(musan / category / source / f"{category}-{source}-{i:04d}.wav", 800 + 100 * seed, seed)
    (musan / "README").write_text("not audio\n")
    _wav(musan / "noise" / "other" / "x.wav", 500, 99)
    for room in ("smallroom", "mediumroom", "largeroom"):
        for r in (1, 2):
            seed += 1
            _wav(rirs / "simulated_rirs" / room / f"Room{r:03d}" / f"Room{r:03d}-00001.wav", 300 + seed, seed)
    return musan, rirs


def snapshot(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    musan, rirs = make_aug_corpus(root)
    data = root / "data"
    proc = subprocess.run(
        ["bash", "local/prepare_augmentation.sh", "--nj", "2", str(musan), str(rirs), str(data)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, LC_ALL="C"),
    )
    assert proc.returncode == 0, proc.stderr
    return root, musan, rirs, data


def test_sets(prepared):
    _, musan, _, data = prepared
    for name in SETS:
        validate(data / name)
    noise = load_data_dir(data / "musan_noise")
    assert noise.utts == ["noise-free-sound-0000", "noise-free-sound-0001", "noise-other-x"]
    assert noise.wav("noise-other-x") == str((musan / "noise/other/x.wav").absolute())
    assert noise.dur("noise-other-x") == 500 / 16000
    rirs = load_data_dir(data / "rirs")
    assert rirs.utts[0] == "largeroom-Room001-00001" and len(rirs) == 6
    assert "smallroom-Room002-00001" in rirs.utts


def test_packed_round_trip(prepared):
    _, _, _, data = prepared
    for name in SETS:
        d = load_data_dir(data / name)
        pa = PackedAudio(data / name)
        assert len(pa) == len(d) and pa.keys == d.utts
        for i, key in enumerate(pa.keys):
            ref = read_audio(d.wav(key))
            clip = pa[i]
            assert clip.dtype == np.float32 and np.array_equal(clip, ref)
            assert pa.num_samples(i) == len(ref) == round(d.dur(key) * 16000)
            assert np.array_equal(pa.segment(i, 10, 50), ref[10:60])
        assert pa.index(pa.keys[-1]) == len(pa) - 1
        with pytest.raises(ValueError, match="outside clip"):
            pa.segment(0, pa.num_samples(0) - 5, 10)
        with pytest.raises(IndexError):
            pa[len(pa)]
    pa = PackedAudio(data / "rirs")
    assert isinstance(pa.audio, np.memmap) and not pa.audio.flags.writeable
    clone = pickle.loads(pickle.dumps(pa))
    assert clone._audio is None and np.array_equal(clone[2], pa[2])
    assert len(pickle.dumps(pa)) < 10_000


def test_rerun_identical(prepared):
    _, musan, rirs, data = prepared
    before = snapshot(data)
    prepare_augmentation(musan, rirs, data, nj=1)
    assert snapshot(data) == before and not list(data.glob("*.bak"))


def test_stale_pack(tmp_path):
    musan, rirs = make_aug_corpus(tmp_path)
    data = tmp_path / "data"
    prepare_augmentation(musan, rirs, data, nj=1)
    d = data / "musan_music"
    PackedAudio(d, verify_audio=True)
    wav = (d / "wav.scp").read_text().splitlines(keepends=True)
    (d / "wav.scp").write_text("".join(wav[:1]))
    with pytest.raises(PackError, match="stale pack.*wav.scp changed"):
        PackedAudio(d)
    write_pack(d)
    assert len(PackedAudio(d)) == 1
    raw = bytearray((d / "packed/audio.npy").read_bytes())
    raw[-1] ^= 0xFF
    (d / "packed/audio.npy").write_bytes(bytes(raw))
    PackedAudio(d)  # size unchanged: the cheap check passes, the full one does not
    with pytest.raises(PackError, match="checksum differs"):
        PackedAudio(d, verify_audio=True)
    (d / "packed/audio.npy").write_bytes(bytes(raw[:-2]))
    with pytest.raises(PackError, match="size differs"):
        PackedAudio(d)
    (d / "packed/manifest.json").unlink()
    with pytest.raises(PackError, match="no packed audio"):
        PackedAudio(d)
    with pytest.raises(PackError, match="no packed audio"):
        PackedAudio(tmp_path / "nowhere")


def test_changed_source_repacks(tmp_path):
    musan, rirs = make_aug_corpus(tmp_path)
    data = tmp_path / "data"
    prepare_augmentation(musan, rirs, data, nj=1)
    path = musan / "music/fma/music-fma-0001.wav"
    _wav(path, 1234, 7)
    os.utime(path, None)
    prepare_augmentation(musan, rirs, data, nj=1)
    pa = PackedAudio(data / "musan_music", verify_audio=True)
    assert np.array_equal(pa[pa.index("music-fma-0001")], read_audio(str(path)))
    assert (data / "musan_music.bak").is_dir() and not (data / "musan_noise.bak").exists()


def _expect(tmp_path, corrupt, message):
    musan, rirs = make_aug_corpus(tmp_path)
    data = tmp_path / "data"
    prepare_augmentation(musan, rirs, data, nj=1)
    before = snapshot(data)
    corrupt(musan, rirs)
    with pytest.raises(PrepError, match=message):
        prepare_augmentation(musan, rirs, data, nj=2)
    assert snapshot(data) == before
    assert sorted(p.name for p in data.iterdir()) == sorted(SETS)


def test_empty_category(tmp_path):
    _expect(tmp_path, lambda m, r: shutil.rmtree(m / "speech/librivox"), r"musan/speech: no .wav files")


def test_missing_room(tmp_path):
    _expect(
        tmp_path,
        lambda m, r: shutil.rmtree(r / "simulated_rirs/largeroom"),
        r"simulated_rirs/largeroom: missing simulated RIR directory",
    )


def test_wrong_rate(tmp_path):
    _expect(
        tmp_path,
        lambda m, r: _wav(m / "music/fma/music-fma-0000.wav", 900, 1, rate=44100),
        r"musan_music: utterance music-fma-0000 .*sample rate is 44100 Hz",
    )


def test_empty_wav(tmp_path):
    _expect(
        tmp_path,
        lambda m, r: (r / "simulated_rirs/smallroom/Room001/Room001-00001.wav").write_bytes(b""),
        r"rirs: utterance smallroom-Room001-00001 .*Room001-00001.wav",
    )


def test_not_musan(tmp_path):
    with pytest.raises(PrepError, match="not a MUSAN directory"):
        prepare_augmentation(tmp_path, tmp_path, tmp_path / "data")


def test_script_usage():
    proc = subprocess.run(
        ["bash", "local/prepare_augmentation.sh", "a"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "e.g.:" in proc.stderr
