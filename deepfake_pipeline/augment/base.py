"""What every recipe is: its error, its shape, and the per-clip random generator.

Kept apart from `recipes` (the registry) so the recipe families can import these without a cycle;
`recipes` re-exports them and is the module callers use."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class AugmentError(Exception):
    """A recipe could not make its copy of a clip (an encoder missing or failing, an unreadable
    noise file, a clip too short for the recipe). Raised with a one-line reason; a recipe never
    passes its input through unchanged instead."""


@dataclass(frozen=True)
class Recipe:
    """`apply(wave, sample_rate, rng) -> (augmented, params)`: `wave` is float32 mono, the
    result float32 at the same rate and of the same length (a speed change alone changes the
    length); `params` is a JSON-serialisable dict of what was drawn for this clip."""

    name: str
    apply: Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, dict]]
    description: str


def seeded_rng(recipe_name: str, utt_id: str, copy_index: int, seed: int) -> np.random.Generator:
    """The generator for one copy of one clip: seeded from a SHA-256 of its recipe, clip, copy
    and run seed, so a clip gets the same draw whatever order, shard or process makes it (Python's
    `hash()` is salted per process and would not)."""
    key = "\x1f".join((recipe_name, utt_id, str(int(copy_index)), str(int(seed))))
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words.tolist())))


def as_mono_float32(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The input check every recipe makes: a 1-D float32 array and a positive rate."""
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise AugmentError(f"recipes take mono audio (a 1-D array), got shape {wave.shape}")
    if wave.dtype != np.float32:
        raise AugmentError(f"recipes take float32 audio, got {wave.dtype}")
    if int(sample_rate) <= 0:
        raise AugmentError(f"sample rate must be positive, got {sample_rate}")
    if wave.size == 0:
        raise AugmentError("cannot augment an empty clip")
    return wave


def range_label(low: float, high: float) -> str:
    """A drawn range as a recipe's name spells it: `5to20` (`-5to0` reads unambiguously, where
    `-5-0` would not), or `0.95` when it is one value."""
    return f"{low:g}" if low == high else f"{low:g}to{high:g}"
