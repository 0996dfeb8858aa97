"""Where step 2's outputs live and how later stages read them back safely.

    data/processed/<split_id>/spectral.csv
    data/processed/<split_id>/embeddings/<model_tag>.npy    (clips, layers, dim), manifest order
    data/processed/<split_id>/embeddings/<model_tag>.json   metadata (model, layers, dtype, hashes)

Readers check the metadata against the split's current manifest instead of assuming it.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_pipeline.common import atomic
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR

N_MFCC = 13
FEATURE_COLUMNS = ["centroid", "entropy", *(f"mfcc_{k}" for k in range(N_MFCC))]
SPECTRAL_COLUMNS = ["file", "label", *FEATURE_COLUMNS]


class FeatureError(RuntimeError):
    """Features are missing or do not belong to the manifest they are read with."""


def model_tag(model_spec: str, precision: str = "float32") -> str:
    """A filename-safe name for a model: `facebook/wav2vec2-base` -> `facebook__wav2vec2-base`,
    `random:base` -> `random-base`, a local folder -> `local-<folder name>`."""
    spec = str(model_spec)
    if spec.startswith("random:"):
        tag = "random-" + spec.split(":", 1)[1]
    elif Path(spec).is_dir():
        tag = "local-" + Path(spec).resolve().name
    else:
        tag = spec.replace("/", "__")
    tag = re.sub(r"[^A-Za-z0-9._-]+", "_", tag)
    return tag if precision == "float32" else f"{tag}-{precision}"


def spectral_path(split_id: str, processed_dir=PROCESSED_DIR) -> Path:
    return Path(processed_dir) / split_id / "spectral.csv"


def embeddings_paths(split_id: str, tag: str, processed_dir=PROCESSED_DIR) -> tuple:
    folder = Path(processed_dir) / split_id / "embeddings"
    return folder / f"{tag}.npy", folder / f"{tag}.json"


def write_spectral(table: pd.DataFrame, path) -> Path:
    """spectral.csv: `file` (the utt_id), `label`, then FEATURE_COLUMNS, in manifest order."""
    return atomic.write_csv(table[SPECTRAL_COLUMNS], path)


def write_embeddings(array_path, meta_path, array: np.ndarray, meta: dict) -> None:
    """The array first, its metadata second: a reader needs both, so a kill between the two
    leaves embeddings that read as missing, never as finished."""
    atomic.save_npy(array_path, array)
    atomic.write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True))


def load_spectral(split_id: str, processed_dir=PROCESSED_DIR) -> pd.DataFrame:
    path = spectral_path(split_id, processed_dir)
    if not path.is_file():
        raise FeatureError(f"no spectral features at {path}: run "
                           f"`features.py --splits {split_id} --what spectral` first")
    return pd.read_csv(path, dtype={"file": str}, keep_default_na=False)


def read_embeddings_meta(split_id: str, tag: str, processed_dir=PROCESSED_DIR) -> dict:
    array_path, meta_path = embeddings_paths(split_id, tag, processed_dir)
    if not (array_path.is_file() and meta_path.is_file()):
        available = sorted(p.stem for p in array_path.parent.glob("*.json")) if array_path.parent.is_dir() else []
        raise FeatureError(
            f"no embeddings {tag!r} for {split_id} under {array_path.parent} (available: "
            f"{available or 'none'}): run `features.py --splits {split_id} --model <model>` first")
    return json.loads(meta_path.read_text())


def load_embeddings(split_id: str, tag: str, processed_dir=PROCESSED_DIR, interim_dir=INTERIM_DIR,
                    layers=None) -> tuple:
    """(float32 array (clips, layers, dim), metadata). `layers` are hidden-state indices (0 = the
    input of transformer layer 1, i = the output of transformer layer i; docs/DESIGN.md) and must be
    among those stored."""
    meta = read_embeddings_meta(split_id, tag, processed_dir)
    current = manifest_sha256(Path(interim_dir) / split_id)
    if meta["manifest_sha256"] != current:
        raise FeatureError(
            f"embeddings {tag!r} of {split_id} were computed from a different manifest than the one "
            f"in {interim_dir}: rerun `features.py --splits {split_id} --model {meta['model']}`")
    array = np.load(embeddings_paths(split_id, tag, processed_dir)[0], mmap_mode="r")
    if array.shape[0] != meta["num_clips"]:
        raise FeatureError(f"{tag} of {split_id}: {array.shape[0]} rows but metadata says {meta['num_clips']}")
    if layers is None:
        return np.asarray(array, dtype=np.float32), meta
    missing = [layer for layer in layers if layer not in meta["layers"]]
    if missing:
        raise FeatureError(f"layers {missing} were not stored for {tag} of {split_id} "
                           f"(stored: {meta['layers']})")
    positions = [meta["layers"].index(layer) for layer in layers]
    return np.asarray(array[:, positions, :], dtype=np.float32), {**meta, "layers": list(layers)}
