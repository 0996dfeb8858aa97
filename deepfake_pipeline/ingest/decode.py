"""Reading any audio file into the one form every later stage uses: 16 kHz mono float32.

soundfile (libsndfile) reads WAV, FLAC, OGG and MP3 fast; containers it cannot open (mp4, m4a,
webm...) are decoded in-process with PyAV, so no ffmpeg binary is needed. Resampling is soxr's.
Every source is read as floats, whatever it stores: integer PCM comes out scaled to [-1, 1)
exactly (int16 x / 32768), float PCM as it is, values beyond full scale included, so nothing is
clipped or rounded here. A clip that cannot be used raises RejectedClip with one of
REJECT_REASONS, so the caller can list it and go on.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE

# Below this a "speech" file cannot carry the band a detector looks at.
MIN_SOURCE_SR = 4000
# A clip whose loudest sample stays under -60 dBFS holds no usable speech.
SILENCE_PEAK_DBFS = -60.0
from deepfake_pipeline.ingest import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S  # noqa: E402,F401

REJECT_REASONS = {
    "missing": "the file listed for this clip does not exist",
    "broken_link": "a symbolic link whose target does not exist, or a loop of links",
    "unreadable": "neither soundfile nor PyAV could decode it",
    "empty": "the file or its audio stream holds no samples",
    "bad_sample_rate": f"sample rate below {MIN_SOURCE_SR} Hz",
    "too_short": "shorter than --min-duration after decoding",
    "too_long": "longer than --max-duration (its duration in the detail; raise --max-duration to keep it)",
    "silent": f"peak level below {SILENCE_PEAK_DBFS:.0f} dBFS",
    "non_finite": "the decoded samples hold NaN or infinite values (a float file)",
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


CROP_PLACES = ("start", "centre")


@dataclass(frozen=True)
class Crop:
    """Keep at most `seconds` of each clip, from its start or centred (`at`), as the field's
    fixed-length front ends do (AASIST and RawNet2 take the first 64,600 samples, 4.0375 s)."""

    seconds: float
    at: str = "start"

    def __post_init__(self):
        if not self.seconds > 0:
            raise InputError(f"--crop must be a positive number of seconds (got {self.seconds})")
        if self.at not in CROP_PLACES:
            raise InputError(f"--crop-at must be one of {', '.join(CROP_PLACES)} (got {self.at!r})")

    @property
    def num_samples(self) -> int:
        return int(round(self.seconds * SAMPLE_RATE))

    def start_of(self, length: int) -> int:
        """The first sample kept of a clip of `length` samples."""
        if length <= self.num_samples or self.at == "start":
            return 0
        return (length - self.num_samples) // 2

    def as_json(self) -> dict:
        return {"seconds": self.seconds, "at": self.at}


@dataclass
class Clip:
    samples: np.ndarray  # float32, 16 kHz, mono; full scale is 1.0 (and may be exceeded)
    orig_sr: int
    channels: int
    source_duration_s: float | None = None  # before a crop (None: not cropped)
    crop_start_s: float = 0.0  # where the kept part starts in the decoded clip

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _decode_soundfile(path: Path):
    """(frames, channels) float32, the rate and the channel count. Floats whatever the file
    holds: libsndfile scales integer PCM to [-1, 1) exactly and passes float PCM through, while
    reading a float file as int16 would truncate its samples to a few LSBs."""
    with sf.SoundFile(str(path)) as f:
        return f.read(dtype="float32", always_2d=True), f.samplerate, f.channels


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


def _too_long(seconds: float, max_duration_s: float) -> RejectedClip:
    return RejectedClip("too_long", f"{seconds:.1f} s > {max_duration_s:g} s (--max-duration)")


def _header_seconds(path: Path) -> float | None:
    """The duration a file's header states (soundfile formats), or None: lets a recording far
    over --max-duration be rejected without decoding hours of audio into memory."""
    if path.suffix.lower() in PYAV_EXTENSIONS:
        return None
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - any failure here only means: decode to find out
        return None
    return info.frames / info.samplerate if info.samplerate and info.frames > 0 else None


def load_clip(
    path,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    crop: Crop | None = None,
) -> Clip:
    """Decode, mix down and resample one file to 16 kHz mono float32, or raise RejectedClip.
    A clip longer than `max_duration_s` is rejected `too_long` (before decoding where the
    file's header says so by more than a second). With `crop`, a longer clip is cut to the crop
    instead (so `max_duration_s` then bounds only what is kept, which the crop already does);
    the silence and length checks judge the part kept."""
    path = Path(path)
    if not path.is_file():
        if path.is_symlink():  # is_file() follows links: False for a dangling link or a loop
            raise RejectedClip("broken_link", f"{path} -> {os.readlink(path)} does not resolve to a file")
        raise RejectedClip("missing", "no such file")
    if path.stat().st_size == 0:
        raise RejectedClip("empty", "the file has 0 bytes")
    header_s = _header_seconds(path) if crop is None else None
    if header_s is not None and header_s > max_duration_s + 1.0:
        raise _too_long(header_s, max_duration_s)
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
    finite = np.isfinite(data)
    if not finite.all():
        raise RejectedClip(
            "non_finite", f"{data.size - int(finite.sum()):,} of {data.size:,} samples are NaN or infinite"
        )
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if sr != SAMPLE_RATE:
        mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="HQ")
    samples = np.ascontiguousarray(mono, dtype=np.float32)
    clip = Clip(samples=samples, orig_sr=int(sr), channels=int(channels))
    if crop is not None:
        start = crop.start_of(len(samples))
        samples = np.ascontiguousarray(samples[start : start + crop.num_samples])
        clip = Clip(
            samples=samples,
            orig_sr=int(sr),
            channels=int(channels),
            source_duration_s=clip.duration_s,
            crop_start_s=start / SAMPLE_RATE,
        )
    if clip.duration_s < min_duration_s:
        raise RejectedClip("too_short", f"{clip.duration_s:.3f} s < {min_duration_s} s")
    if clip.duration_s > max_duration_s:
        raise _too_long(clip.duration_s, max_duration_s)
    peak = float(np.abs(samples).max())
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.1f} dBFS"
        raise RejectedClip("silent", level)
    return clip
