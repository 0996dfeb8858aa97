"""The one-STFT spectral features agree with the plain librosa calls, stay finite on silent and
very short clips, and keep the column order of docs/DESIGN.md."""

import math
import re
import warnings

import librosa
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from deepfake_pipeline.features.spectral import (
    spectral_features,
    spectral_features_reference,
    warm_numba_kernels,
)
from deepfake_pipeline.formats.feature_files import FEATURE_COLUMNS, SPECTRAL_COLUMNS

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


@pytest.mark.slow
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
        (
            np.zeros(0, dtype=np.float32),
            "the waveform is empty: there is no frame to compute features on",
        ),
        (
            np.zeros((2, 1000), dtype=np.float32),
            "expected a 1-D mono waveform, got an array of shape (2, 1000)",
        ),
        (np.array([0.0, np.nan, 0.0], dtype=np.float32), "the waveform holds NaN or inf samples"),
        (np.array([0.0, -np.inf, 0.0], dtype=np.float32), "the waveform holds NaN or inf samples"),
    ],
)
def test_bad_waveforms_are_refused_with_a_reason(waveform, message):
    # The whole message, from its start to its end: a changed word or a wrong branch fails.
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        spectral_features(waveform)


def fsum_mean(values) -> float:
    """The mean of float32 or float64 values, correctly rounded (math.fsum): an independent float64
    reduction to hold the module's np.mean / np.sum(dtype=np.float64) reductions against."""
    values = [float(v) for v in values]
    return math.fsum(values) / len(values)


def test_short_clips_silence_only_librosas_n_fft_warning(monkeypatch):
    # The short-clip branch hides librosa's "n_fft=... is too large" warning (one per clip) and
    # nothing else: another UserWarning raised inside librosa.stft must still reach the caller.
    plain_stft = librosa.stft

    def stft_that_also_warns(*args, **kwargs):
        warnings.warn("another librosa warning", UserWarning, stacklevel=2)
        return plain_stft(*args, **kwargs)

    monkeypatch.setattr(librosa, "stft", stft_that_also_warns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features = spectral_features(harmonic_tone_with_noise(1.0)[:800])
    assert np.isfinite(features).all()
    user_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert user_warnings == ["another librosa warning"]


def test_centroid_is_a_float64_ratio_of_the_stft_magnitudes():
    # Independent centroid from the same float32 |STFT| (the same librosa.stft call on the same
    # float32 clip, so the same numbers): per frame sum_k f_k |S_k| / sum_k |S_k| with
    # f_k = k * sr / n_fft, both sums by math.fsum. f_k * |S_k| is exact in float64 (f_k =
    # k * 125/16 has at most 17 significant bits, |S_k| 24), so the expected value is correctly
    # rounded; the module's float64 sums of 1025 terms are within 1025 * 2**-53 ~ 1e-13 of it,
    # while a float32 sum of the magnitudes would be off by ~2**-24 ~ 6e-8 per frame.
    clip = harmonic_tone_with_noise(0.5, f0=170.0, seed=4)
    magnitude = np.abs(librosa.stft(clip, n_fft=2048, hop_length=512))
    frequencies = [k * SR / 2048 for k in range(magnitude.shape[0])]
    centroids = []
    for column in magnitude.T:
        weights = [float(m) for m in column]
        weighted = math.fsum(f * m for f, m in zip(frequencies, weights, strict=True))
        centroids.append(weighted / math.fsum(weights))
    np.testing.assert_allclose(spectral_features(clip)[0], fsum_mean(centroids), rtol=1e-11)


def test_a_loud_click_keeps_its_entropy_and_centroid():
    # One sample of 2**63 in the middle of 2048 zeros: 5 frames, centred on samples 0, 512, ...,
    # 2048. The click sits at window position 1536, 1024 and 512 of frames 1, 2 and 3 (Hann
    # weights 0.5, 1, 0.5) and outside or at the zero weight of frames 0 and 4, which are all
    # zero. An impulse has a flat |STFT|, so in frames 1-3 the centroid is the mean bin frequency,
    # (0 + 8000) / 2 = 4000 Hz, and mel band b holds |S|^2 times the row sum of the mel filter
    # bank. The power, (2**63)**2 = 8.5e37, and every mel band are finite in float32, but a
    # frame's 128 bands sum to 3.5e38 (frames 1, 3) and 1.4e39 (frame 2), past float32's largest
    # number, 3.4e38: the sums must be float64 (a float32 sum overflows to inf and the entropy to
    # 0; scipy.stats.entropy on librosa's float32 mel spectrogram gives 0 there).
    clip = np.zeros(2048, dtype=np.float32)
    clip[1024] = 2.0**63
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow anywhere on the fast path
        features = spectral_features(clip)
    assert np.isfinite(features).all()
    mel_filters = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128).astype(np.float64)
    band_weights = mel_filters.sum(axis=1)
    flat_entropy = scipy.stats.entropy(band_weights)  # normalises to sum 1, in nats
    assert 4.85 < flat_entropy <= np.log(128)  # Slaney bands of equal area: nearly uniform
    # float32 rounding of the STFT and mel products: relative errors around 1e-7.
    np.testing.assert_allclose(features[0], 3 / 5 * 4000.0, rtol=1e-5)
    np.testing.assert_allclose(features[1], 3 / 5 * flat_entropy, rtol=1e-5)


def test_reference_is_the_three_plain_librosa_calls_averaged_in_float64():
    # The reference reads any float input as float32 (as spectral_features does), then averages
    # the three plain calls' frames in float64: held against the same calls on the float32 clip,
    # averaged with math.fsum. Float32 averages (or librosa run in float64 on the float64 input)
    # differ by 1e-9 to 1e-7 relative; float64 means of ~30 frames agree to ~1e-15.
    clip = harmonic_tone_with_noise(1.0, f0=190.0, seed=6)
    centroid = librosa.feature.spectral_centroid(y=clip, sr=SR)[0]
    entropy = scipy.stats.entropy(librosa.feature.melspectrogram(y=clip, sr=SR), axis=0)
    mfcc = librosa.feature.mfcc(y=clip, sr=SR, n_mfcc=13)
    expected = np.array([fsum_mean(centroid), fsum_mean(entropy), *map(fsum_mean, mfcc)])
    reference = spectral_features_reference(clip.astype(np.float64))
    assert reference.dtype == np.float64
    np.testing.assert_allclose(reference[:2], expected[:2], rtol=1e-12)
    mfcc_scale = np.abs(expected[2:]).max()
    np.testing.assert_allclose(reference[2:], expected[2:], rtol=1e-12, atol=1e-12 * mfcc_scale)


def test_warm_numba_kernels_runs_without_error():
    # Step 2 calls it in the parent before starting its workers (features/jobs.py); it must not
    # raise. Which numba kernels it leaves in the cache is checked by tests/common/test_numba_cache.py.
    assert warm_numba_kernels() is None
