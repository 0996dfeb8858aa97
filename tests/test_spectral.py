"""The one-STFT spectral features agree with the plain librosa calls, stay finite on silent and
very short clips, and keep the column order of docs/DESIGN.md."""

import warnings

import librosa
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from deepfake_pipeline.formats.feature_files import FEATURE_COLUMNS, SPECTRAL_COLUMNS
from deepfake_pipeline.features.spectral import (
    spectral_features,
    spectral_features_reference,
)

SR = 16000


def harmonic_tone_with_noise(duration_s: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SR)) / SR
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (0.1 * envelope * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def assert_agrees_with_reference(fast: np.ndarray, reference: np.ndarray) -> None:
    """Tight agreement relative to each value's scale: the MFCC tolerance is set by the largest
    MFCC of the clip (mfcc_0, hundreds of dB units), since higher MFCCs can sit near 0."""
    assert fast.shape == reference.shape == (15,)
    assert fast.dtype == np.float64
    mfcc_scale = np.abs(reference[2:]).max()
    np.testing.assert_allclose(fast[:2], reference[:2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast[2:], reference[2:], rtol=1e-5, atol=1e-6 * mfcc_scale)


def test_columns_are_the_design_order():
    assert SPECTRAL_COLUMNS == [
        "file", "label", "centroid", "entropy",
        "mfcc_0", "mfcc_1", "mfcc_2", "mfcc_3", "mfcc_4", "mfcc_5", "mfcc_6",
        "mfcc_7", "mfcc_8", "mfcc_9", "mfcc_10", "mfcc_11", "mfcc_12",
    ]  # fmt: skip
    assert FEATURE_COLUMNS == SPECTRAL_COLUMNS[2:]


@pytest.mark.parametrize("duration_s", [1.0, 3.3, 7.9])
def test_agrees_with_plain_librosa_calls_on_generated_audio(duration_s):
    clip = harmonic_tone_with_noise(duration_s, f0=110 + 20 * duration_s, seed=int(duration_s))
    assert_agrees_with_reference(spectral_features(clip), spectral_features_reference(clip))


def test_agrees_with_plain_librosa_calls_on_real_speech(real_data_dir):
    import soundfile
    import soxr

    manifest = pd.read_csv(real_data_dir / "MANIFEST.csv")
    # One WAV/FLAC clip from each source folder: several original rates, bona fide and spoof.
    manifest = manifest[manifest["relpath"].str.endswith((".wav", ".flac"))]
    relpaths = manifest.groupby(manifest["relpath"].str.split("/").str[0])["relpath"].first()
    assert len(relpaths) >= 4
    for relpath in relpaths:
        audio, sr = soundfile.read(real_data_dir / relpath, dtype="float32", always_2d=True)
        clip = soxr.resample(audio.mean(axis=1), sr, SR).astype(np.float32)
        fast, reference = spectral_features(clip), spectral_features_reference(clip)
        assert_agrees_with_reference(fast, reference)
        assert 0 < fast[0] < SR / 2 and 0 < fast[1] < np.log(128)


def test_hand_computed_values_for_a_pure_tone():
    # A pure 1 kHz tone: centroid near 1 kHz, low mel entropy (energy in few bands).
    t = np.arange(2 * SR) / SR
    clip = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    centroid, entropy = spectral_features(clip)[:2]
    assert abs(centroid - 1000) < 60
    assert entropy < 1.5
    noise = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32) * 0.1
    assert spectral_features(noise)[1] > entropy + 1.5


def test_all_zero_clip_gives_the_documented_values():
    features = spectral_features(np.zeros(SR, dtype=np.float32))
    expected = np.zeros(15)
    # Every mel bin sits at the power_to_db floor, 10*log10(1e-10) = -100 dB; the orthonormal
    # DCT of a constant 128-vector is that constant times sqrt(128) in coefficient 0.
    expected[2] = -100.0 * np.sqrt(128)
    np.testing.assert_allclose(features, expected, atol=1e-9)
    # The documented difference: the plain calls give NaN entropy on all-zero frames.
    reference = spectral_features_reference(np.zeros(SR, dtype=np.float32))
    assert np.isnan(reference[1])
    np.testing.assert_allclose(np.delete(features, 1), np.delete(reference, 1), atol=1e-9)


def test_silent_frames_count_as_zero_entropy_and_the_rest_agrees():
    # A gap of digital silence inside speech-like audio gives all-zero frames.
    tone = harmonic_tone_with_noise(1.0)
    clip = np.concatenate([tone, np.zeros(SR, dtype=np.float32), tone])
    fast, reference = spectral_features(clip), spectral_features_reference(clip)
    assert np.isfinite(fast).all()
    assert np.isnan(reference[1])
    frame_entropies = scipy.stats.entropy(librosa.feature.melspectrogram(y=clip, sr=SR), axis=0)
    assert np.isnan(frame_entropies).sum() >= 20
    np.testing.assert_allclose(fast[1], np.nan_to_num(frame_entropies, nan=0.0).mean(), rtol=1e-5)
    mfcc_scale = np.abs(reference[2:]).max()
    np.testing.assert_allclose(fast[0], reference[0], rtol=1e-5)
    np.testing.assert_allclose(fast[2:], reference[2:], rtol=1e-5, atol=1e-6 * mfcc_scale)


@pytest.mark.parametrize("num_samples", [1, 100, 800, 2047])
def test_clips_shorter_than_one_window_are_finite_and_agree(num_samples):
    clip = harmonic_tone_with_noise(1.0)[:num_samples]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path must not warn once per short clip
        fast = spectral_features(clip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns that n_fft is larger than the clip
        reference = spectral_features_reference(clip)
    assert np.isfinite(fast).all()
    assert_agrees_with_reference(fast, reference)


@pytest.mark.parametrize("amplitude", [1e-4, 1e-7, 1e-30])
def test_near_silent_clips_are_finite_and_agree(amplitude):
    clip = (amplitude * harmonic_tone_with_noise(1.0) * 10).astype(np.float32)
    fast, reference = spectral_features(clip), spectral_features_reference(clip)
    assert np.isfinite(fast).all()
    if np.isnan(reference[1]):  # the quietest clip's mel power underflows to all-zero frames
        assert fast[1] == 0.0
        fast[1] = reference[1] = 0.0
    assert_agrees_with_reference(fast, reference)


def test_single_click_in_silence_is_finite():
    clip = np.zeros(SR, dtype=np.float32)
    clip[SR // 2] = 1.0
    fast = spectral_features(clip)
    assert np.isfinite(fast).all()
    assert 0 < fast[1] < np.log(128)


def test_deterministic_and_independent_of_input_dtype_and_memory():
    clip = harmonic_tone_with_noise(2.0, seed=3)
    first = spectral_features(clip)
    np.testing.assert_array_equal(first, spectral_features(clip.copy()))
    np.testing.assert_array_equal(first, spectral_features(clip))
    # A strided view or float64 input is the same waveform after conversion to float32.
    doubled = np.repeat(clip, 2)[::2]
    np.testing.assert_array_equal(first, spectral_features(doubled))
    np.testing.assert_array_equal(first, spectral_features(clip.astype(np.float64)))


@pytest.mark.parametrize(
    "waveform, message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros((2, 1000), dtype=np.float32), "1-D"),
        (np.array([0.0, np.nan, 0.0], dtype=np.float32), "NaN"),
    ],
)
def test_bad_waveforms_are_refused_with_a_reason(waveform, message):
    with pytest.raises(ValueError, match=message):
        spectral_features(waveform)
