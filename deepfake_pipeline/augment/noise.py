"""Additive noise from a folder (MUSAN's layout, or any tree of .wav / .flac files) at an SNR
drawn per clip.

A file is drawn, then a start in it; only the segment the clip needs is read (MUSAN's music runs
to minutes), looped when the file is shorter than the clip. The noise is scaled so that
10 log10(sum(x^2) / sum(n^2)) over the clip is the drawn SNR exactly."""

from functools import partial
from pathlib import Path

import numpy as np

from deepfake_pipeline.augment.audio_folder import audio_files, frames_and_rate, read_mono
from deepfake_pipeline.augment.base import AugmentError, Recipe, as_mono_float32, range_label

DEFAULT_SNR_DB = (5.0, 20.0)


def noise_segment(folder: Path, sample_rate: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """`length` samples of noise at `sample_rate` from a file drawn from `folder`."""
    names = audio_files(folder)
    name = names[int(rng.integers(len(names)))]
    path = Path(folder) / name
    frames, rate = frames_and_rate(path)
    needed = int(np.ceil(length * rate / sample_rate)) + 16  # a little over, for the resampler's edges
    if frames > needed:
        start = int(rng.integers(frames - needed + 1))
        noise = read_mono(path, sample_rate, start=start, frames=needed)
    else:
        start = 0
        noise = read_mono(path, sample_rate)
        noise = np.tile(noise, int(np.ceil(length / max(len(noise), 1))))
    return noise[:length], {"file": name, "start": start}


def apply_noise(wave, sample_rate, rng, folder: Path, snr_db: tuple[float, float]):
    x = as_mono_float32(wave, sample_rate).astype(np.float64)
    snr = round(float(rng.uniform(*snr_db)), 2)
    noise, drawn = noise_segment(folder, sample_rate, len(x), rng)
    signal_energy, noise_energy = float(np.sum(x**2)), float(np.sum(noise**2))
    if signal_energy == 0:
        raise AugmentError("noise: an SNR is undefined on a silent clip")
    if noise_energy == 0:
        raise AugmentError(f"noise: the segment drawn from {drawn['file']} is silent")
    noise *= np.sqrt(signal_energy / noise_energy / 10 ** (snr / 10))
    return (x + noise).astype(np.float32), {"snr_db": snr, **drawn}


def noise_recipe(folder: Path, snr_low: float, snr_high: float) -> Recipe:
    count = len(audio_files(folder))
    return Recipe(
        name=f"noise-snr{range_label(snr_low, snr_high)}",
        apply=partial(apply_noise, folder=Path(folder), snr_db=(snr_low, snr_high)),
        description=f"additive noise from {count} files under {folder} at {snr_low:g}-{snr_high:g} dB SNR",
    )
