"""Stage 0 on a small synthetic VoxCeleb-like corpus: layout, m4a pipes, trials, held-out split, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.audio import read_audio
from ssrfnet.kaldi.datadir import load_data_dir, validate
from ssrfnet.kaldi.trials import read_trials
from ssrfnet.prep.common import PrepError
from ssrfnet.prep.voxceleb import prepare_voxceleb

from helpers import REPO

HAVE_FFMPEG = shutil.which("ffmpeg") is not None


def _wav(path: Path, seconds: float = 0.25, rate: int = 16000, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    sf.write(
        path,
        0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.01 * rng.standard_normal(t.size),
        rate,
        subtype="PCM_16",
    )


def make_corpus(root: Path, m4a: bool = True) -> tuple[Path, Path]:
    vox1, vox2 = root / "voxceleb1", root / "voxceleb2"
    n = 0
    for spk in ("id10001", "id10002", "id10003"):
        for sess in ("aB-c_1", "zz9"):
            for utt in ("00001", "00002"):
                n += 1
                _wav(vox1 / "wav" / spk / sess / f"{utt}.wav", seed=n)
    for spk in ("id00011", "id00012", "id00013", "id00014", "id00015", "id00016"):
        for sess in ("s-1", "s2"):
            for utt in ("00001", "00002"):
                n += 1
                _wav(vox2 / "dev" / "aac" / spk / sess / f"{utt}.wav", seconds=0.2 + 0.01 * n, seed=n)
    if m4a:
        src = vox2 / "dev" / "aac" / "id00011" / "s2" / "00002.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "8",
                "-y",
                "-i",
                str(src),
                "-c:a",
                "aac",
                str(src.with_suffix(".m4a")),
            ],
            check=True,
        )
        src.unlink()
    lines = [
        "1 id10001/aB-c_1/00001.wav id10001/zz9/00002.wav",
        "0 id10001/aB-c_1/00001.wav id10002/zz9/00001.wav",
        "1 id10003/zz9/00001.wav id10003/aB-c_1/00002.wav",
        "0 id10002/aB-c_1/00002.wav id10003/zz9/00002.wav",
    ]
    (vox1 / "veri_test2.txt").write_text("\n".join(lines) + "\n")
    (vox1 / "list_test_hard2.txt").write_text("\n".join(lines[:2]) + "\n")
    return vox1, vox2


def snapshot(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")
    return subprocess.run(
        ["bash", "local/prepare_voxceleb.sh", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("vox")
    vox1, vox2 = make_corpus(root, m4a=HAVE_FFMPEG)
    data = root / "data"
    proc = run_script("--nj", "2", "--num-heldout-spk", "2", "--seed", "3", str(vox1), str(vox2), str(data))
    assert proc.returncode == 0, proc.stderr
    return root, vox1, vox2, data


def test_layout_and_keys(prepared):
    root, vox1, vox2, data = prepared
    for name in ("vox1", "vox2_dev", "vox2_train", "vox2_heldout"):
        validate(data / name, require_spk_prefix=True)
    v1 = load_data_dir(data / "vox1")
    assert len(v1) == 12 and v1.spks == ["id10001", "id10002", "id10003"]
    assert v1.utts[0] == "id10001-aB-c_1-00001"
    assert v1.wav("id10001-zz9-00002") == str((vox1 / "wav/id10001/zz9/00002.wav").absolute())
    assert v1.dur("id10001-aB-c_1-00001") == 0.25
    assert v1.utts == sorted(v1.utts)
    dev = load_data_dir(data / "vox2_dev")
    assert len(dev) == 24 and dev.spk("id00011-s-1-00002") == "id00011"
    if HAVE_FFMPEG:
        entry = dev.wav("id00011-s2-00002")
        assert entry.startswith("ffmpeg -nostdin -v 8 -i ") and entry.endswith(
            " -f wav -ar 16000 -ac 1 -acodec pcm_s16le - |"
        )
        audio = read_audio(entry)
        assert audio.dtype == np.float32 and abs(audio.size - 0.2 * 16000) < 3000
        assert abs(dev.dur("id00011-s2-00002") - audio.size / 16000) < 1e-6


def test_trials(prepared):
    _, _, _, data = prepared
    utts = load_data_dir(data / "vox1").utts
    o = read_trials(data / "vox1/trials/vox1_O_cleaned.kaldi", utts=utts)
    assert o[0] == ("id10001-aB-c_1-00001", "id10001-zz9-00002", True)
    assert [t[2] for t in o] == [True, False, True, False]
    assert len(read_trials(data / "vox1/trials/vox1_H_cleaned.kaldi")) == 2
    assert not (data / "vox1/trials/vox1_E_cleaned.kaldi").exists()


def test_heldout_split(prepared):
    _, _, _, data = prepared
    dev, train, held = (load_data_dir(data / n) for n in ("vox2_dev", "vox2_train", "vox2_heldout"))
    assert len(held.spks) == 2 and not set(held.spks) & set(train.spks)
    assert sorted(train.utts + held.utts) == dev.utts
    assert (data / "vox2_heldout/heldout_speakers").read_text().split() == held.spks
    trials = read_trials(data / "vox2_heldout/trials/heldout.kaldi", utts=held.utts)
    targets = [t for t in trials if t[2]]
    assert targets and len(targets) == len(trials) - len(targets)
    for enroll, test, is_target in trials:
        assert (held.spk(enroll) == held.spk(test)) == is_target
    # Each held-out speaker has 2 sessions: targets come from different sessions first.
    assert any(e.split("-")[1] != t.split("-")[1] for e, t, _ in targets)


def test_rerun_byte_identical(prepared, tmp_path):
    _, vox1, vox2, data = prepared
    before = snapshot(data)
    proc = run_script("--nj", "1", "--num-heldout-spk", "2", "--seed", "3", str(vox1), str(vox2), str(data))
    assert proc.returncode == 0, proc.stderr
    assert snapshot(data) == before
    assert "unchanged" in proc.stderr and not list(data.glob("*.bak")) and not list(data.glob(".*"))
    # A fresh prepare elsewhere gives the same bytes too.
    prepare_voxceleb(vox1, vox2, tmp_path / "d2", nj=2, num_heldout_spk=2, seed=3)
    assert snapshot(tmp_path / "d2") == before


def test_kaldi_validator(prepared):
    _, _, _, data = prepared
    if not (REPO / "utils/validate_data_dir.sh").exists():
        pytest.skip("utils/validate_data_dir.sh not there yet")
    for name in ("vox1", "vox2_dev", "vox2_train", "vox2_heldout"):
        proc = subprocess.run(
            ["bash", "utils/validate_data_dir.sh", "--no-text", "--no-feats", str(data / name)],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=dict(os.environ, LC_ALL="C"),
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_changed_corpus_keeps_backup(tmp_path):
    vox1, vox2 = make_corpus(tmp_path, m4a=False)
    data = tmp_path / "data"
    prepare_voxceleb(vox1, vox2, data, nj=1, num_heldout_spk=2, seed=1)
    old = snapshot(data / "vox1")
    _wav(vox1 / "wav/id10003/zz9/00003.wav")
    prepare_voxceleb(vox1, vox2, data, nj=1, num_heldout_spk=2, seed=1)
    assert snapshot(data / "vox1.bak") == old
    assert "id10003-zz9-00003" in load_data_dir(data / "vox1").utts


def _expect_failure(tmp_path, corrupt, message, **kwargs):
    vox1, vox2 = make_corpus(tmp_path, m4a=False)
    data = tmp_path / "data"
    prepare_voxceleb(vox1, vox2, data, nj=1, num_heldout_spk=2, seed=1)
    before = snapshot(data)
    corrupt(vox1, vox2)
    with pytest.raises(PrepError, match=message):
        prepare_voxceleb(vox1, vox2, data, nj=2, num_heldout_spk=2, seed=1, **kwargs)
    assert snapshot(data) == before
    assert sorted(p.name for p in data.iterdir()) == ["vox1", "vox2_dev", "vox2_heldout", "vox2_train"]


def test_bad_empty_wav(tmp_path):
    def corrupt(vox1, vox2):
        (vox1 / "wav/id10002/zz9/00001.wav").write_bytes(b"")

    _expect_failure(tmp_path, corrupt, r"utterance id10002-zz9-00001 \(.*00001.wav\).*")


def test_bad_unreadable_wav(tmp_path):
    def corrupt(vox1, vox2):
        (vox2 / "dev/aac/id00013/s2/00001.wav").write_bytes(b"RIFF....garbage")

    _expect_failure(tmp_path, corrupt, r"utterance id00013-s2-00001 .*cannot read audio")


def test_bad_sample_rate(tmp_path):
    def corrupt(vox1, vox2):
        _wav(vox1 / "wav/id10001/zz9/00001.wav", rate=8000)

    _expect_failure(
        tmp_path, corrupt, r"utterance id10001-zz9-00001 .*sample rate is 8000 Hz, expected 16000"
    )


def test_bad_no_audio(tmp_path):
    def corrupt(vox1, vox2):
        shutil.rmtree(vox2 / "dev/aac")
        (vox2 / "dev/aac").mkdir()

    _expect_failure(tmp_path, corrupt, r"dev/aac: no audio files")


def test_bad_missing_folder(tmp_path):
    def corrupt(vox1, vox2):
        shutil.rmtree(vox1 / "wav")

    _expect_failure(tmp_path, corrupt, r"voxceleb1/wav: no such directory")


def test_bad_unknown_trial_utterance(tmp_path):
    def corrupt(vox1, vox2):
        with open(vox1 / "veri_test2.txt", "a") as f:
            f.write("0 id10001/zz9/00001.wav id10999/gone/00001.wav\n")

    _expect_failure(tmp_path, corrupt, r"veri_test2.txt:5: utterance 'id10999/gone/00001.wav' is not in")


def test_bad_trial_label(tmp_path):
    def corrupt(vox1, vox2):
        (vox1 / "list_test_all2.txt").write_text(
            "1 id10001/zz9/00001.wav id10001/zz9/00002.wav\n"
            "target id10001/zz9/00001.wav id10002/zz9/00001.wav\n"
        )

    _expect_failure(tmp_path, corrupt, r"list_test_all2.txt:2: label must be 0 or 1")


def test_bad_trial_fields(tmp_path):
    def corrupt(vox1, vox2):
        (vox1 / "list_test_all2.txt").write_text("1 id10001/zz9/00001.wav\n")

    _expect_failure(tmp_path, corrupt, r"list_test_all2.txt:1: expected 3 fields")


def test_uncleaned_list_only(tmp_path):
    def corrupt(vox1, vox2):
        (vox1 / "veri_test2.txt").rename(vox1 / "veri_test.txt")

    _expect_failure(tmp_path, corrupt, r"veri_test.txt: only the original, uncleaned VoxCeleb1 list")


def test_too_many_heldout(tmp_path):
    vox1, vox2 = make_corpus(tmp_path, m4a=False)
    with pytest.raises(PrepError, match=r"--num-heldout-spk 5 leaves 1 of 6"):
        prepare_voxceleb(vox1, vox2, tmp_path / "data", nj=1, num_heldout_spk=5)


def test_invalid_existing_dir_is_replaced(tmp_path):
    vox1, vox2 = make_corpus(tmp_path, m4a=False)
    data = tmp_path / "data"
    prepare_voxceleb(vox1, vox2, data, nj=1, num_heldout_spk=2, seed=1)
    good = snapshot(data / "vox1")
    lines = (data / "vox1/utt2spk").read_text().splitlines(keepends=True)
    (data / "vox1/utt2spk").write_text("".join([lines[1], lines[0]] + lines[2:]))
    proc = run_script("--nj", "1", "--num-heldout-spk", "2", "--seed", "1", str(vox1), str(vox2), str(data))
    assert proc.returncode == 0, proc.stderr
    assert "utt2spk:2: key 'id10001-aB-c_1-00001' is not in sorted" in proc.stderr
    assert snapshot(data / "vox1") == good and (data / "vox1.bak/utt2spk").exists()


def test_script_usage_and_error():
    proc = run_script()
    assert proc.returncode != 0 and "e.g.:" in proc.stderr
    proc = run_script("/nonexistent1", "/nonexistent2", "/tmp/x")
    assert proc.returncode != 0 and "/nonexistent1" in proc.stderr


@pytest.mark.skipif(not HAVE_FFMPEG, reason="needs ffmpeg")
def test_convert_mode(tmp_path):
    vox1, vox2 = make_corpus(tmp_path)
    conv = tmp_path / "converted"
    prepare_voxceleb(
        vox1, vox2, tmp_path / "data", nj=2, m4a_mode="convert", convert_dir=conv, num_heldout_spk=2
    )
    dev = load_data_dir(tmp_path / "data/vox2_dev")
    out = conv / "id00011/s2/00002.wav"
    assert dev.wav("id00011-s2-00002") == str(out.absolute())
    assert sf.info(out).samplerate == 16000 and not list(conv.rglob(".*tmp*"))
    mtime = out.stat().st_mtime_ns
    prepare_voxceleb(
        vox1, vox2, tmp_path / "data", nj=2, m4a_mode="convert", convert_dir=conv, num_heldout_spk=2
    )
    assert out.stat().st_mtime_ns == mtime
