"""Frozen Wav2Vec2 embeddings: the one module the feature driver imports.

Loading lives in :mod:`wav2vec_loading`, the batched, padding-invariant pooling in
:mod:`wav2vec_embed`; this module gathers their public names.
"""

from .wav2vec_embed import (
    DEFAULT_BATCH_SECONDS,
    MIN_SAMPLES,
    SAMPLE_RATE,
    embed_waveforms,
    frame_counts,
    plan_batches,
    waveform_too_short,
)
from .wav2vec_loading import (
    PRECISIONS,
    RANDOM_ARCHS,
    LoadedModel,
    ModelLoadError,
    describe_model,
    layer_count,
    load_model,
    native_bf16_support,
)

__all__ = [
    "DEFAULT_BATCH_SECONDS",
    "MIN_SAMPLES",
    "PRECISIONS",
    "RANDOM_ARCHS",
    "SAMPLE_RATE",
    "LoadedModel",
    "ModelLoadError",
    "describe_model",
    "embed_waveforms",
    "frame_counts",
    "layer_count",
    "load_model",
    "native_bf16_support",
    "plan_batches",
    "waveform_too_short",
]
