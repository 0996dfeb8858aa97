import numpy as np
import pytest
import soundfile as sf
import soxr
from audio_factory import voiced, write_clip, write_mp4

from deepfake_pipeline.ingest.decode import REJECT_REASONS, RejectedClip, load_clip


def test_16k_mono_flac_is_read_sample_exact(tmp_path):
    path = write_clip(tmp_path / "a.flac", seconds=1.3, sr=16000, subtype="PCM_16")
    clip = load_clip(path)
    expected, _ = sf.read(path, dtype="int16")
    assert clip.samples.dtype == np.float32
    np.testing.assert_array_equal(clip.samples * 32768.0, expected)
    assert clip.orig_sr == 16000 and clip.duration_s == pytest.approx(1.3, abs=1e-4)


def test_stereo_44k_wav_is_mixed_down_and_resampled_with_soxr(tmp_path):
    path = write_clip(tmp_path / "b.wav", seconds=1.0, sr=44100, channels=2, subtype="FLOAT")
    clip = load_clip(path)
    stereo, _ = sf.read(path, dtype="float32")
    expected = soxr.resample(stereo.mean(axis=1), 44100, 16000, quality="HQ")
    assert clip.orig_sr == 44100 and clip.channels == 2
    assert len(clip.samples) == len(expected)
    np.testing.assert_allclose(clip.samples, expected, atol=1e-6)


def test_mp3_and_mp4_decode_to_16k_mono(tmp_path):
    mp3 = tmp_path / "c.mp3"
    sf.write(mp3, voiced(1.0, 22050), 22050, format="MP3")
    mp4 = write_mp4(tmp_path / "d.mp4", seconds=1.0, sr=44100, channels=2)
    for path, rate in ((mp3, 22050), (mp4, 44100)):
        clip = load_clip(path)
        assert clip.orig_sr == rate
        # Codecs add priming samples; the length stays within a few codec frames of 1 s.
        assert 0.95 < clip.duration_s < 1.15
        assert np.abs(clip.samples).max() > 0.03


@pytest.mark.parametrize("reason", sorted(REJECT_REASONS))
def test_every_reject_reason(tmp_path, reason):
    path = tmp_path / "clip.wav"
    if reason == "missing":
        path = tmp_path / "nope.wav"
    elif reason == "empty":
        path.write_bytes(b"")
    elif reason == "unreadable":
        path.write_bytes(b"RIFF not really a wave file" * 10)
    elif reason == "bad_sample_rate":
        sf.write(path, voiced(1.0, 2000), 2000)
    elif reason == "too_short":
        sf.write(path, voiced(0.1, 16000), 16000)
    elif reason == "too_long":
        sf.write(path, voiced(2.0, 16000), 16000)
    elif reason == "silent":
        sf.write(path, np.zeros(16000, np.float32) + 1e-5, 16000)
    elif reason == "non_finite":
        samples = voiced(1.0, 16000)
        samples[100] = np.nan
        sf.write(path, samples, 16000, subtype="FLOAT")
    elif reason == "broken_link":
        path.symlink_to(tmp_path / "gone.wav")
    with pytest.raises(RejectedClip) as caught:
        load_clip(path, min_duration_s=0.25, max_duration_s=1.5)
    assert caught.value.reason == reason


@pytest.mark.parametrize("seconds, sr", [(2.0, 16000), (6.0, 16000), (6.0, 44100)])
def test_too_long_names_the_duration_whether_the_header_or_the_decoded_audio_tells(tmp_path, seconds, sr):
    """Within a second of the limit the decoded length decides; far over it the header does,
    before hours of audio are decoded into memory."""
    path = tmp_path / "long.wav"
    sf.write(path, voiced(seconds, sr), sr)
    with pytest.raises(RejectedClip) as caught:
        load_clip(path, max_duration_s=1.5)
    assert caught.value.reason == "too_long"
    assert caught.value.detail.startswith(f"{seconds:.1f} s > 1.5 s")
    assert load_clip(path, max_duration_s=seconds + 0.5).duration_s == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_16k_mono_float_wav_keeps_its_level(tmp_path, subtype):
    """A float WAV holds samples in [-1, 1] (or beyond): read as int16 without scaling, speech
    became a few LSBs and was rejected as silent."""
    path = tmp_path / "float.wav"
    speech = voiced(1.0, 16000)
    sf.write(path, speech, 16000, subtype=subtype)
    clip = load_clip(path)
    assert clip.samples.dtype == np.float32
    np.testing.assert_array_equal(clip.samples, speech)


def test_float_samples_beyond_full_scale_are_kept_not_clipped(tmp_path):
    path = tmp_path / "loud.wav"
    speech = voiced(1.0, 16000)
    loud = 1.6 * speech / np.abs(speech).max()
    sf.write(path, loud, 16000, subtype="FLOAT")
    clip = load_clip(path)
    assert np.abs(clip.samples).max() > 1.5
    np.testing.assert_array_equal(clip.samples, loud.astype(np.float32))


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("sr", [16000, 22050])
def test_float_wav_with_inf_or_nan_is_rejected(tmp_path, bad, sr):
    path = tmp_path / "bad.wav"
    samples = voiced(1.0, sr)
    samples[sr // 2] = bad
    sf.write(path, samples, sr, subtype="FLOAT")
    with pytest.raises(RejectedClip) as caught:
        load_clip(path)
    assert caught.value.reason == "non_finite"
    assert "1 of" in caught.value.detail


def test_wav_with_no_samples_is_empty_not_unreadable(tmp_path):
    path = tmp_path / "header_only.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(RejectedClip) as caught:
        load_clip(path)
    assert caught.value.reason == "empty"


def test_real_clips_decode_with_manifest_durations(real_data_dir):
    import csv

    rows = list(csv.DictReader(open(real_data_dir / "MANIFEST.csv")))
    for row in rows[::10]:
        clip = load_clip(real_data_dir / row["relpath"])
        assert clip.orig_sr == int(row["sample_rate"])
        assert clip.duration_s == pytest.approx(float(row["duration_s"]), abs=0.01)
