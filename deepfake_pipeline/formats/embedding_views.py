"""A split's embedding views (one layer, or a concatenation of layers), read from the embeddings
file when asked for: nothing is held between two requests, so a layer sweep that asks for each
view once holds one layer at a time, whatever the number of layers (baseline/logreg.py)."""

from collections.abc import Mapping

import numpy as np

from deepfake_pipeline.formats import feature_files as feature_store
from deepfake_pipeline.formats.feature_files import EmbeddingsFile, FeatureError


def view_key(layers) -> str:
    layers = list(layers)
    return f"layer_{layers[0]}" if len(layers) == 1 else "layers_" + "+".join(map(str, layers))


class EmbeddingViews(Mapping):
    """view key -> (clips, features) matrix in the stored dtype (float16 by default: the fits
    convert each matrix to float64 themselves, baseline/logreg.as_float64), read each time it is
    asked for. `groups`: view key -> the layers it concatenates; `rows`: the manifest positions
    of the clips kept (None: every clip, with no copy)."""

    def __init__(self, stored: EmbeddingsFile, groups: dict, rows=None):
        self.stored = stored
        self.groups = {key: list(layers) for key, layers in groups.items()}
        self.rows = None if rows is None else np.asarray(rows)

    def __getitem__(self, key) -> np.ndarray:
        layers = self.groups[key]
        values = self.stored.layer(layers[0])
        if len(layers) > 1:
            dim = values.shape[1]
            joined = np.empty((len(values), dim * len(layers)), dtype=values.dtype)
            joined[:, :dim] = values
            del values
            for i, layer in enumerate(layers[1:], start=1):
                joined[:, i * dim : (i + 1) * dim] = self.stored.layer(layer)
            values = joined
        return values if self.rows is None else values[self.rows]

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


def check_finite(stored: EmbeddingsFile, layers, split_id: str, tag: str) -> None:
    """Refuse embeddings holding NaN or inf in any of `layers`, before any work is done on them:
    each layer read once, one at a time."""
    for layer in layers:
        if not np.isfinite(stored.layer(layer)).all():
            raise FeatureError(
                f"the {tag} embeddings of {split_id} hold NaN or inf (layer {layer}): rerun features.py for it"
            )


def embedding_views(split_id, spec, tag, interim_dir, processed_dir, rows) -> tuple:
    """(views, view key -> layers, metadata) of `spec` (feature_sets.FeatureSpec: one layer, a
    concatenation, or a sweep over every stored layer), once the file is checked against the
    manifest and the layers used are finite. `rows`: the clips kept (None: all)."""
    meta = feature_store.read_embeddings_meta(split_id, tag, processed_dir)
    stored = list(meta["layers"])
    if spec.sweep:
        groups = [[layer] for layer in stored]
    elif spec.layers:
        groups = [list(spec.layers)]
    elif spec.layer is not None:
        groups = [[spec.layer]]
    else:
        raise FeatureError("choose --layer N, --layers A B ... (concatenated) or --layer-sweep")
    wanted = sorted({layer for group in groups for layer in group})
    missing = [layer for layer in wanted if layer not in stored]
    if missing:
        raise FeatureError(
            f"layers {missing} are not stored in the {tag} embeddings of {split_id} "
            f"(stored: {stored}): choose among those, or rerun features.py with those --layers"
        )
    embeddings = feature_store.open_embeddings(split_id, tag, processed_dir, interim_dir)
    check_finite(embeddings, wanted, split_id, tag)
    views = EmbeddingViews(embeddings, {view_key(group): group for group in groups}, rows)
    meta = {**embeddings.meta, "layers": wanted, "kind": "embeddings", "model_tag": tag, "layers_stored": stored}
    return views, {view_key(group): list(group) for group in groups}, meta
