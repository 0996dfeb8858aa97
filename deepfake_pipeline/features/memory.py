"""Whether step 2 can embed a split's longest clip within a memory budget, checked before any
work: a clip is embedded in one forward pass, whose memory grows with its length (the CNN
feature encoder's 512-channel activations at 3.2 kHz and their normalised copies, then every
layer's hidden states), so a long recording that step 1 let through would otherwise end hours
into a run with an allocator traceback.

The figures are measured (`bench/long_clip_memory.py`: peak resident memory, resource.getrusage,
of embedding one clip in a fresh process, less that after loading the model;
docs/reference.md, "Long clips") and grow linearly: the same per audio-second at 20 s and at 60 s.
"""

from pathlib import Path

from deepfake_pipeline.formats.feature_files import FeatureError

MIB = 2**20
GIB = 2**30
# Peak memory beyond the loaded model per second of audio in one forward pass, float32 on CPU
# (bench/long_clip_memory.py, 2026-11-29): wav2vec2-base shape (768-d, 12 layers) and XLS-R
# 300M shape (1024-d, 24 layers).
BYTES_PER_AUDIO_SECOND = {"base": 15.6 * MIB, "large": 21.4 * MIB}


def bytes_per_audio_second(loaded) -> float:
    """The measured figure of the nearest shape; wider models scale with their width."""
    if loaded.dim <= 768:
        return BYTES_PER_AUDIO_SECOND["base"]
    return BYTES_PER_AUDIO_SECOND["large"] * max(1.0, loaded.dim / 1024)


def available_bytes() -> float | None:
    """Memory the system can give now without swapping (Linux MemAvailable), or None."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return float(line.split()[1]) * 1024
    return None


def check_fits(loaded, stores: list, batch_seconds: float, budget_bytes: float | None) -> None:
    """Refuse, in one line, a split whose longest clip (or batch of padded audio) would need more
    memory than `budget_bytes` (default: what the system has available now, after the model is
    loaded)."""
    budget = available_bytes() if budget_bytes is None else budget_bytes
    if budget is None or not stores:
        return
    per_second = bytes_per_audio_second(loaded)
    longest = max(
        (
            (store.split_id, row.utt_id, float(row.duration_s))
            for store in stores
            for row in store.manifest.itertuples(index=False)
        ),
        key=lambda item: item[2],
        default=None,
    )
    if longest is None:
        return
    split_id, utt_id, seconds = longest
    needed = per_second * max(seconds, batch_seconds or 0.0)
    if needed <= budget:
        return
    fits = budget / per_second
    where = "--memory-gb" if budget_bytes is not None else "available now; --memory-gb sets the budget"
    raise FeatureError(
        f"clip {utt_id} of {split_id} lasts {seconds:.1f} s: embedding it with {loaded.spec} needs about "
        f"{needed / GIB:.1f} GiB beyond the loaded model ({per_second / MIB:.1f} MiB per audio-second, "
        f"measured: docs/reference.md, 'Long clips'), more than the {budget / GIB:.1f} GiB budget ({where}), "
        "which fits "
        f"clips up to {fits:.0f} s. Run where there is that memory, or rerun preprocess_datasets.py with "
        f"--overwrite and a --max-duration below {fits:.0f} s to leave such clips out (listed as too_long)"
    )
