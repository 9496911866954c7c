"""Fixed-length crops of a waveform: random training crops and the official evaluation crops.

Training (`CropDataset`) takes one random crop whose start is a multiple of the 20 ms frame hop; evaluation
(stage 4 and the development EER of stages 2-3) takes `num_crops` crops at `int(linspace(0, len - crop, N))`,
the official SSRFNet protocol. A recording shorter than a crop is repeated end to end (wrap-padding).
"""

from __future__ import annotations

import numpy as np

from ssrfnet.errors import InputError

CROP_HOP = 320  # training crop starts are multiples of the 20 ms frame hop, as in the official code


def tile_crop(wave: np.ndarray, start: int, length: int) -> np.ndarray:
    """`length` samples from `start`; a short recording is repeated end to end (never an error)."""
    if len(wave) >= start + length:
        return wave[start : start + length]
    reps = -(-(start + length) // len(wave))
    return np.tile(wave, reps)[start : start + length]


def random_crop_start(num_samples: int, crop_samples: int, rng: np.random.Generator) -> int:
    """A random multiple of CROP_HOP at which a whole crop fits (0 for short recordings).

    Draws exactly one number either way, so later draws do not depend on the recording's length."""
    if num_samples >= crop_samples:
        return int(rng.integers(0, (num_samples - crop_samples) // CROP_HOP + 1)) * CROP_HOP
    rng.integers(0, 1)
    return 0


def crop_starts(num_samples: int, crop_samples: int, num_crops: int) -> np.ndarray:
    """Start of each evaluation crop: int(linspace(0, len - crop, num_crops)); all 0 for short files."""
    last = max(num_samples - crop_samples, 0)
    return np.linspace(0, last, num_crops).astype(np.int64)


def make_crops(wav: np.ndarray, crop_samples: int, num_crops: int) -> np.ndarray:
    """(num_crops, crop_samples) float32 evaluation crops; files of at most one crop are wrap-padded and
    the padded crop is replicated `num_crops` times."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.size == 0:
        raise InputError("cannot crop an empty waveform")
    if wav.size <= crop_samples:
        return np.repeat(tile_crop(wav, 0, crop_samples)[None, :], num_crops, axis=0)
    starts = crop_starts(wav.size, crop_samples, num_crops)
    return np.stack([wav[s : s + crop_samples] for s in starts])
