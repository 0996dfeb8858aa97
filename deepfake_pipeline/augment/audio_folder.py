"""The audio files of a user's folder (noise, room impulse responses): listed once per process,
read one segment at a time, mixed to mono and brought to the clip's rate."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from deepfake_pipeline.augment.base import AugmentError
from deepfake_pipeline.common.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac")


@lru_cache(maxsize=16)
def _listing(folder: str) -> tuple[str, ...]:
    root = Path(folder)
    names = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )
    return tuple(names)


def audio_files(folder: Path) -> tuple[str, ...]:
    """Every .wav / .flac below `folder`, relative to it, sorted (so a draw names the same file
    on any machine); `InputError` when there is none."""
    names = _listing(str(Path(folder).resolve()))
    if not names:
        raise InputError(f"{folder} holds no .wav or .flac file")
    return names


def frames_and_rate(path: Path) -> tuple[int, int]:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AugmentError(f"cannot read {path}: {error}") from error
    if info.frames <= 0:
        raise AugmentError(f"{path} holds no audio")
    return info.frames, info.samplerate


def read_mono(path: Path, sample_rate: int, start: int = 0, frames: int = -1, channel: int | None = None) -> np.ndarray:
    """Frames `start`..`start + frames` of `path` (its own rate) as float64 mono at
    `sample_rate`: the mean of its channels, or one channel when `channel` is given."""
    try:
        audio, rate = sf.read(str(path), start=start, frames=frames, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AugmentError(f"cannot read {path}: {error}") from error
    mono = audio[:, channel] if channel is not None else audio.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return mono
