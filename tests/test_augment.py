"""Augmentation: each type at the right SNR, probabilities, RIR convolution, missing data errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from ssrfnet.data.augment import AUG_TYPES, ArraySource, AugmentConfig, Augmenter, AugmentError, power_db


def speech_like(n=48000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * env * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def sources(seed=1):
    rng = np.random.default_rng(seed)
    noise = ArraySource([rng.standard_normal(n).astype(np.float32) * 0.1 for n in (20000, 70000, 5000)])
    music = ArraySource([np.sin(np.arange(60000) * 0.05).astype(np.float32) * 0.2])
    speech = ArraySource([speech_like(40000 + 1000 * i, seed=10 + i) for i in range(8)])
    decay = np.exp(-np.arange(4000) / 600.0)
    rirs = ArraySource([(rng.standard_normal(4000) * decay).astype(np.float32) for _ in range(3)])
    return {"musan_noise": noise, "musan_music": music, "musan_speech": speech, "rirs": rirs}


def one_type(aug_type, **kw):
    cfg = AugmentConfig(prob=1.0, types=(aug_type,), weights=(1.0,), **kw)
    return Augmenter(cfg, sources())


@pytest.mark.parametrize("aug_type,snr_range", [("noise", (0, 15)), ("music", (5, 15)),
                                                ("babble", (13, 20)), ("colored", (5, 20))])
def test_additive_types_hit_their_snr(aug_type, snr_range):
    x = 3 * speech_like()  # loud enough that the +1e-4 of the power definition is negligible
    aug = one_type(aug_type)
    for seed in range(8):
        y = aug(x, np.random.default_rng(seed))
        assert y.dtype == np.float32 and y.shape == x.shape
        assert not np.allclose(x, y)
        snr = power_db(x) - power_db(y - x)
        assert snr_range[0] - 0.3 <= snr <= snr_range[1] + 0.3, snr


def test_fixed_snr_is_exact():
    x = 3 * speech_like()
    aug = one_type("noise", snr_noise=(10.0, 10.0))
    y = aug(x, np.random.default_rng(0))
    assert abs(power_db(x) - power_db(y - x) - 10.0) < 0.05


def test_colored_noise_spectral_slopes():
    x = np.zeros(48000, np.float32) + 1e-3
    slopes = {}
    for color in ("white", "pink", "brown"):
        aug = one_type("colored", colors=(color,))
        y = aug.colored(x, np.random.default_rng(0), color) - x
        f, p = scipy.signal.welch(y, fs=16000, nperseg=4096)
        band = (f > 100) & (f < 4000)
        slopes[color] = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert abs(slopes["white"]) < 0.3
    assert -1.4 < slopes["pink"] < -0.6
    assert -2.4 < slopes["brown"] < -1.6


def test_reverb_matches_direct_convolution():
    x = speech_like()
    aug = one_type("reverb")
    i = int(np.random.default_rng(3).integers(3))
    y = aug.reverb(x, np.random.default_rng(3))
    rir = aug.sources["rirs"][i]
    rir = rir / np.sqrt(np.sum(rir.astype(np.float64) ** 2))
    ref = scipy.signal.convolve(x.astype(np.float64), rir)[: len(x)]
    assert y.shape == x.shape
    assert np.max(np.abs(y - ref)) < 1e-4


def test_clip_level():
    x = speech_like()
    y = one_type("clip")(x, np.random.default_rng(0))
    level = np.max(np.abs(y))
    assert 0.3 * np.max(np.abs(x)) - 1e-6 <= level <= 0.9 * np.max(np.abs(x)) + 1e-6
    assert np.sum(np.abs(y) >= level - 1e-7) > 10


def test_short_noise_is_wrap_padded():
    src = ArraySource([np.arange(1000, dtype=np.float32)])
    crop = Augmenter._crop(src, 0, 2500, np.random.default_rng(0))
    assert np.array_equal(crop, np.tile(np.arange(1000, dtype=np.float32), 3)[:2500])


def test_probabilities_and_uniform_choice():
    aug = Augmenter(AugmentConfig(), sources())
    rng = np.random.default_rng(0)
    picks = [aug.choose(rng) for _ in range(6000)]
    none = sum(p is None for p in picks) / len(picks)
    assert abs(none - 0.2) < 0.03
    for t in AUG_TYPES:
        assert abs(picks.count(t) / len(picks) - 0.8 / 6) < 0.03


def test_weights_select_types():
    aug = Augmenter(AugmentConfig(prob=1.0, weights=(0, 0, 0, 1, 0, 3)), sources())
    rng = np.random.default_rng(0)
    picks = [aug.choose(rng) for _ in range(4000)]
    assert set(picks) == {"noise", "clip"}
    assert abs(picks.count("clip") / 4000 - 0.75) < 0.03


def test_prob_zero_is_identity():
    x = speech_like()
    aug = Augmenter(AugmentConfig(prob=0.0), sources())
    assert np.array_equal(aug(x, np.random.default_rng(0)), x)


def test_deterministic_given_rng():
    x = speech_like()
    aug = Augmenter(AugmentConfig(prob=1.0), sources())
    for seed in range(6):
        a = aug(x, np.random.default_rng(seed))
        b = aug(x, np.random.default_rng(seed))
        assert np.array_equal(a, b)


def test_missing_source_is_an_error_naming_the_dir(tmp_path):
    (tmp_path / "musan_music").mkdir()
    (tmp_path / "musan_music" / "wav.scp").write_text("")
    with pytest.raises(AugmentError, match="musan_music"):
        Augmenter.from_dirs(AugmentConfig(types=("music",), weights=(1,)), str(tmp_path), None)
    with pytest.raises(AugmentError, match="musan_noise"):
        Augmenter.from_dirs(AugmentConfig(types=("noise",), weights=(1,)), str(tmp_path), None)


def test_missing_source_skipped_when_asked(tmp_path, caplog):
    cfg = AugmentConfig(types=("noise", "clip"), weights=(1, 1), skip_missing=True)
    with caplog.at_level("WARNING"):
        aug = Augmenter.from_dirs(cfg, str(tmp_path), None)
    assert aug.types == ("clip",)
    assert "musan_noise" in caplog.text


def test_disabled_type_needs_no_data(tmp_path):
    aug = Augmenter.from_dirs(AugmentConfig(types=("clip", "colored"), weights=(1, 1)), str(tmp_path), None)
    assert aug.types == ("clip", "colored")


def test_bad_config():
    with pytest.raises(AugmentError, match="weights"):
        AugmentConfig(types=("clip",), weights=(1, 2))
    with pytest.raises(AugmentError, match="unknown"):
        AugmentConfig(types=("chorus",), weights=(1,))
