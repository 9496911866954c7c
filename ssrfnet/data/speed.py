"""Speed perturbation with speaker expansion (ESPnet / WeSpeaker style), for the training crops.

A recording played at speed f (0.9, 1.1, ...) lasts 1/f as long and every frequency moves by the factor f
(tempo and pitch together, like sox `speed` and Kaldi's perturb_data_dir_speed.sh). The pitch shift changes
how the speaker sounds, so each speed counts as a speaker of its own: `sp0.9-<spk>`, `sp1.1-<spk>`, while
speed 1.0 keeps the original name. The speaker index lists the original speakers first (labels unchanged)
and then each other speed's speakers in the order given, so label = original label + speed index x S.

As in WeSpeaker, the speed of an item is drawn per (seed, epoch, index) on a random stream of its own, so
an epoch keeps its length, the other draws (crop start, augmentation) are those of the unperturbed run,
and results do not depend on workers or ranks. The perturbation resamples a source span of
crop * f (+ a margin) samples with a polyphase filter (scipy.signal.resample_poly, ratio f as a fraction
with denominator <= 100) and keeps exactly `crop` samples from its middle, so the filter's edge transient
is cut off.

The training option that turns it on is `--speed-perturb=0.9,1.0,1.1` (empty: off, the default); the
factors must include 1.0 and lie in [0.5, 2.0].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ssrfnet.errors import ConfError

OPTION = "--speed-perturb"
MARGIN = 64  # output samples dropped at each end of a resampled span (the polyphase filter's transient)


def parse_speeds(value: str | Sequence[float] | None, where: str = OPTION) -> tuple[float, ...]:
    """'0.9,1.0,1.1' -> (0.9, 1.0, 1.1); '' or None -> () (off). Errors name the option."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.replace(" ", "")
        try:
            speeds = tuple(float(v) for v in text.split(",")) if text else ()
        except ValueError:
            raise ConfError(f"{where}: expected comma-separated speed factors such as 0.9,1.0,1.1, "
                            f"got {value!r}") from None
    else:
        speeds = tuple(float(v) for v in value)
    if not speeds:
        return ()
    shown = ",".join(f"{f:g}" for f in speeds)
    if any(not (math.isfinite(f) and 0.5 <= f <= 2.0) for f in speeds):
        raise ConfError(f"{where}: speed factors must lie in [0.5, 2.0], got {shown}")
    if len(set(speeds)) != len(speeds):
        raise ConfError(f"{where}: repeated speed factor in {shown}")
    if 1.0 not in speeds:
        raise ConfError(f"{where}: the factors must include 1.0 (the original recordings), got {shown}")
    return speeds


def is_active(speeds: Sequence[float]) -> bool:
    return any(f != 1.0 for f in speeds)


def speed_speaker(spk: str, factor: float) -> str:
    """The expanded speaker name: `sp<factor>-<spk>`, the original name at speed 1.0."""
    return spk if factor == 1.0 else f"sp{factor:g}-{spk}"


def expanded_speaker_index(speakers: Iterable[str], speeds: Sequence[float]) -> dict[str, int]:
    """Original speakers (sorted) first, then each other speed's `sp<f>-` speakers in the order given."""
    base = sorted(set(speakers))
    order = [1.0] + [f for f in speeds if f != 1.0]
    return {speed_speaker(spk, f): k * len(base) + i
            for k, f in enumerate(order) for i, spk in enumerate(base)}


def source_length(crop_samples: int, factor: float, margin: int = MARGIN) -> int:
    """Source samples to read so that the perturbed span covers crop + 2 * margin output samples."""
    return int(math.ceil((crop_samples + 2 * margin) * factor)) + 1


def _ratio(factor: float) -> tuple[int, int]:
    frac = Fraction(factor).limit_denominator(100)
    return frac.denominator, frac.numerator  # up, down: output length = input length / factor


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """The recording played `factor` times faster (length / factor, frequencies x factor), float32."""
    if factor == 1.0:
        return np.asarray(wave, dtype=np.float32)
    up, down = _ratio(factor)
    return resample_poly(np.asarray(wave, dtype=np.float64), up, down).astype(np.float32)


def perturbed_crop(source: np.ndarray, factor: float, crop_samples: int, margin: int = MARGIN) -> np.ndarray:
    """Exactly `crop_samples` of `source` (read with `source_length`) played at `factor`, edges dropped."""
    out = change_speed(source, factor)
    if len(out) < crop_samples + 2 * margin:
        raise ValueError(f"source span of {len(source)} samples is too short for a {crop_samples}-sample "
                         f"crop at speed {factor:g} (read source_length() samples)")
    return np.ascontiguousarray(out[margin : margin + crop_samples])
