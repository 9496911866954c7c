"""Calibration trials from held-out speakers: short 2-6 s segments vs long > 6 s utterances."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.kaldi.datadir import load_data_dir
from ssrfnet.kaldi.trials import read_trials
from ssrfnet.prep.calibration_set import make_calibration_set
from ssrfnet.prep.common import PrepError

from helpers import REPO

SR = 16000


def make_heldout(root: Path, lengths: dict[str, list[float]], utt2dur: bool = True) -> Path:
    """A data dir whose utterance i of speaker s is a distinctive ramp of the given length (seconds)."""
    data, audio = root / "heldout", root / "audio"
    data.mkdir(parents=True)
    audio.mkdir()
    wav, u2s, dur = [], [], []
    for s, (spk, secs) in enumerate(sorted(lengths.items())):
        for i, sec in enumerate(secs):
            utt = f"{spk}-sess{i % 2}-{i:05d}"
            n = int(sec * SR)
            x = ((np.arange(n) % 5000) / 5000.0 * 0.5 + 0.01 * s).astype(np.float32)
            sf.write(audio / f"{utt}.wav", x, SR, subtype="PCM_16")
            wav.append(f"{utt} {audio / f'{utt}.wav'}\n")
            u2s.append(f"{utt} {spk}\n")
            dur.append(f"{utt} {n / SR}\n")
    (data / "wav.scp").write_text("".join(sorted(wav)))
    (data / "utt2spk").write_text("".join(sorted(u2s)))
    spk2utt = [
        f"{spk} " + " ".join(sorted(line.split()[0] for line in u2s if line.split()[1] == spk)) + "\n"
        for spk in sorted(lengths)
    ]
    (data / "spk2utt").write_text("".join(spk2utt))
    if utt2dur:
        (data / "utt2dur").write_text("".join(sorted(dur)))
    return data


LENGTHS = {"id001": [8.0, 3.0, 9.5, 1.5], "id002": [7.0, 6.5, 4.0], "id003": [10.0, 2.5, 8.0]}


def test_segments_and_trials(tmp_path):
    src = make_heldout(tmp_path, LENGTHS)
    out = tmp_path / "data" / "cal"
    summary = make_calibration_set(src, out, seed=5, max_trials=1000, nj=2)
    data = load_data_dir(out)
    source_dur = {u: d for u, d in load_data_dir(src).utt2dur.items()}
    segments = [line.split("\t") for line in (out / "segments.tsv").read_text().splitlines()]
    assert summary["num_short"] == 10 and summary["num_long"] == 6  # long: the 6 utterances over 6 s
    for key, kind, source, start, dur in segments:
        start, dur = float(start), float(dur)
        assert data.utt2dur[key] == pytest.approx(dur)
        assert start + dur <= source_dur[source] + 1e-6
        if kind == "long":
            assert source_dur[source] > 6.0 and start == 0 and dur == pytest.approx(source_dur[source])
            assert data.wav_scp[key] == load_data_dir(src).wav_scp[source]  # no copy of long audio
        elif source_dur[source] >= 2.0:
            assert 2.0 - 1e-3 <= dur <= 6.0 + 1e-3
        else:
            assert dur == pytest.approx(source_dur[source])  # a short utterance serves whole
        if kind == "short" and dur != pytest.approx(source_dur[source]):
            # the copy holds exactly that span of the source
            copy, _ = sf.read(data.wav_scp[key], dtype="float32")
            whole, _ = sf.read(load_data_dir(src).wav_scp[source], dtype="float32")
            first = int(round(start * SR))
            np.testing.assert_array_equal(copy, whole[first : first + len(copy)])
            assert Path(data.wav_scp[key]).parent == out / "wav"
    trials = read_trials(out / "trials" / "calibration.kaldi", utts=data.utt2spk)
    kinds = {key: kind for key, kind, *_ in segments}
    source = {key: src_utt for key, _, src_utt, *_ in segments}
    assert trials == sorted(trials)
    for enroll, test, is_target in trials:
        assert kinds[enroll] == "long" and kinds[test] == "short"
        assert is_target == (data.utt2spk[enroll] == data.utt2spk[test])
        assert source[enroll] != source[test]  # never a crop of the enrolment itself
    n_tar = sum(t[2] for t in trials)
    assert n_tar == summary["num_target"] > 0 and len(trials) - n_tar == summary["num_nontarget"] > 0
    assert json.loads((out / "calibration_set.json").read_text())["seed"] == 5


def test_rerun_is_unchanged_and_seed_changes_it(tmp_path, capsys):
    src = make_heldout(tmp_path, LENGTHS)
    out = tmp_path / "cal"
    make_calibration_set(src, out, seed=5)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    make_calibration_set(src, out, seed=5)
    assert "unchanged" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    make_calibration_set(src, out, seed=6)
    assert (out.parent / "cal.bak").is_dir()  # the previous version is kept
    assert (out / "segments.tsv").read_bytes() != before["segments.tsv"]


def test_trial_cap(tmp_path):
    src = make_heldout(tmp_path, LENGTHS)
    summary = make_calibration_set(src, tmp_path / "cal", max_trials=10)
    assert summary["num_target"] == 5 and summary["num_nontarget"] == 5


def test_no_long_utterances_uses_what_exists(tmp_path, capsys):
    src = make_heldout(tmp_path, {"id001": [3.0, 4.0], "id002": [2.5, 5.0]})
    summary = make_calibration_set(src, tmp_path / "cal")
    assert "no utterance is longer than --long-min 6 s (the longest is 5.00 s)" in capsys.readouterr().err
    assert summary["num_long"] == 4 and summary["num_target"] > 0


def test_one_class_and_missing_durations_are_errors(tmp_path):
    one = make_heldout(tmp_path / "one", {"id001": [8.0, 3.0, 7.0]})
    with pytest.raises(PrepError, match=r"one/heldout: the calibration set has no non-target trials"):
        make_calibration_set(one, tmp_path / "cal1")
    single = make_heldout(tmp_path / "single", {"id001": [8.0], "id002": [9.0]})
    with pytest.raises(PrepError, match="has no target trials"):
        make_calibration_set(single, tmp_path / "cal2")
    nodur = make_heldout(tmp_path / "nodur", LENGTHS, utt2dur=False)
    with pytest.raises(PrepError, match=r"nodur/heldout/utt2dur: not found; calibration segments need"):
        make_calibration_set(nodur, tmp_path / "cal3")
    assert not (tmp_path / "cal1").exists() and not (tmp_path / "cal3").exists()


def test_shell_script(tmp_path):
    src = make_heldout(tmp_path, LENGTHS)
    run = subprocess.run(
        [
            "bash",
            "local/make_calibration_set.sh",
            "--nj",
            "1",
            "--max-trials",
            "20",
            str(src),
            str(tmp_path / "cal"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, LC_ALL="C"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(read_trials(tmp_path / "cal" / "trials" / "calibration.kaldi")) == 20
    bad = subprocess.run(
        ["bash", "local/make_calibration_set.sh", str(tmp_path / "none"), str(tmp_path / "x")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "none/wav.scp" in bad.stderr
