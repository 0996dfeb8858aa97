"""Per-clip spectral features of step 2: mean spectral centroid, mean mel-spectrogram entropy and
the means of 13 MFCCs, the columns of ``spectral.csv``.

``spectral_features`` computes the STFT of a clip once and derives all three from it, with
librosa's building blocks at librosa 0.11's defaults, so the values agree with the three plain
librosa calls that ``spectral_features_reference`` makes (checked in tests/features/test_spectral.py;
``bench/bench_spectral.py`` measures the speed of both). The librosa defaults both paths use,
read from librosa 0.11's source: ``n_fft=2048``, ``hop_length=512``, Hann window of length
n_fft, ``center=True`` with ``pad_mode='constant'`` (zero padding); spectral centroid on the
magnitude ``|STFT|``; mel spectrogram on the power ``|STFT|**2`` with 128 Slaney-style mel bands
(``fmin=0``, ``fmax=sr/2``, ``norm='slaney'``); MFCC = DCT-II (``norm='ortho'``) of
``power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)``, no liftering.
"""

import warnings
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import scipy.special
import scipy.stats

from deepfake_pipeline.formats.feature_files import N_MFCC
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE

N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128


@lru_cache(maxsize=8)
def _mel_basis(sr: int) -> np.ndarray:
    # Building the filter bank costs about as much as the rest of a short clip, so build it once.
    basis = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=8)
def _bin_frequencies(sr: int) -> np.ndarray:
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    freqs.setflags(write=False)
    return freqs


def _as_mono_float32(waveform) -> np.ndarray:
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {y.shape}")
    if y.size == 0:
        raise ValueError("the waveform is empty: there is no frame to compute features on")
    if not np.isfinite(y).all():
        raise ValueError("the waveform holds NaN or inf samples")
    return y


def _stft(y: np.ndarray) -> np.ndarray:
    if y.size >= N_FFT:
        return librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)
    # A clip shorter than one window is valid here (centre padding gives it 1 + len//hop frames);
    # librosa warns on every such clip, which would flood a long run's log.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        return librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)


def spectral_features(waveform: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The 15 numbers of ``FEATURE_COLUMNS`` for one clip, as float64, always finite.

    ``waveform`` is a 1-D mono signal (float32 at 16 kHz in this project; other float dtypes are
    converted to float32 first). An empty, multi-channel or non-finite waveform raises ValueError.

    Definitions (frames: STFT with librosa's defaults, see the module docstring):

    - ``centroid``: mean over frames of librosa's spectral centroid, the magnitude-weighted mean
      bin frequency in Hz. An all-zero frame has centroid 0 (librosa's convention: its column is
      left unnormalised, so every weight is 0) and counts in the mean.
    - ``entropy``: mean over frames of the Shannon entropy, in nats (natural log), of the frame's
      128-band mel power spectrogram (``librosa.feature.melspectrogram`` defaults, power 2)
      normalised to sum 1 over the bands: ``H = -sum_b p_b ln p_b`` with ``0 ln 0 = 0``, so it lies
      in [0, ln 128 = 4.852]. An all-zero frame (mel sum at most float32's smallest normal number)
      contributes entropy 0 and counts in the mean, the same convention as the centroid. Here the
      reference differs: ``scipy.stats.entropy`` gives NaN for such a frame, so the reference
      entropy of a clip with an all-zero frame (e.g. an all-zero clip) is NaN.
    - ``mfcc_k``: mean over frames of the k-th (k = 0..12) of ``librosa.feature.mfcc(n_mfcc=13)``.
      Its 80 dB floor (``top_db``) is relative to the loudest mel bin of the whole clip, as in
      librosa. An all-zero clip gives ``mfcc_0 = -100 dB * sqrt(128)`` and 0 for the others.

    A clip shorter than n_fft (e.g. 0.05 s) is zero-padded by the centred STFT and gives
    ``1 + len // 512`` frames, as in librosa.
    """
    y = _as_mono_float32(waveform)
    spectrum = _stft(y)
    # |S| via np.abs (hypot) and then squared, as librosa does: re**2 + im**2 would underflow to 0
    # in float32 for very quiet clips whose magnitude librosa still sees as non-zero.
    magnitude = np.abs(spectrum)
    power = magnitude**2

    # Centroid per frame: sum_f f * |S_f| / sum_f |S_f|; 0 for an all-zero frame as in librosa.
    magnitude_sum = magnitude.sum(axis=0, dtype=np.float64)
    weighted = _bin_frequencies(sr) @ magnitude.astype(np.float64)
    tiny = np.finfo(np.float32).tiny
    centroid = np.divide(weighted, magnitude_sum, out=np.zeros_like(weighted), where=magnitude_sum > tiny)

    mel = _mel_basis(sr) @ power
    mel_sum = mel.sum(axis=0, dtype=np.float64)
    silent = mel_sum <= tiny
    probabilities = mel / np.where(silent, 1.0, mel_sum)
    entropy = scipy.special.entr(probabilities).sum(axis=0, dtype=np.float64)

    log_mel = librosa.power_to_db(mel)
    # The DCT is linear, so the mean over frames of the MFCCs is the DCT of the mean log-mel frame:
    # one 128-point transform instead of one per frame.
    mean_log_mel = log_mel.mean(axis=1, dtype=np.float64)
    mfcc_means = scipy.fft.dct(mean_log_mel, type=2, norm="ortho")[:N_MFCC]

    return np.concatenate(([centroid.mean(), entropy.mean()], mfcc_means)).astype(np.float64)


def warm_numba_kernels() -> None:
    """Compile (or load from numba's disk cache) every librosa kernel that ``spectral_features``
    reaches, by running it once in this process on a short float32 clip like those step 2's
    workers pass. See deepfake_pipeline/common/numba_cache.py."""
    spectral_features(np.sin(np.arange(2 * N_FFT, dtype=np.float32) * np.float32(0.05)))


def spectral_features_reference(waveform: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The same 15 numbers from the plain, independent librosa calls (each computes its own STFT),
    reduced the same way; the naive path that the test and the benchmark compare against.
    Gives NaN entropy where a frame is all zero (see ``spectral_features``)."""
    y = np.asarray(waveform, dtype=np.float32)
    centroid = librosa.feature.spectral_centroid(y=y, sr=sr)[0]
    mel = librosa.feature.melspectrogram(y=y, sr=sr)
    entropy = scipy.stats.entropy(mel, axis=0)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC)
    return np.concatenate(
        (
            [centroid.mean(dtype=np.float64), entropy.mean(dtype=np.float64)],
            mfcc.mean(axis=1, dtype=np.float64),
        )
    )
