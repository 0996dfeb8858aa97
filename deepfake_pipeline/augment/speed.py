"""Speed perturbation (tempo and pitch together, as Kaldi's and WeDefense's): the clip is
resampled by soxr as though it had been recorded at `factor` times its rate, so a factor of 1.1
plays 10 % faster and the copy is 1/1.1 of the length. The only recipe that changes length."""

from functools import partial

import numpy as np
import soxr

from deepfake_pipeline.augment.base import Recipe, as_mono_float32, range_label
from deepfake_pipeline.common.errors import InputError

DEFAULT_FACTORS = (0.9, 1.1)


def apply_speed(wave, sample_rate, rng, factors: tuple[float, float]):
    x = as_mono_float32(wave, sample_rate)
    factor = round(float(rng.uniform(*factors)), 3)
    if factor <= 0:
        raise InputError(f"speed factor must be positive, got {factor}")
    out = soxr.resample(x, sample_rate * factor, sample_rate, quality="HQ")
    return out.astype(np.float32), {"factor": factor}


def speed_recipe(low: float, high: float) -> Recipe:
    name = "speed" if (low, high) == DEFAULT_FACTORS else f"speed{range_label(low, high)}"
    return Recipe(
        name=name,
        apply=partial(apply_speed, factors=(low, high)),
        description=f"speed perturbation by a factor drawn from {low:g}-{high:g} (soxr)",
    )
