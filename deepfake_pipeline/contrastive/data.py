"""The splits a contrastive run reads, as the baseline read them (labels, speakers, attacks,
caveats), and what the head trains on: the stored pooled embeddings (one layer, or all layers for
the learned mix), or frame-level caches of the hidden state entering the first unfrozen layer."""

from dataclasses import dataclass, replace

import torch

from deepfake_pipeline.contrastive.frame_cache import build_frame_cache, cache_dir
from deepfake_pipeline.contrastive.model import EmbeddingSource, FrameSource
from deepfake_pipeline.contrastive.unfreeze import BlockError
from deepfake_pipeline.features.ssl_embed import normalise_like_feature_extractor
from deepfake_pipeline.features.ssl_loading import ModelLoadError, load_model
from deepfake_pipeline.formats.feature_files import read_embeddings_meta
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_splits
from deepfake_pipeline.formats.model_identity import difference
from deepfake_pipeline.formats.wavestore import WaveStore


@dataclass(frozen=True)
class Representation:
    """What the head sees. Frozen: `layer`, or every stored layer mixed (`layer_mix`).
    Unfrozen: transformer layers first..last fine-tuned, hidden state `pooled` mean-pooled;
    `unfreeze_last` K stands for the model's last K layers until `resolved` knows the depth."""

    layer: int | None = None
    layer_mix: bool = False
    first: int | None = None
    last: int | None = None
    pooled: int | None = None
    unfreeze_last: int | None = None

    @property
    def unfrozen(self) -> bool:
        return self.first is not None or self.unfreeze_last is not None

    def resolved(self, num_layers: int) -> "Representation":
        if self.unfreeze_last is None:
            return self
        if not 1 <= self.unfreeze_last <= num_layers:
            raise BlockError(f"--unfreeze-last {self.unfreeze_last}: the model has {num_layers} transformer layers")
        return replace(
            self, first=num_layers - self.unfreeze_last + 1, last=num_layers, pooled=num_layers, unfreeze_last=None
        )

    def describe(self) -> str:
        if self.unfrozen:
            block = f"layer {self.first}" if self.first == self.last else f"layers {self.first}-{self.last}"
            return f"{block} fine-tuned from a frame cache, layer {self.pooled} pooled"
        return "softmax-weighted mix of all layers (frozen)" if self.layer_mix else f"layer {self.layer} (frozen)"


def stored_layers(split_id: str, tag: str, processed_dir) -> list:
    return list(read_embeddings_meta(split_id, tag, processed_dir)["layers"])


def load_split_features(
    split_ids, model_spec: str, tag: str, representation: Representation, interim_dir, processed_dir
) -> list:
    """SplitFeatures (feature_sets) of each split: for frozen representations their single view
    is what the head trains on; unfrozen ones read the pooled layer too, which checks the
    embeddings against the manifest though the head does not use them."""
    stored = stored_layers(split_ids[0], tag, processed_dir)
    if representation.layer_mix:
        spec = FeatureSpec("embeddings", model=model_spec, layers=tuple(stored))
    elif representation.unfrozen:
        # any stored layer will do: the head trains on the frame cache
        layer = representation.pooled if representation.pooled in stored else stored[-1]
        spec = FeatureSpec("embeddings", model=model_spec, layer=layer)
    else:
        spec = FeatureSpec("embeddings", model=model_spec, layer=representation.layer)
    return load_splits(list(split_ids), spec, interim_dir, processed_dir)


def embedding_source(split, representation: Representation) -> EmbeddingSource:
    (features,) = split.views.values()
    if representation.layer_mix:
        layers = len(split.meta["layers"])
        features = features.reshape(len(features), layers, -1)
    return EmbeddingSource(features)


def load_frozen_model(model_spec: str, device: str):
    """The SSL model whose layers get fine-tuned, in float32 (training runs in float32 whatever
    precision step 2 used)."""
    return load_model(model_spec, device=device)


def check_loaded_model(loaded, recorded, baseline_path) -> None:
    """Refuse to fine-tune other weights than those the baseline's embeddings were made with."""
    problem = difference(recorded, loaded.identity)
    if problem:
        raise ModelLoadError(
            f"--model {loaded.spec} is not the model whose embeddings the baseline run {baseline_path} used: "
            f"{problem}. "
            "Make those weights available again (the same folder contents, or the same hub commit), or rerun "
            "features.py and eval_logreg.py with this model first"
        )


def frame_sources(splits, loaded, representation: Representation, processed_dir, log=print) -> dict:
    """split id -> FrameSource, computing whatever part of each cache is missing."""

    def model_input(waveform):
        return torch.from_numpy(normalise_like_feature_extractor(loaded, waveform))[None]

    assert representation.first is not None  # an unfrozen representation, resolved
    sources = {}
    for split in splits:
        directory = cache_dir(processed_dir, split.split_id, loaded.tag, representation.first)
        store = WaveStore(split.split_dir)
        cache = build_frame_cache(store, loaded, representation.first, directory, model_input)
        hours = float(store.manifest["duration_s"].sum()) / 3600
        log(
            f"[train_contrastive] frame cache {split.split_id}: {len(cache):,} clips, "
            f"{cache.nbytes / 2**20:,.1f} MiB float16 ({directory})"
            + (f", {cache.nbytes / 2**30 / hours:.2f} GiB per hour of audio" if hours else "")
        )
        sources[split.split_id] = FrameSource(cache, split.rows)
    return sources
