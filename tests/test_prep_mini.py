"""Stages 0 and 1 on a generated tiny mini corpus, through the shell scripts, as run.sh calls them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ssrfnet.audio import read_audio
from ssrfnet.data.packed import PackedAudio
from ssrfnet.kaldi.datadir import load_data_dir
from ssrfnet.kaldi.trials import read_trials

from helpers import REPO

TOOLS = ("espeak-ng", "flite", "sox", "ffmpeg", "fluidsynth")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="mini corpus needs espeak-ng flite sox ffmpeg fluidsynth",
)


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        ["bash", script, *args],
        cwd=REPO / "egs/voxceleb",
        capture_output=True,
        text=True,
        env=dict(os.environ, LC_ALL="C"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stderr + proc.stdout


def test_mini_corpus_prep(tmp_path):
    from ssrfnet.corpus import make_mini_corpus

    info = make_mini_corpus(tmp_path / "corpora", size="tiny", seed=11, nj=2)
    data = tmp_path / "data"
    vox_args = [
        "--nj",
        "2",
        "--num-heldout-spk",
        "2",
        info["voxceleb1"],
        str(Path(info["root"]) / "voxceleb2"),
        str(data),
    ]
    out = _run("local/prepare_voxceleb.sh", *vox_args)
    assert "Successfully validated" in out
    _run("local/prepare_augmentation.sh", "--nj", "2", info["musan"], info["rirs_noises"], str(data))

    vox1 = load_data_dir(data / "vox1")
    for name in ("O", "E", "H"):
        trials = read_trials(data / f"vox1/trials/vox1_{name}_cleaned.kaldi", utts=vox1.utts)
        assert any(t[2] for t in trials) and not all(t[2] for t in trials)
    dev, train, held = (load_data_dir(data / n) for n in ("vox2_dev", "vox2_train", "vox2_heldout"))
    assert set(train.spks) | set(held.spks) == set(dev.spks) and not set(train.spks) & set(held.spks)
    assert not set(dev.spks) & set(vox1.spks)
    read_trials(data / "vox2_heldout/trials/heldout.kaldi", utts=held.utts)
    utt = dev.utts[0]
    audio = read_audio(dev.wav(utt), where=dev.where(utt))
    assert abs(len(audio) / 16000 - dev.dur(utt)) < 1e-6
    for name in ("musan_noise", "musan_music", "musan_speech", "rirs"):
        pa = PackedAudio(data / name, verify_audio=True)
        d = load_data_dir(data / name)
        assert pa.keys == d.utts and len(pa) > 0
        assert np.array_equal(pa[0], read_audio(d.wav(pa.keys[0])))
    assert {k.split("-")[0] for k in load_data_dir(data / "rirs").utts} == {
        "smallroom",
        "mediumroom",
        "largeroom",
    }

    before = {str(p): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    _run("local/prepare_voxceleb.sh", *vox_args)
    after = {str(p): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    assert after == before
