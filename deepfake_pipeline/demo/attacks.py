"""The demo corpus's "attacks": vocoder-like resyntheses of the synthetic voice.

Each attack re-generates an utterance through a different process, the way TTS and voice
conversion systems regenerate speech through a vocoder, and each leaves its own kind of trace:
an over-smoothed spectrogram whose phase is estimated (Griffin-Lim), a coarse mel envelope, a
jitter-free pulse excitation, a monotone channel vocoder, perfectly coherent harmonics, random
phase. Most also smooth the spectrum over time, as the regression models in TTS systems do.
All take and return float arrays of the same length at 16 kHz; ``synthesize_clip`` then sets
loudness, silence and noise floor the same way for every class.
"""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
from scipy import ndimage, signal

from deepfake_pipeline.demo.speech import SAMPLE_RATE, Voice, bandpass_sos, random_voice, synthesize_utterance

Attack = Callable[[np.ndarray, np.random.Generator], np.ndarray]

_HOP = 160  # 10 ms analysis hop


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    return librosa.util.fix_length(np.asarray(y, dtype=np.float64), size=n)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def _pitch_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame-wise F0 (YIN) and a voicing decision from energy and zero-crossing rate, as a
    simple vocoder front end would estimate them; one value per _HOP samples."""
    f0 = librosa.yin(x, fmin=70, fmax=400, sr=SAMPLE_RATE, frame_length=1024, hop_length=_HOP)
    rms = librosa.feature.rms(y=x, frame_length=1024, hop_length=_HOP)[0]
    zcr = librosa.feature.zero_crossing_rate(x, frame_length=1024, hop_length=_HOP)[0]
    voiced = (rms > 0.1 * rms.max()) & (zcr < 0.15)
    f0 = signal.medfilt(f0, 5)
    return f0, voiced


def _per_sample(frame_values: np.ndarray, n: int) -> np.ndarray:
    frame_times = np.arange(len(frame_values)) * _HOP
    return np.interp(np.arange(n), frame_times, frame_values)


def _pulse_train(f0_per_sample: np.ndarray) -> np.ndarray:
    """Unit-power impulses at the periods the F0 track gives: no jitter, no shimmer."""
    phase = np.cumsum(f0_per_sample / SAMPLE_RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    return pulses * np.sqrt(SAMPLE_RATE / np.maximum(f0_per_sample, 1.0))


def griffin_lim(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A01: Tacotron-style: an over-smoothed linear spectrogram (a 50 ms moving average, as a
    regression model's prediction is smooth), raised to the power 1.5 as Tacotron does before
    Griffin-Lim, which then estimates a phase from the magnitude alone."""
    magnitude = np.abs(librosa.stft(x, n_fft=512, hop_length=128))
    smoothed = np.maximum(ndimage.uniform_filter1d(magnitude, size=7, axis=1), 0.0)
    y = librosa.griffinlim(smoothed**1.5, n_iter=16, hop_length=128, n_fft=512, random_state=_seed(rng))
    return _fit_length(y, len(x))


def mel_inversion(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A02: a 24-band mel spectrogram at 16 ms hops, smoothed over 80 ms, inverted to audio, like
    a TTS acoustic model's output handed to a simple vocoder. The mel bands are spread back over the linear
    frequencies by the filterbank's pseudo-inverse (librosa's NNLS inversion costs seconds per
    clip), then Griffin-Lim supplies a phase."""
    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=1024, n_mels=24)
    magnitude = np.abs(librosa.stft(x, n_fft=1024, hop_length=256))
    mel = ndimage.uniform_filter1d(mel_basis @ magnitude, size=5, axis=1)
    linear = np.maximum(np.linalg.pinv(mel_basis) @ mel, 0.0)
    y = librosa.griffinlim(linear, n_iter=16, hop_length=256, n_fft=1024, random_state=_seed(rng))
    return _fit_length(y, len(x))


def lpc_vocoder(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A03: order-18 LPC envelope every 10 ms driven by a jitter-free pulse train (voiced) or
    white noise (unvoiced), gain matched to the prediction residual. Frames are filtered from
    rest and overlap-added: carrying filter state across coefficient changes makes the sharp
    low resonances ring up into spikes."""
    n = len(x)
    frame = 2 * _HOP
    f0, voiced = _pitch_track(x)
    voiced_per_sample = _per_sample(voiced.astype(float), n) > 0.5
    pulses = _pulse_train(_per_sample(f0, n))
    excitation = np.pad(np.where(voiced_per_sample, pulses, rng.standard_normal(n)), (_HOP, frame))
    padded = np.pad(x, (_HOP, frame))
    analysis_window = np.hanning(frame)
    overlap_window = signal.get_window("hann", frame)  # periodic: sums to 1 at 50 % overlap
    out = np.zeros(len(padded))
    for start in range(0, n + _HOP, _HOP):
        segment = padded[start : start + frame] * analysis_window
        if not np.any(segment):
            continue
        a = librosa.lpc(segment + 1e-9 * rng.standard_normal(frame), order=18)
        residual = signal.lfilter(a, [1.0], segment)
        gain = np.sqrt(np.mean(residual**2) / np.mean(analysis_window**2))
        synthesized = signal.lfilter([gain], a, excitation[start : start + frame])
        out[start : start + frame] += synthesized * overlap_window
    return out[_HOP : _HOP + n]


def channel_vocoder(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A04: 14 band envelopes (100 Hz-5 kHz) of the input imposed on a monotone pulse carrier at
    the median pitch (noise where unvoiced): the classic robot voice."""
    n = len(x)
    f0, voiced = _pitch_track(x)
    median_f0 = float(np.median(f0[voiced])) if voiced.any() else 120.0
    pulses = _pulse_train(np.full(n, median_f0))
    voiced_per_sample = _per_sample(voiced.astype(float), n)
    carrier = voiced_per_sample * pulses + (1 - voiced_per_sample) * rng.standard_normal(n)
    edges = np.geomspace(100, 5000, 15)
    smoother = signal.butter(2, 40, fs=SAMPLE_RATE, output="sos")
    out = np.zeros(n)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        band = bandpass_sos(float(low), float(high), 3)
        envelope = np.maximum(signal.sosfiltfilt(smoother, np.abs(signal.sosfilt(band, x))), 0.0)
        out += envelope * signal.sosfilt(band, carrier)
    return out


def harmonic_model(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A05: harmonic-plus-noise resynthesis: harmonics of the YIN pitch with amplitudes read off
    the STFT magnitude and phases that stay locked to each other, noise above 4 kHz."""
    n = len(x)
    f0, voiced = _pitch_track(x)
    spec = np.abs(librosa.stft(x, n_fft=1024, hop_length=_HOP))
    frames = min(spec.shape[1], len(f0))
    spec, f0, voiced = spec[:, :frames], f0[:frames], voiced[:frames]
    bin_hz = SAMPLE_RATE / 1024
    f0_samples = _per_sample(f0, n)
    voicing_samples = _per_sample(voiced.astype(float), n)
    phase = 2 * np.pi * np.cumsum(f0_samples) / SAMPLE_RATE
    out = np.zeros(n)
    frame_index = np.arange(frames)
    for h in range(1, int(4000 / f0.min()) + 1):
        bins = np.clip(np.round(h * f0 / bin_hz).astype(int), 0, spec.shape[0] - 1)
        amplitude = spec[bins, frame_index] * (h * f0 < 4000)
        out += _per_sample(amplitude, n) * np.cos(h * phase)
    out *= voicing_samples
    noise_spec = librosa.stft(rng.standard_normal(n), n_fft=1024, hop_length=_HOP)[:, :frames]
    noise_spec[: int(4000 / bin_hz)] = 0.0
    noise = librosa.istft(noise_spec * spec / 16.0, hop_length=_HOP, length=n)
    return out / 512.0 + noise


def random_phase(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A06: the STFT magnitude, smoothed over 72 ms, with every phase replaced by a random one,
    overlap-added."""
    magnitude = ndimage.uniform_filter1d(np.abs(librosa.stft(x, n_fft=512, hop_length=128)), size=9, axis=1)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    return _fit_length(librosa.istft(magnitude * phase, hop_length=128, length=len(x)), len(x))


ATTACKS: dict[str, Attack] = {
    "A01": griffin_lim,
    "A02": mel_inversion,
    "A03": lpc_vocoder,
    "A04": channel_vocoder,
    "A05": harmonic_model,
    "A06": random_phase,
}


def to_pcm16(waveform: np.ndarray) -> np.ndarray:
    return np.round(np.clip(waveform, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def synthesize_clip(
    voice: Voice,
    attack: str,
    speech_s: float,
    lead_s: float,
    trail_s: float,
    level_dbfs: float,
    noise_dbfs: float,
    seed: int,
) -> np.ndarray:
    """One corpus clip as 16 kHz int16: an utterance of ``voice`` lasting ``speech_s`` seconds,
    resynthesised by ``attack`` (``"-"`` for bona fide), set to ``level_dbfs`` RMS, framed by
    silence, with a background noise floor at ``noise_dbfs`` over the whole clip. Loudness,
    silence and noise are applied after the attack and drawn by the caller from the same
    distributions for both classes, so none of them tells the classes apart."""
    rng = np.random.default_rng(seed)
    speech = synthesize_utterance(int(round(speech_s * SAMPLE_RATE)), voice, rng)
    if attack != "-":
        speech = ATTACKS[attack](speech, rng)
    speech *= 10 ** (level_dbfs / 20) / (np.sqrt(np.mean(speech**2)) + 1e-12)
    lead = int(round(lead_s * SAMPLE_RATE))
    trail = int(round(trail_s * SAMPLE_RATE))
    clip = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    # Room-like noise floor: white noise tilted down 6 dB/octave above 1 kHz.
    tilt = signal.butter(1, 1000, fs=SAMPLE_RATE, output="sos")
    noise = signal.sosfilt(tilt, rng.standard_normal(len(clip)))
    clip += noise * 10 ** (noise_dbfs / 20) / np.sqrt(np.mean(noise**2))
    peak = np.abs(clip).max()
    if peak > 0.99:  # never clip; the level ranges make this rare for either class
        clip *= 0.99 / peak
    return to_pcm16(clip)


def warm_numba_kernels() -> None:
    """Compile (or load from numba's disk cache) every librosa kernel that rendering a clip
    reaches, by rendering a short clip of each class in this process: the same calls with the
    same dtypes as the corpus writers' workers make. See deepfake_pipeline/common/numba_cache.py."""
    voice = random_voice(np.random.default_rng(0))
    for attack in ("-", *ATTACKS):
        synthesize_clip(voice, attack, 1.0, 0.05, 0.05, level_dbfs=-26.0, noise_dbfs=-70.0, seed=0)
