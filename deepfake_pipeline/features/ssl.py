"""Frozen Wav2Vec2 embeddings: the one module the feature driver imports.

Loading lives in :mod:`wav2vec_loading`, the batched, padding-invariant pooling in
:mod:`wav2vec_embed`; this module gathers their public names and describes a loaded model for
the metadata written beside the embeddings.
"""

import torch

from deepfake_pipeline.features.ssl_embed import (
    DEFAULT_BATCH_SECONDS,
    MIN_SAMPLES,
    SAMPLE_RATE,
    embed_waveforms,
    frame_counts,
    plan_batches,
    waveform_too_short,
)
from deepfake_pipeline.features.ssl_loading import (
    PRECISIONS,
    RANDOM_ARCHS,
    LoadedModel,
    ModelLoadError,
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


def describe_model(loaded: LoadedModel) -> dict:
    """The model's part of an embeddings metadata file (the driver adds clips, layers, dtype,
    manifest hash and the like)."""
    import transformers

    return {
        "model": loaded.spec,
        "revision": loaded.revision,
        "untrained": loaded.untrained,
        "arch": loaded.arch,
        "pooling": "mean",
        "sample_rate": SAMPLE_RATE,
        "num_layers": loaded.num_layers,
        "dim": loaded.dim,
        "do_normalize": loaded.do_normalize,
        "precision": loaded.precision if loaded.bf16_mode is None else f"{loaded.precision} ({loaded.bf16_mode})",
        # transformers 5 returns the last hidden state of pre-norm models (XLS-R) before the
        # encoder's final layer norm; 4.x returned it after. The version pins the convention.
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }


def layer_count(loaded: LoadedModel) -> int:
    """Hidden states one forward pass gives: layer 0 (transformer input) + one per transformer layer."""
    return loaded.num_layers

