"""A small source-filter voice for the generated demo corpus: the "bona fide" speech.

The signal is built the way the classic Klatt-style synthesisers build it, so that it has the
irregularities real voices have and vocoders tend to lose: a glottal pulse train whose pitch
follows a phrase contour with per-period jitter and shimmer, aspiration noise that rises in the
open phase of each cycle, a cascade of formant resonators gliding between vowel targets, and
voiceless fricative bursts. It is not meant to sound human; it is meant to come from a different
generation process than the attacks in ``synthetic_attacks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import signal

from deepfake_pipeline.formats.wavestore import SAMPLE_RATE

# Peterson & Barney (1952) adult male vowel formants F1-F3 in Hz.
VOWEL_FORMANTS_HZ = np.array(
    [
        [270, 2290, 3010],  # i
        [390, 1990, 2550],  # I
        [530, 1840, 2480],  # E
        [660, 1720, 2410],  # ae
        [730, 1090, 2440],  # a
        [570, 840, 2410],  # o
        [440, 1020, 2240],  # U
        [300, 870, 2240],  # u
        [640, 1190, 2390],  # V
        [490, 1350, 1690],  # er
    ],
    dtype=float,
)
HIGHER_FORMANTS_HZ = (3300.0, 3750.0)
FORMANT_BANDWIDTHS_HZ = np.array([60.0, 90.0, 120.0, 150.0, 200.0])

# Voiceless fricatives as noise pass bands (Hz): s, sh, f, h-like aspiration.
FRICATIVE_BANDS_HZ = ((3800.0, 7500.0), (2000.0, 5500.0), (1200.0, 7500.0), (400.0, 3500.0))

FILTER_BLOCK = 160  # 10 ms at 16 kHz: formants are updated this often, as in Klatt-style synthesisers


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker."""

    f0_hz: float  # mean pitch
    tract_scale: float  # formant scaling; >1 is a shorter vocal tract
    jitter: float  # std of the relative period perturbation, cycle to cycle
    shimmer: float  # std of the relative amplitude perturbation, cycle to cycle
    breathiness: float  # aspiration noise level relative to the pulses
    syllables_per_s: float
    open_quotient: float  # fraction of each glottal cycle the folds are open


def random_voice(rng: np.random.Generator, female: bool | None = None) -> Voice:
    if female is None:
        female = bool(rng.random() < 0.5)
    return Voice(
        f0_hz=float(rng.uniform(175, 235) if female else rng.uniform(95, 135)),
        tract_scale=float(rng.uniform(1.1, 1.2) if female else rng.uniform(0.95, 1.05)),
        jitter=float(rng.uniform(0.006, 0.015)),
        shimmer=float(rng.uniform(0.04, 0.10)),
        breathiness=float(rng.uniform(0.03, 0.10)),
        syllables_per_s=float(rng.uniform(3.5, 5.5)),
        open_quotient=float(rng.uniform(0.5, 0.7)),
    )


@cache
def bandpass_sos(low_hz: float, high_hz: float, order: int) -> np.ndarray:
    """Butterworth band-pass at 16 kHz, designed once per band (callers must not modify it)."""
    return signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=SAMPLE_RATE, output="sos")


@dataclass
class _Score:
    """Per-sample control tracks of one utterance."""

    voicing: np.ndarray  # voiced amplitude envelope, 0..1
    frication: np.ndarray  # fricative noise envelope, 0..1
    fricative_band: np.ndarray  # index into FRICATIVE_BANDS_HZ per sample
    formants: np.ndarray  # (n, 3) F1-F3 in Hz


def _smooth(envelope: np.ndarray, ramp_samples: int) -> np.ndarray:
    """Soft onsets and offsets, like the articulators' finite speed."""
    window = np.hanning(2 * ramp_samples + 1)
    return np.convolve(envelope, window / window.sum(), mode="same")


def _score(n: int, voice: Voice, rng: np.random.Generator) -> _Score:
    sr = SAMPLE_RATE
    voicing = np.zeros(n)
    frication = np.zeros(n)
    band = np.zeros(n, dtype=int)
    targets = []  # (sample position, vowel index)
    pos = 0
    mean_syllable = sr / voice.syllables_per_s
    while pos < n:
        if rng.random() < 0.55:  # voiceless onset consonant
            length = int(rng.uniform(0.05, 0.13) * sr)
            frication[pos : pos + length] = rng.uniform(0.4, 1.0)
            band[pos : pos + length] = rng.integers(len(FRICATIVE_BANDS_HZ))
            pos += length
        length = int(rng.uniform(0.45, 0.85) * mean_syllable)
        vowel = int(rng.integers(len(VOWEL_FORMANTS_HZ)))
        voicing[pos : pos + length] = rng.uniform(0.6, 1.0)
        targets.append((pos + length // 2, vowel))
        pos += length
        if rng.random() < 0.15:  # a short pause between words
            pos += int(rng.uniform(0.08, 0.25) * sr)
    ramp = int(0.012 * sr)
    voicing = np.clip(_smooth(voicing, ramp), 0.0, 1.0)
    frication = np.clip(_smooth(frication, ramp), 0.0, 1.0)
    positions = np.array([p for p, _ in targets], dtype=float)
    values = VOWEL_FORMANTS_HZ[[v for _, v in targets]] * voice.tract_scale
    # Formants glide linearly from one vowel target to the next (coarticulation).
    formants = np.stack([np.interp(np.arange(n), positions, values[:, k]) for k in range(3)], axis=1)
    return _Score(voicing, frication, band, formants)


def _pitch_contour(n: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """F0 in Hz per sample: phrase declination, slow wander, and a few accents."""
    t = np.arange(n) / SAMPLE_RATE
    duration = n / SAMPLE_RATE
    declination = np.linspace(1.12, 0.88, n)
    wander = np.zeros(n)
    for _ in range(3):
        freq = rng.uniform(0.3, 2.5)
        wander += rng.uniform(0.01, 0.04) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    accents = np.zeros(n)
    for _ in range(max(1, int(duration * 1.2))):
        centre = rng.uniform(0, duration)
        accents += rng.uniform(0.05, 0.15) * np.exp(-0.5 * ((t - centre) / 0.08) ** 2)
    return voice.f0_hz * declination * (1.0 + wander + accents)


def _glottal_source(f0: np.ndarray, voice: Voice, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Glottal flow derivative (Rosenberg pulse shape) and the open-phase mask, sample-accurate
    with sub-sample pulse onsets, with jitter on every period and shimmer on every pulse."""
    n = len(f0)
    sr = SAMPLE_RATE
    onsets = [rng.uniform(0, 1.0 / f0[0])]
    periods = []
    while onsets[-1] < n / sr:
        idx = min(int(onsets[-1] * sr), n - 1)
        period = (1.0 / f0[idx]) * (1.0 + voice.jitter * rng.standard_normal())
        periods.append(period)
        onsets.append(onsets[-1] + period)
    onsets_arr = np.array(onsets[:-1])
    periods_arr = np.array(periods)
    gains = 1.0 + voice.shimmer * rng.standard_normal(len(onsets_arr))
    t = np.arange(n) / sr
    pulse = np.clip(np.searchsorted(onsets_arr, t, side="right") - 1, 0, len(onsets_arr) - 1)
    phase = np.clip((t - onsets_arr[pulse]) / periods_arr[pulse], 0.0, None)
    opening = voice.open_quotient * 0.65
    closing = voice.open_quotient - opening
    flow = np.where(
        phase < opening,
        0.5 * (1.0 - np.cos(np.pi * phase / opening)),
        np.where(phase < voice.open_quotient, np.cos(0.5 * np.pi * (phase - opening) / closing), 0.0),
    )
    flow *= gains[pulse]
    # The derivative stands in for lip radiation (+6 dB/octave).
    derivative = np.diff(flow, prepend=flow[0])
    open_phase = (phase < voice.open_quotient).astype(float)
    return derivative / (np.abs(derivative).max() + 1e-12), open_phase


def _resonator_sections(formants_hz: np.ndarray, bandwidths_hz: np.ndarray) -> np.ndarray:
    """Second-order sections with unity gain at 0 Hz, one per formant."""
    r = np.exp(-np.pi * bandwidths_hz / SAMPLE_RATE)
    theta = 2 * np.pi * formants_hz / SAMPLE_RATE
    a1 = -2 * r * np.cos(theta)
    a2 = r**2
    sos = np.zeros((len(formants_hz), 6))
    sos[:, 0] = 1 + a1 + a2
    sos[:, 3] = 1.0
    sos[:, 4] = a1
    sos[:, 5] = a2
    return sos


def _vocal_tract(excitation: np.ndarray, formants: np.ndarray, tract_scale: float) -> np.ndarray:
    """Cascade formant filter whose coefficients change every FILTER_BLOCK samples; the filter
    state carries across blocks so the output has no block edges."""
    out = np.empty_like(excitation)
    higher = np.array(HIGHER_FORMANTS_HZ) * tract_scale
    state = np.zeros((5, 2))
    for start in range(0, len(excitation), FILTER_BLOCK):
        stop = min(start + FILTER_BLOCK, len(excitation))
        f = np.concatenate([formants[(start + stop) // 2], higher])
        sos = _resonator_sections(f, FORMANT_BANDWIDTHS_HZ * tract_scale)
        out[start:stop], state = signal.sosfilt(sos, excitation[start:stop], zi=state)
    return out


def synthesize_utterance(num_samples: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """One "spoken" phrase of exactly ``num_samples`` samples at 16 kHz, float64, peak 1.
    Speech fills the whole span; callers add leading and trailing silence."""
    n = num_samples
    score = _score(n, voice, rng)
    f0 = _pitch_contour(n, voice, rng)
    pulses, open_phase = _glottal_source(f0, voice, rng)
    aspiration = rng.standard_normal(n) * voice.breathiness * (0.3 + 0.7 * open_phase)
    voiced = _vocal_tract((pulses + aspiration) * score.voicing, score.formants, voice.tract_scale)
    voiced /= np.abs(voiced).max() + 1e-12

    noise = rng.standard_normal(n)
    fricated = np.zeros(n)
    for k, (low, high) in enumerate(FRICATIVE_BANDS_HZ):
        mask = score.fricative_band == k
        if not mask.any():
            continue
        fricated += signal.sosfilt(bandpass_sos(low, min(high, 0.95 * SAMPLE_RATE / 2), 4), noise) * mask
    fricated *= score.frication
    fricated *= 0.25 / (np.sqrt(np.mean(fricated**2)) + 1e-12) * np.sqrt(np.mean(voiced**2))
    speech = voiced + fricated
    return speech / (np.abs(speech).max() + 1e-12)
