"""Reverberation: a clip convolved with a room impulse response drawn from a folder of RIR
files, aligned to the response's direct path (its largest sample) so the copy does not lag its
source, cut to the clip's length and scaled back to the clip's energy."""

from functools import partial
from pathlib import Path

import numpy as np
from scipy import signal

from deepfake_pipeline.augment.audio_folder import audio_files, read_mono
from deepfake_pipeline.augment.base import AugmentError, Recipe, as_mono_float32


def apply_rir(wave, sample_rate, rng, folder: Path):
    x = as_mono_float32(wave, sample_rate).astype(np.float64)
    names = audio_files(folder)
    name = names[int(rng.integers(len(names)))]
    response = read_mono(Path(folder) / name, sample_rate, channel=0)  # one microphone's response
    if not np.any(response):
        raise AugmentError(f"rir: {name} is all zeros")
    direct = int(np.argmax(np.abs(response)))
    wet = signal.oaconvolve(x, response, mode="full")[direct : direct + len(x)]
    energy = float(np.sum(wet**2))
    if energy == 0:
        raise AugmentError("rir: the reverberant copy is silent (a silent clip?)")
    wet *= np.sqrt(float(np.sum(x**2)) / energy)
    return wet.astype(np.float32), {"file": name, "direct_path": direct, "rir_samples": len(response)}


def rir_recipe(folder: Path) -> Recipe:
    count = len(audio_files(folder))
    return Recipe(
        name="rir",
        apply=partial(apply_rir, folder=Path(folder)),
        description=f"room impulse responses from {count} files under {folder}, aligned to the direct path",
    )
