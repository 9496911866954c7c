"""Speed perturbation with speaker expansion: labels, class counts, determinism, the measured pitch change."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from ssrfnet.data import CropDataset, DataError
from ssrfnet.data.speed import (
    MARGIN,
    change_speed,
    expanded_speaker_index,
    parse_speeds,
    perturbed_crop,
    source_length,
    speed_speaker,
)
from ssrfnet.errors import ConfError

SR = 16000
SPEEDS = (0.9, 1.0, 1.1)


def tone_dir(root, num_spk=3, per_spk=3, seconds=4.0, freq=440.0):
    """A data dir of pure tones (speaker s at freq * (1 + 0.25 s)), so a speed change is measurable."""
    data, audio = root / "data", root / "audio"
    data.mkdir(parents=True)
    audio.mkdir()
    wav, u2s, s2u = [], [], []
    t = np.arange(int(seconds * SR)) / SR
    for s in range(num_spk):
        spk = f"spk{s}"
        utts = []
        for u in range(per_spk):
            utt = f"{spk}-u{u}"
            x = 0.5 * np.sin(2 * np.pi * freq * (1 + 0.25 * s) * t + u)
            sf.write(audio / f"{utt}.wav", x.astype(np.float32), SR, subtype="FLOAT")
            wav.append(f"{utt} {audio / f'{utt}.wav'}\n")
            u2s.append(f"{utt} {spk}\n")
            utts.append(utt)
        s2u.append(f"{spk} {' '.join(utts)}\n")
    (data / "wav.scp").write_text("".join(wav))
    (data / "utt2spk").write_text("".join(u2s))
    (data / "spk2utt").write_text("".join(s2u))
    return data


def dominant_frequency(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    return float(np.argmax(spectrum) * SR / (8 * len(x)))


def test_parse_speeds():
    assert parse_speeds("0.9,1.0,1.1") == SPEEDS
    assert parse_speeds("") == () and parse_speeds(None) == ()
    with pytest.raises(ConfError, match=r"--speed-perturb: expected comma-separated speed factors"):
        parse_speeds("0.9,fast")
    with pytest.raises(ConfError, match=r"--speed-perturb: the factors must include 1.0"):
        parse_speeds("0.9,1.1")
    with pytest.raises(ConfError, match=r"must lie in \[0.5, 2.0\]"):
        parse_speeds("1.0,3")
    with pytest.raises(ConfError, match="repeated"):
        parse_speeds("1.0,1.1,1.1")


def test_speaker_expansion_and_class_counts(tmp_path):
    data = tone_dir(tmp_path)
    plain = CropDataset(data, 16000, seed=0)
    ds = CropDataset(data, 16000, seed=0, speeds=SPEEDS)
    assert speed_speaker("spk0", 0.9) == "sp0.9-spk0" and speed_speaker("spk0", 1.0) == "spk0"
    assert ds.num_classes == 9 and plain.num_classes == 3
    # the original speakers keep their labels; sp0.9- then sp1.1- follow: label + speed index x 3
    assert {k: v for k, v in ds.spk2id.items() if v < 3} == plain.spk2id
    assert ds.spk2id["sp0.9-spk2"] == 5 and ds.spk2id["sp1.1-spk0"] == 6
    assert ds.spk2id == expanded_speaker_index(ds.spks, SPEEDS)
    assert ds.class_counts.tolist() == [3] * 9  # every utterance counts once for each of its speeds
    assert np.array_equal(ds.labels, plain.labels)
    seen = set()
    for epoch in range(6):
        for i in range(len(ds)):
            k = ds.item_speed(epoch, i)
            _, _, label = ds[(epoch, i)]
            assert label == ds.spk2id[speed_speaker(ds.spks[i], SPEEDS[k])]
            seen.add(k)
    assert seen == {0, 1, 2}
    with pytest.raises(DataError, match=r"sp0.9-spk0.*not in the speaker list"):
        CropDataset(data, 16000, spk2id=plain.spk2id, speeds=SPEEDS)


def test_determinism_and_exact_crop_length(tmp_path):
    data = tone_dir(tmp_path, seconds=2.5)
    a = CropDataset(data, 48000, seed=4, speeds=SPEEDS)  # crops longer than the recordings are tiled
    b = CropDataset(data, 48000, seed=4, speeds=SPEEDS)
    for epoch in range(3):
        for i in range(len(a)):
            x, y = a[(epoch, i)], b[(epoch, i)]
            assert x[0].shape == (48000,) and x[0].dtype == torch.float32
            assert torch.equal(x[0], y[0]) and x[2] == y[2]
    # off, or 1.0 alone, leaves every item exactly as before (the speed draw has its own stream)
    plain = CropDataset(data, 16000, seed=4)
    same = CropDataset(data, 16000, seed=4, speeds=(1.0,))
    assert same.speeds == () and same.num_classes == 3
    ds = CropDataset(data, 16000, seed=4, speeds=SPEEDS)
    for i in range(len(ds)):
        assert torch.equal(plain[(2, i)][0], same[(2, i)][0])
        if ds.item_speed(2, i) == SPEEDS.index(1.0):
            assert torch.equal(plain[(2, i)][0], ds[(2, i)][0])


def test_tone_frequency_moves_by_the_factor(tmp_path):
    data = tone_dir(tmp_path, num_spk=1, per_spk=4)
    ds = CropDataset(data, 16000, seed=1, speeds=SPEEDS)
    found = {}
    for epoch in range(8):
        for i in range(len(ds)):
            found.setdefault(SPEEDS[ds.item_speed(epoch, i)], ds[(epoch, i)][0].numpy())
    assert set(found) == set(SPEEDS)
    for factor, crop in found.items():
        assert dominant_frequency(crop) == pytest.approx(440.0 * factor, rel=0.003), factor
    # the library function: length / factor, frequency x factor
    tone = np.sin(2 * np.pi * 300.0 * np.arange(SR) / SR).astype(np.float32)
    fast = change_speed(tone, 1.1)
    assert abs(len(fast) - SR / 1.1) <= 1
    assert dominant_frequency(fast) == pytest.approx(330.0, rel=0.003)
    cosine = np.cos(2 * np.pi * 300.0 * np.arange(SR) / SR).astype(np.float32)  # no zero at the edges
    slow = perturbed_crop(cosine[: source_length(8000, 0.9)], 0.9, 8000)
    assert len(slow) == 8000 and dominant_frequency(slow) == pytest.approx(270.0, rel=0.005)
    # output sample j is the source at time (j + margin) * factor: the ideal slowed tone, edges included
    # (the resampling filter's transients at both ends, 0.034 without the margin, are cut off)
    ideal = np.cos(2 * np.pi * 300.0 * (np.arange(8000) + MARGIN) * 0.9 / SR)
    assert np.abs(slow - ideal).max() < 0.005
