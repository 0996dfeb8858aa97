"""Reading any audio file into the one form every later stage uses: 16 kHz mono int16.

soundfile (libsndfile) reads WAV, FLAC, OGG and MP3 fast; containers it cannot open (mp4, m4a,
webm...) are decoded in-process with PyAV, so no ffmpeg binary is needed. Resampling is soxr's.
A clip that cannot be used raises RejectedClip with one of REJECT_REASONS, so the caller can list
it and go on.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from deepfake_pipeline.formats.wavestore import SAMPLE_RATE

# Below this a "speech" file cannot carry the band a detector looks at.
MIN_SOURCE_SR = 4000
# A clip whose loudest sample stays under -60 dBFS holds no usable speech.
SILENCE_PEAK_DBFS = -60.0
from deepfake_pipeline.ingest import DEFAULT_MIN_DURATION_S  # noqa: E402,F401

REJECT_REASONS = {
    "missing": "the file listed for this clip does not exist",
    "unreadable": "neither soundfile nor PyAV could decode it",
    "empty": "the file or its audio stream holds no samples",
    "bad_sample_rate": f"sample rate below {MIN_SOURCE_SR} Hz",
    "too_short": "shorter than --min-duration after decoding",
    "silent": f"peak level below {SILENCE_PEAK_DBFS:.0f} dBFS",
}

# Extensions that go straight to PyAV: libsndfile does not read these containers.
PYAV_EXTENSIONS = {".mp4", ".m4a", ".mov", ".mkv", ".webm", ".aac", ".wma", ".avi"}
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif"} | PYAV_EXTENSIONS


class RejectedClip(Exception):
    def __init__(self, reason: str, detail: str = ""):
        assert reason in REJECT_REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Clip:
    samples: np.ndarray  # int16, 16 kHz, mono
    orig_sr: int
    channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _decode_soundfile(path: Path):
    """Returns (samples, sr); int16 when the file is already 16 kHz mono so nothing is converted."""
    with sf.SoundFile(str(path)) as f:
        sr, channels = f.samplerate, f.channels
        if sr == SAMPLE_RATE and channels == 1:
            return f.read(dtype="int16"), sr, channels
        return f.read(dtype="float32", always_2d=True), sr, channels


def _decode_pyav(path: Path):
    import av  # imported here: only containers need it, and it is slow to import

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise RejectedClip("unreadable", "the container has no audio stream")
        stream = container.streams.audio[0]
        sr = stream.rate or stream.codec_context.sample_rate
        # Only the sample format is converted here (to planar float); the rate is soxr's job.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sr)
        planes = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                planes.append(converted.to_ndarray())
        for converted in resampler.resample(None):
            planes.append(converted.to_ndarray())
    if not planes:
        return np.zeros((0, 1), np.float32), sr, 1
    data = np.concatenate(planes, axis=1).T  # (frames, channels)
    return np.ascontiguousarray(data, dtype=np.float32), sr, data.shape[1]


def decode(path) -> tuple:
    """Decode a file as it is: (samples, sample_rate, channels). No resampling."""
    path = Path(path)
    if path.suffix.lower() in PYAV_EXTENSIONS:
        return _decode_pyav(path)
    try:
        return _decode_soundfile(path)
    except sf.LibsndfileError:
        # An unusual WAV subtype or a mislabelled container: FFmpeg may still read it.
        return _decode_pyav(path)


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)


def load_clip(path, min_duration_s: float = DEFAULT_MIN_DURATION_S) -> Clip:
    """Decode, mix down and resample one file to 16 kHz mono int16, or raise RejectedClip."""
    path = Path(path)
    if not path.is_file():
        raise RejectedClip("missing", "no such file")
    if path.stat().st_size == 0:
        raise RejectedClip("empty", "the file has 0 bytes")
    try:
        data, sr, channels = decode(path)
    except RejectedClip:
        raise
    except Exception as error:  # any decoder failure means the same thing: this file is unusable
        raise RejectedClip("unreadable", f"{type(error).__name__}: {error}".strip()) from None
    if data.size == 0:
        raise RejectedClip("empty", "no audio samples")
    if sr < MIN_SOURCE_SR:
        raise RejectedClip("bad_sample_rate", f"{sr} Hz")
    if data.dtype == np.int16:
        samples = data
    else:
        mono = data.mean(axis=1) if data.ndim == 2 else data
        if sr != SAMPLE_RATE:
            mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="HQ")
        samples = to_int16(mono)
    clip = Clip(samples=samples, orig_sr=int(sr), channels=int(channels))
    if clip.duration_s < min_duration_s:
        raise RejectedClip("too_short", f"{clip.duration_s:.3f} s < {min_duration_s} s")
    peak = max(int(samples.max()), -int(samples.min())) / 32768.0
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.1f} dBFS"
        raise RejectedClip("silent", level)
    return clip
