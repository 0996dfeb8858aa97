"""Codecs through PyAV: each copy really is encoded, keeps its source's length and is aligned
with it; G.711 matches the companding law written out here; a missing or failing encoder is a
named AugmentError, never the input handed back."""

import json

import numpy as np
import pytest
from audio_factory import voiced
from scipy import signal

from deepfake_pipeline.augment import codecs
from deepfake_pipeline.augment.base import AugmentError
from deepfake_pipeline.augment.recipes import RECIPES, recipe_from_spec

RNG = np.random.default_rng(0)
WORKING = ["mp3-32k", "mp3-64k", "aac-64k", "opus-16k", "mulaw-8k", "alaw-8k", "g722"]


def lag_of_peak(copy: np.ndarray, source: np.ndarray) -> int:
    correlation = signal.correlate(copy.astype(np.float64), source.astype(np.float64), mode="full")
    return int(signal.correlation_lags(len(copy), len(source), mode="full")[np.argmax(correlation)])


def chirp(seconds: float, sr: int) -> np.ndarray:
    # a sweep under a speech-like envelope: one unambiguous correlation peak
    t = np.arange(int(seconds * sr)) / sr
    sweep = signal.chirp(t, 100, t[-1], 0.45 * min(sr, 16000) / 2, method="logarithmic")
    return (0.3 * sweep * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.mark.parametrize("name", WORKING)
def test_a_codec_copy_is_encoded_aligned_and_of_the_source_length(name):
    x = voiced(1.0, 16000, seed=3) + chirp(1.0, 16000)
    y, params = RECIPES[name].apply(x, 16000, RNG)
    assert y.dtype == np.float32 and len(y) == len(x)
    assert abs(lag_of_peak(y, x)) <= 1
    assert np.linalg.norm(y - x) > 0.003 * np.linalg.norm(x)  # it really went through the codec
    assert np.linalg.norm(y - x) < 0.5 * np.linalg.norm(x)  # and came back as the same audio
    assert json.loads(json.dumps(params)) == params


@pytest.mark.parametrize(("name", "sr"), [("opus-16k", 22050), ("aac-64k", 44100), ("mulaw-8k", 24000)])
def test_a_clip_at_another_rate_comes_back_at_its_rate_and_aligned(name, sr):
    x = chirp(0.7, sr)
    y, params = RECIPES[name].apply(x, sr, RNG)
    assert len(y) == len(x)
    assert abs(lag_of_peak(y, x)) <= 1
    assert params["codec_rate"] in {8000, 24000, 44100}


def g711_mu_law(pcm: int) -> int:
    """ITU-T G.711 mu-law of a 16-bit sample, encoded and decoded (the classic Sun g711.c
    reading of the standard: bias 0x84, eight segments of sixteen steps)."""
    sign = pcm < 0
    magnitude = min(-pcm if sign else pcm, 32635) + 0x84
    segment = magnitude.bit_length() - 8
    mantissa = (magnitude >> (segment + 3)) & 0x0F
    value = (((mantissa << 3) + 0x84) << segment) - 0x84
    return -value if sign else value


def g711_a_law(pcm: int) -> int:
    """ITU-T G.711 A-law of a 16-bit sample, encoded and decoded (13-bit magnitude, segment
    ends 0x1F..0xFFF, reconstruction at the middle of each step)."""
    sign = pcm < 0
    magnitude = (-pcm - 1 if sign else pcm) >> 3
    segment = next(
        (i for i, end in enumerate([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]) if magnitude <= end), 8
    )
    if segment == 8:
        segment, mantissa = 7, 0x0F
    else:
        mantissa = (magnitude >> (1 if segment < 2 else segment)) & 0x0F
    value = (mantissa << 4) + 8 if segment == 0 else ((mantissa << 4) + 0x108) << (segment - 1)
    return -value if sign else value


@pytest.mark.parametrize(("name", "law"), [("mulaw-8k", g711_mu_law), ("alaw-8k", g711_a_law)])
def test_g711_through_pyav_is_the_standards_companding(name, law):
    # at 8 kHz there is no resampling: the copy is the clip's 16-bit samples on G.711's levels
    x = chirp(0.5, 8000) * np.linspace(0.02, 3, 4000, dtype=np.float32)  # peaks 0.006 .. 0.9
    y, _ = RECIPES[name].apply(x, 8000, RNG)
    pcm = np.clip(np.rint(x.astype(np.float64) * 32768), -32768, 32767).astype(int)
    levels = np.unique([law(v) for v in range(-32768, 32768, 4)])
    assert len(levels) == (255 if name == "mulaw-8k" else 256)  # mu-law codes +0 and -0 alike
    out = y.astype(np.float64) * 32768
    assert np.array_equal(out, np.rint(out)) and np.isin(out, levels).all()
    # each sample sits on one of the two levels around it; FFmpeg places its decision points up
    # to half a step from the standard's (its tables take the 14-bit truncated sample), so a few
    # per cent take the other one of the two
    above = np.clip(np.searchsorted(levels, pcm), 0, len(levels) - 1)
    below = np.clip(above - 1, 0, len(levels) - 1)
    assert np.all((out == levels[above]) | (out == levels[below]))
    assert np.mean(out == np.array([law(int(v)) for v in pcm])) > 0.95
    small = np.abs(x) < 0.01  # a linear 8-bit code would err by up to 0.004 here
    assert np.abs(y - x)[small].max() < 0.0005


def test_mu_law_and_a_law_differ():
    x = chirp(0.5, 8000) * 0.05
    mu, _ = RECIPES["mulaw-8k"].apply(x, 8000, RNG)
    alaw, _ = RECIPES["alaw-8k"].apply(x, 8000, RNG)
    assert not np.array_equal(mu, alaw)


def test_telephony_goes_through_the_lines_rate():
    # G.711 at 8 kHz keeps nothing above 4 kHz of a 16 kHz clip
    x = voiced(1.0, 16000, seed=2) + 0.2 * np.sin(2 * np.pi * 6000 * np.arange(16000) / 16000).astype(np.float32)
    y, params = RECIPES["mulaw-8k"].apply(x, 16000, RNG)
    freqs, power = signal.welch(y, fs=16000, nperseg=1024)
    _, power_in = signal.welch(x, fs=16000, nperseg=1024)
    at_6k = np.argmin(np.abs(freqs - 6000))
    assert params["codec_rate"] == 8000
    assert power[at_6k] < 1e-4 * power_in[at_6k]


def test_a_missing_encoder_is_a_named_error():
    missing = codecs.CodecSetting("nope", "libdoesnotexist", "mp3", 32000)
    with pytest.raises(AugmentError, match="libdoesnotexist"):
        codecs.apply_codec(voiced(0.3, 16000), 16000, RNG, setting=missing)


def test_vorbis_without_libvorbis_is_refused_not_faked():
    try:
        y, params = RECIPES["vorbis-32k"].apply(voiced(0.5, 16000), 16000, RNG)
    except AugmentError as error:
        assert "libvorbis" in str(error)
    else:  # a build with libvorbis: then it must be a real, aligned encode
        assert params["codec"] == "libvorbis" and len(y) == 8000


def test_an_encoder_that_ignores_the_bitrate_is_refused():
    # LAME caps MPEG-2 (16 kHz) MP3 at 160 kbit/s: asking 320 must not be recorded as 320
    with pytest.raises(AugmentError, match="320 kbit/s"):
        recipe_from_spec("mp3-320k").apply(voiced(0.5, 16000), 16000, RNG)


def test_a_failing_encode_is_an_error_not_a_pass_through(monkeypatch):
    def broken(x, rate, setting):
        raise AugmentError(f"codec {setting.encoder}: Invalid data found when processing input")

    monkeypatch.setattr(codecs, "round_trip", broken)
    codecs.calibrate.cache_clear()
    with pytest.raises(AugmentError, match="libmp3lame"):
        RECIPES["mp3-32k"].apply(voiced(0.3, 16000), 16000, RNG)
    codecs.calibrate.cache_clear()
