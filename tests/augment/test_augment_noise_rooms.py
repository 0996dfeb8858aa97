"""Noise from a folder at the drawn SNR, rooms from a folder aligned to the direct path, and
speed perturbation, each checked against a computation written out here."""

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced

from deepfake_pipeline.augment.base import AugmentError
from deepfake_pipeline.augment.recipes import recipe_from_spec, seeded_rng

SR = 16000


@pytest.fixture
def noise_folder(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "musan"
    (folder / "noise" / "free-sound").mkdir(parents=True)
    (folder / "music").mkdir()
    sf.write(folder / "noise" / "free-sound" / "a.wav", 0.1 * rng.standard_normal(3 * 8000), 8000)  # resampled
    sf.write(folder / "music" / "b.flac", 0.2 * rng.standard_normal((SR // 4, 2)), SR)  # short: looped
    (folder / "README.txt").write_text("not audio")
    return folder


def test_noise_is_added_at_the_drawn_snr(noise_folder):
    recipe = recipe_from_spec(f"noise:{noise_folder}:snr=0-15")
    x = voiced(1.0, SR, seed=1).astype(np.float64)
    files = set()
    for utt in range(8):
        y, params = recipe.apply(x.astype(np.float32), SR, seeded_rng(recipe.name, f"u{utt}", 0, 0))
        added = y.astype(np.float64) - x
        achieved = 10 * np.log10(np.sum(x**2) / np.sum(added**2))
        assert 0 <= params["snr_db"] <= 15
        assert achieved == pytest.approx(params["snr_db"], abs=0.01)
        assert (noise_folder / params["file"]).is_file()
        files.add(params["file"])
    assert files == {"music/b.flac", "noise/free-sound/a.wav"}


def test_the_noise_comes_from_the_recorded_file_and_start(noise_folder):
    recipe = recipe_from_spec(f"noise:{noise_folder}")
    x = voiced(0.5, SR, seed=2)
    for utt in range(6):
        y, params = recipe.apply(x, SR, seeded_rng(recipe.name, f"u{utt}", 0, 0))
        if params["file"].endswith("a.wav"):
            break
    noise, rate = sf.read(noise_folder / params["file"])
    assert rate == 8000
    segment = noise[params["start"] : params["start"] + len(x) // 2]  # 8 kHz: half the samples
    added = (y.astype(np.float64) - x)[::2]  # the 16 kHz copy, taken at the 8 kHz instants
    cosine = np.dot(segment, added) / (np.linalg.norm(segment) * np.linalg.norm(added))
    assert cosine > 0.5  # white noise resampled to twice its rate: half its band is kept exactly


def test_a_folder_without_audio_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no .wav or .flac"):
        recipe_from_spec(f"noise:{tmp_path}")


def test_noise_on_a_silent_clip_is_an_error_not_a_copy(noise_folder):
    recipe = recipe_from_spec(f"noise:{noise_folder}")
    with pytest.raises(AugmentError, match="silent"):
        recipe.apply(np.zeros(SR, dtype=np.float32), SR, np.random.default_rng(0))


def write_rir(folder, name, taps: dict, length=2000, rate=SR):
    response = np.zeros(length)
    for index, value in taps.items():
        response[index] = value
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / name, response, rate, subtype="FLOAT" if name.endswith(".wav") else "PCM_24")


def test_a_delayed_delta_room_gives_back_the_clip(tmp_path):
    write_rir(tmp_path / "rirs", "delta.wav", {137: 0.4})
    recipe = recipe_from_spec(f"rir:{tmp_path / 'rirs'}")
    x = voiced(1.0, SR, seed=3)
    y, params = recipe.apply(x, SR, np.random.default_rng(0))
    assert params == {"file": "delta.wav", "direct_path": 137, "rir_samples": 2000}
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_an_echo_room_is_the_clip_plus_its_echo_at_the_clips_energy(tmp_path):
    # direct path at 50, an echo at half its height 400 samples later
    write_rir(tmp_path / "rirs", "echo.flac", {10: 0.1, 50: 0.8, 450: 0.4})
    recipe = recipe_from_spec(f"rir:{tmp_path / 'rirs'}")
    x = voiced(1.0, SR, seed=4).astype(np.float64)
    y, _ = recipe.apply(x.astype(np.float32), SR, np.random.default_rng(0))
    expected = 0.8 * x.copy()
    expected[:-40] += 0.1 * x[40:]  # the early tap, 40 samples before the direct path
    expected[400:] += 0.4 * x[:-400]
    expected *= np.linalg.norm(x) / np.linalg.norm(expected)
    np.testing.assert_allclose(y, expected, atol=2e-4)


@pytest.mark.parametrize("factor_range", ["0.9", "1.1", "0.8-1.2"])
def test_speed_changes_length_and_pitch_by_the_drawn_factor(factor_range):
    recipe = recipe_from_spec(f"speed:factor={factor_range}")
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y, params = recipe.apply(tone, SR, np.random.default_rng(3))
    factor = params["factor"]
    low, _, high = factor_range.partition("-")
    assert float(low) <= factor <= float(high or low)
    assert abs(len(y) - SR / factor) <= 1
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
    peak_hz = np.argmax(spectrum) * SR / (8 * len(y))
    assert peak_hz == pytest.approx(440 * factor, abs=2)
