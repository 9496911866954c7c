"""On-the-fly waveform augmentation for training crops (the official SSRFNet scheme by default).

With probability `prob` exactly one augmentation type is applied, drawn with the given weights:

- ``reverb``:  a random RIR scaled to unit L2 norm, full linear convolution (FFT), truncated to the
  input length;
- ``babble``:  N in [talkers_min, talkers_max] MUSAN speech crops averaged, added at SNR U(snr_babble);
- ``music``:   one MUSAN music crop at SNR U(snr_music);
- ``noise``:   one MUSAN noise crop at SNR U(snr_noise);
- ``colored``: white / pink / brown noise shaped in the FFT domain, peak-normalised, at SNR U(snr_colored);
- ``clip``:    hard clipping at U(clip_range) * max|x|.

Noise crops start at a random position, or are wrap-padded (tiled) when the recording is shorter than the
input. Power is 10*log10(mean(x^2) + 1e-4), as in the official code. Everything runs in float32 with numpy /
scipy.fft; RIR spectra are cached per (RIR, FFT size).

Sources are anything with ``len()``, ``num_samples(i)`` and ``segment(i, start, length)`` (the packed stage-1
arrays, `ssrfnet.data.packed.PackedAudio`); `ArraySource` wraps in-memory arrays and `load_source` falls back
to reading a data directory's wav.scp when no packed form is available.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from ssrfnet.audio import read_audio
from ssrfnet.data.packed import PackedAudio, PackError
from ssrfnet.errors import SSRFNetError
from ssrfnet.kaldi.table import read_table

log = logging.getLogger(__name__)

AUG_TYPES = ("reverb", "babble", "music", "noise", "colored", "clip")
# Data directory (under --musan-dir / --rirs-dir) that feeds each type; colored and clip need none.
_SOURCE_OF = {"babble": "musan_speech", "music": "musan_music", "noise": "musan_noise", "reverb": "rirs"}


class AugmentError(SSRFNetError, RuntimeError):
    pass


def power_db(x: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float32), dtype=np.float64) + 1e-4))


@dataclass
class AugmentConfig:
    prob: float = 0.8
    types: tuple[str, ...] = AUG_TYPES
    weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    snr_babble: tuple[float, float] = (13.0, 20.0)
    snr_music: tuple[float, float] = (5.0, 15.0)
    snr_noise: tuple[float, float] = (0.0, 15.0)
    snr_colored: tuple[float, float] = (5.0, 20.0)
    babble_talkers: tuple[int, int] = (4, 7)
    colors: tuple[str, ...] = ("white", "pink", "brown")
    clip_range: tuple[float, float] = (0.3, 0.9)
    skip_missing: bool = False
    rir_cache: int = 256
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.types = tuple(self.types)
        self.weights = tuple(float(w) for w in self.weights)
        if len(self.weights) != len(self.types):
            raise AugmentError(
                f"--aug-weights has {len(self.weights)} values for {len(self.types)} --aug-types {self.types}"
            )
        unknown = [t for t in self.types if t not in AUG_TYPES]
        if unknown:
            raise AugmentError(f"unknown augmentation type(s) {unknown}; known: {list(AUG_TYPES)}")
        if any(w < 0 for w in self.weights):
            raise AugmentError("--aug-weights must be non-negative")
        if not 0.0 <= self.prob <= 1.0:
            raise AugmentError(f"--aug-prob must be in [0, 1], got {self.prob}")
        lo, hi = self.babble_talkers
        if not 1 <= lo <= hi:
            raise AugmentError(f"--aug-babble-talkers must be 1 <= min <= max, got {self.babble_talkers}")
        bad = [c for c in self.colors if c not in ("white", "pink", "brown")]
        if bad:
            raise AugmentError(f"unknown noise colour(s) {bad}; known: white, pink, brown")

    @classmethod
    def from_options(cls, cfg: dict) -> AugmentConfig:
        """Build from the training option dict (keys as in ssrfnet.train.options)."""
        return cls(
            prob=cfg["aug_prob"],
            types=tuple(cfg["aug_types"]),
            weights=tuple(cfg["aug_weights"]),
            snr_babble=tuple(cfg["aug_snr_babble"]),
            snr_music=tuple(cfg["aug_snr_music"]),
            snr_noise=tuple(cfg["aug_snr_noise"]),
            snr_colored=tuple(cfg["aug_snr_colored"]),
            babble_talkers=tuple(cfg["aug_babble_talkers"]),
            colors=tuple(cfg["aug_colors"]),
            clip_range=tuple(cfg["aug_clip_range"]),
            skip_missing=cfg["aug_skip_missing"],
        )


class ArraySource:
    """An augmentation source over in-memory float32 arrays (tests, or a small wav.scp read eagerly)."""

    def __init__(self, arrays, keys=None, name: str = "arrays"):
        self.arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        self.keys = list(keys) if keys is not None else [str(i) for i in range(len(self.arrays))]
        self.name = name

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.arrays[i]

    def num_samples(self, i: int) -> int:
        return len(self.arrays[i])

    def segment(self, i: int, start: int, length: int) -> np.ndarray:
        return self.arrays[i][start : start + length]


def load_source(data_dir: str | os.PathLike):
    """Open an augmentation data directory: its packed form when available, else its wav.scp read eagerly.

    Returns None if the directory does not exist; raises AugmentError when it exists but holds no audio.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return None
    source = None
    try:
        source = PackedAudio(data_dir)
    except (PackError, OSError, ValueError) as err:  # no packed form yet: fall back to wav.scp
        log.info("%s: no packed audio (%s); reading wav.scp", data_dir, err)
    if source is None:
        scp = data_dir / "wav.scp"
        if not scp.is_file():
            raise AugmentError(f"{data_dir}: neither packed audio nor wav.scp found")
        items = read_table(scp)
        arrays = [read_audio(value, where=f"{scp}: {key}") for key, value in items]
        source = ArraySource(arrays, [k for k, _ in items], name=str(data_dir))
    if len(source) == 0:
        raise AugmentError(f"{data_dir}: augmentation data directory is empty")
    return source


class Augmenter:
    """Apply one random augmentation to float32 waveforms; every draw comes from the caller's Generator."""

    def __init__(self, config: AugmentConfig, sources: dict | None = None):
        self.config = config
        self.sources = dict(sources or {})
        self._rir_fft: OrderedDict = OrderedDict()
        types, weights = [], []
        for aug_type, weight in zip(config.types, config.weights):
            if weight <= 0:
                continue
            need = _SOURCE_OF.get(aug_type)
            if need is not None and (self.sources.get(need) is None or len(self.sources[need]) == 0):
                where = self.sources.get(f"{need}__dir", need)
                message = (
                    f"augmentation type '{aug_type}' needs audio from {where}, which is missing or empty "
                    f"(run stage 1, or drop '{aug_type}' from --aug-types)"
                )
                if config.skip_missing:
                    log.warning("%s; '%s' disabled (--aug-skip-missing=true)", message, aug_type)
                    continue
                raise AugmentError(message)
            types.append(aug_type)
            weights.append(weight)
        self.types = tuple(types)
        total = float(sum(weights))
        self.probs = np.array([w / total for w in weights]) if total > 0 else np.zeros(0)
        if not self.types and config.prob > 0:
            log.warning("no augmentation type is enabled: training on clean crops only")

    @classmethod
    def from_dirs(cls, config: AugmentConfig, musan_dir: str | None, rirs_dir: str | None) -> Augmenter:
        """Open the stage-1 directories <musan_dir>/musan_{noise,music,speech} and <rirs_dir>."""
        sources: dict = {}
        for aug_type, weight in zip(config.types, config.weights):
            name = _SOURCE_OF.get(aug_type)
            if name is None or weight <= 0 or name in sources:
                continue
            if name == "rirs":
                path = Path(rirs_dir) if rirs_dir else None
            else:
                path = Path(musan_dir) / name if musan_dir else None
            option = "--rirs-dir" if name == "rirs" else "--musan-dir"
            sources[f"{name}__dir"] = str(path) if path is not None else f"{name} (no {option} given)"
            sources[name] = load_source(path) if path is not None else None
        return cls(config, sources)

    # -- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _crop(source, i: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """A random `length`-sample crop of recording i, wrap-padded (tiled) when the recording is shorter."""
        total = source.num_samples(i)
        if total >= length:
            start = int(rng.integers(0, total - length + 1))
            return np.asarray(source.segment(i, start, length), dtype=np.float32)
        whole = np.asarray(source.segment(i, 0, total), dtype=np.float32)
        reps = -(-length // total)
        return np.tile(whole, reps)[:length]

    @staticmethod
    def add_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
        scale = np.sqrt(10.0 ** ((power_db(x) - power_db(noise) - snr_db) / 10.0))
        return (x + np.float32(scale) * noise).astype(np.float32, copy=False)

    def _rir_spectrum(self, i: int, nfft: int) -> np.ndarray:
        key = (i, nfft)
        spec = self._rir_fft.get(key)
        if spec is not None:
            self._rir_fft.move_to_end(key)
            return spec
        rirs = self.sources["rirs"]
        rir = np.asarray(rirs.segment(i, 0, rirs.num_samples(i)), dtype=np.float32)
        rir = rir / np.float32(np.sqrt(np.sum(np.square(rir, dtype=np.float64))) + 1e-8)
        spec = sfft.rfft(rir, nfft)
        self._rir_fft[key] = spec
        if len(self._rir_fft) > self.config.rir_cache:
            self._rir_fft.popitem(last=False)
        return spec

    # -- the six types ---------------------------------------------------------------------------------
    def reverb(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rirs = self.sources["rirs"]
        i = int(rng.integers(len(rirs)))
        nfft = sfft.next_fast_len(len(x) + rirs.num_samples(i) - 1, real=True)
        y = sfft.irfft(sfft.rfft(x, nfft) * self._rir_spectrum(i, nfft), nfft)
        return np.ascontiguousarray(y[: len(x)], dtype=np.float32)

    def _additive(self, x, rng, name: str, snr_range, count: int = 1) -> np.ndarray:
        source = self.sources[name]
        picks = rng.integers(len(source), size=count)
        noise = self._crop(source, int(picks[0]), len(x), rng)
        if count > 1:
            noise = noise.copy()
            for i in picks[1:]:
                noise += self._crop(source, int(i), len(x), rng)
            noise /= np.float32(count)
        return self.add_at_snr(x, noise, float(rng.uniform(*snr_range)))

    def babble(self, x, rng):
        lo, hi = self.config.babble_talkers
        return self._additive(x, rng, "musan_speech", self.config.snr_babble, int(rng.integers(lo, hi + 1)))

    def music(self, x, rng):
        return self._additive(x, rng, "musan_music", self.config.snr_music)

    def noise(self, x, rng):
        return self._additive(x, rng, "musan_noise", self.config.snr_noise)

    def colored(self, x, rng, color: str | None = None):
        if color is None:
            color = self.config.colors[int(rng.integers(len(self.config.colors)))]
        white = rng.standard_normal(len(x), dtype=np.float32)
        if color == "white":
            shaped = white
        else:
            spec = sfft.rfft(white)
            freqs = np.arange(len(spec), dtype=np.float32)
            freqs[0] = 1.0
            # power ~ 1/f (pink) or 1/f^2 (brown): amplitude ~ f^-1/2 or f^-1
            spec *= freqs ** (-0.5 if color == "pink" else -1.0)
            spec[0] = 0.0
            shaped = sfft.irfft(spec, len(x)).astype(np.float32)
        shaped = shaped / np.float32(np.max(np.abs(shaped)) + 1e-8)
        return self.add_at_snr(x, shaped, float(rng.uniform(*self.config.snr_colored)))

    def clip(self, x, rng):
        peak = float(np.max(np.abs(x)))
        level = np.float32(rng.uniform(*self.config.clip_range) * peak)
        return np.clip(x, -level, level).astype(np.float32, copy=False)

    def apply(self, x: np.ndarray, aug_type: str, rng: np.random.Generator) -> np.ndarray:
        return getattr(self, aug_type)(np.asarray(x, dtype=np.float32), rng)

    def choose(self, rng: np.random.Generator) -> str | None:
        """The type to apply to one crop (None = leave it clean); always consumes the same draws."""
        u = rng.random()
        pick = rng.random()
        if not self.types or u >= self.config.prob:
            return None
        index = int(np.searchsorted(np.cumsum(self.probs), pick, side="right"))
        return self.types[min(index, len(self.types) - 1)]

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        aug_type = self.choose(rng)
        if aug_type is None:
            return np.asarray(x, dtype=np.float32)
        return self.apply(x, aug_type, rng)
