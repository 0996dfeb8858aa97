"""Clips the benchmarks share: harmonic tones with a wandering pitch, syllable-rate loudness and
background noise, with ASVspoof-like durations (lognormal around 3.3 s)."""

import numpy as np

SR = 16000


def generated_clips(n_clips: int, seed: int, max_seconds: float = 13.0) -> list:
    rng = np.random.default_rng(seed)
    durations = np.clip(rng.lognormal(mean=np.log(3.3), sigma=0.4, size=n_clips), 1.0, max_seconds)
    clips = []
    for duration in durations:
        t = np.arange(int(duration * SR)) / SR
        f0 = rng.uniform(90, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
        envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 6) * t)) ** 2
        clips.append((0.1 * envelope * voiced + 0.005 * rng.standard_normal(t.size)).astype(np.float32))
    return clips
