"""Where step 2's outputs live and how later stages read them back safely.

    data/processed/<split_id>/spectral.csv
    data/processed/<split_id>/spectral.json                 metadata (manifest_sha256, code_version, columns)
    data/processed/<split_id>/embeddings/<model_tag>.npy    (layers, clips, dim), manifest order
    data/processed/<split_id>/embeddings/<model_tag>.json   metadata (model, layers, dtype, hashes)

Readers check the metadata against the split's current manifest instead of assuming it: a
feature file computed from another manifest (step 1 rerun with --overwrite on changed audio), or a
spectral.csv without its metadata (written before it existed), is refused with the command that
recomputes it (step 2 recomputes such stale outputs by itself: features/jobs.py).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import embedding_array, versions
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.model_identity import identify
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR

N_MFCC = 13
FEATURE_COLUMNS = ["centroid", "entropy", *(f"mfcc_{k}" for k in range(N_MFCC))]
SPECTRAL_COLUMNS = ["file", "label", *FEATURE_COLUMNS]


class FeatureError(PipelineError, RuntimeError):
    """Features are missing or do not belong to the manifest they are read with."""


def model_tag(model_spec: str, precision: str = "float32") -> str:
    """The embeddings' file name for what `--model` names (formats/model_identity.py): a hub id
    `facebook/wav2vec2-base` -> `facebook__wav2vec2-base`, `random:base` -> `random-base`, a local
    folder -> `local-<folder name>-<first 12 hex digits of its files' SHA-256>`."""
    return identify(str(model_spec)).tag(precision)


def spectral_path(split_id: str, processed_dir=PROCESSED_DIR) -> Path:
    return Path(processed_dir) / split_id / "spectral.csv"


def spectral_meta_path(split_id: str, processed_dir=PROCESSED_DIR) -> Path:
    return spectral_path(split_id, processed_dir).with_suffix(".json")


def rerun_command(
    split_id: str,
    what: str,
    model: str | None = None,
    precision: str = "float32",
    interim_dir=INTERIM_DIR,
    processed_dir=PROCESSED_DIR,
) -> str:
    """The features.py command that (re)computes one split's features where the reader looks
    for them: step 2 recomputes a stale output by itself, so the plain command is enough."""
    parts = [f"features.py --splits {split_id}"]
    parts.append(f"--model {model}" if what == "embeddings" else "--what spectral")
    if what == "embeddings" and precision != "float32":
        parts.append(f"--precision {precision}")
    if Path(interim_dir) != Path(INTERIM_DIR):
        parts.append(f"--interim-dir {interim_dir}")
    if Path(processed_dir) != Path(PROCESSED_DIR):
        parts.append(f"--processed-dir {processed_dir}")
    return " ".join(parts)


def stale_reason(meta: dict | None, current_sha256: str, kind: str = "spectral") -> str | None:
    """Why a step-2 output of `kind` (spectral, embeddings) cannot be used with the manifest whose
    SHA-256 is `current_sha256` (None: it can)."""
    if meta is None:
        return "has no metadata recording the manifest it was computed from (an older run)"
    outdated = versions.version_problem(kind, meta)
    if outdated:
        return outdated.removesuffix(", or")
    recorded = meta.get("manifest_sha256")
    if recorded != current_sha256:
        return (
            f"was computed from another manifest (sha256 {str(recorded)[:12]}..., the current one is "
            f"{current_sha256[:12]}...: step 1 was rerun)"
        )
    return None


def read_spectral_meta(split_id: str, processed_dir=PROCESSED_DIR) -> dict | None:
    path = spectral_meta_path(split_id, processed_dir)
    return json.loads(path.read_text()) if path.is_file() else None


def embeddings_paths(split_id: str, tag: str, processed_dir=PROCESSED_DIR) -> tuple:
    folder = Path(processed_dir) / split_id / "embeddings"
    return folder / f"{tag}.npy", folder / f"{tag}.json"


def write_spectral(table: pd.DataFrame, path, meta: dict) -> Path:
    """spectral.csv: `file` (the utt_id), `label`, then FEATURE_COLUMNS, in manifest order; then
    spectral.json beside it (`meta`: manifest_sha256, code_version, ...; `columns` added here).
    The CSV first, its metadata second, each renamed into place: a kill between the two leaves
    a CSV without metadata, which readers refuse and step 2 recomputes."""
    path = Path(path)
    atomic.write_csv(table[SPECTRAL_COLUMNS], path)
    atomic.write_text(
        path.with_suffix(".json"),
        json.dumps(versions.stamp("spectral", {**meta, "columns": list(SPECTRAL_COLUMNS)}), indent=1, sort_keys=True),
    )
    return path


def write_embeddings(array_path, meta_path, rows, meta: dict) -> None:
    """`rows`: the (clips, layers, dim) embeddings, one array or consecutive row blocks (step 2's
    parts), stored layers-major (formats/embedding_array.py) with the clips, layers, dim and
    dtype that `meta` records. The array first, its metadata second: a reader needs both, so a
    kill between the two leaves embeddings that read as missing, never as finished."""
    embedding_array.write(array_path, rows, meta["num_clips"], len(meta["layers"]), meta["dim"], meta["dtype"])
    atomic.write_text(meta_path, json.dumps(versions.stamp("embeddings", meta), indent=1, sort_keys=True))


def upgrade_embeddings(array_path, meta_path, meta: dict) -> str | None:
    """Rewrite format-2 embeddings (clips-major, otherwise the same) in format 3's layout, in
    place; None when done, else why not (they are then recomputed). The metadata is removed
    first and written again last, so a kill in between leaves an array without metadata, which
    reads as missing and is recomputed."""
    with atomic.writing(meta_path):
        Path(meta_path).unlink()
    try:
        embedding_array.upgrade_clips_major(
            array_path, meta["num_clips"], len(meta["layers"]), meta["dim"], meta["dtype"]
        )
    except embedding_array.ArrayError as error:
        return f"is format 2 and could not be rewritten ({error})"
    atomic.write_text(meta_path, json.dumps(versions.stamp("embeddings", meta), indent=1, sort_keys=True))
    return None


def load_spectral(split_id: str, processed_dir=PROCESSED_DIR, interim_dir=INTERIM_DIR) -> pd.DataFrame:
    """spectral.csv, once its metadata shows it was computed from the split's current manifest."""
    path = spectral_path(split_id, processed_dir)
    command = rerun_command(split_id, "spectral", interim_dir=interim_dir, processed_dir=processed_dir)
    if not path.is_file():
        raise FeatureError(f"no spectral features at {path}: run `{command}` first")
    problem = stale_reason(read_spectral_meta(split_id, processed_dir), manifest_sha256(Path(interim_dir) / split_id))
    if problem:
        raise FeatureError(f"{path} {problem}: run `{command}` (it recomputes them)")
    return pd.read_csv(path, dtype={"file": str}, keep_default_na=False)


def read_embeddings_meta(split_id: str, tag: str, processed_dir=PROCESSED_DIR) -> dict:
    """The embeddings' JSON, refused unless it is this code's format of it."""
    array_path, meta_path = embeddings_paths(split_id, tag, processed_dir)
    if not (array_path.is_file() and meta_path.is_file()):
        available = sorted(p.stem for p in array_path.parent.glob("*.json")) if array_path.parent.is_dir() else []
        raise FeatureError(
            f"no embeddings {tag!r} for {split_id} under {array_path.parent} (available: "
            f"{available or 'none'}): run `features.py --splits {split_id} --model <model>` first"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as error:
        raise FeatureError(
            f"{meta_path} is damaged ({error}): run `features.py --splits {split_id} --model "
            "<model>` to compute the embeddings again"
        ) from None
    if not isinstance(meta, dict):
        raise FeatureError(
            f"{meta_path} is not an embeddings JSON: run `features.py --splits {split_id} "
            "--model <model>` to compute the embeddings again"
        )
    try:
        versions.check(
            "embeddings",
            meta,
            meta_path,
            rerun_command(
                split_id,
                "embeddings",
                meta.get("model", "<model>"),
                meta.get("precision", "float32"),
                processed_dir=processed_dir,
            ),
        )
    except versions.FormatVersionError as error:
        raise FeatureError(str(error)) from None
    return meta


@dataclass(frozen=True)
class EmbeddingsFile:
    """A split's embeddings, checked against its manifest; `layer` reads one hidden state of
    every clip, nothing else (a layer sweep holds one layer at a time)."""

    path: Path
    meta: dict
    shape: tuple  # (layers, clips, dim)
    dtype: np.dtype
    offset: int

    def layer(self, layer: int, dtype=None) -> np.ndarray:
        """Hidden state `layer` (0 = the input of transformer layer 1, i = the output of layer i)
        of every clip, (clips, dim), in the stored dtype unless `dtype` is given."""
        values = embedding_array.read_layer(
            self.path, self.meta["layers"].index(layer), self.shape, self.dtype, self.offset
        )
        return values if dtype is None or np.dtype(dtype) == values.dtype else values.astype(dtype)


def open_embeddings(split_id: str, tag: str, processed_dir=PROCESSED_DIR, interim_dir=INTERIM_DIR) -> EmbeddingsFile:
    """The embeddings file of `tag`, once its metadata shows it is this code's format, was
    computed from the split's current manifest and describes the array beside it."""
    meta = read_embeddings_meta(split_id, tag, processed_dir)
    command = rerun_command(
        split_id,
        "embeddings",
        meta.get("model", "<model>"),
        meta.get("precision", "float32"),
        interim_dir,
        processed_dir,
    )
    current = manifest_sha256(Path(interim_dir) / split_id)
    if meta.get("manifest_sha256") != current:
        raise FeatureError(
            f"embeddings {tag!r} of {split_id} were computed from a different manifest than the one "
            f"in {interim_dir}: run `{command}` (it recomputes them)"
        )
    path = embeddings_paths(split_id, tag, processed_dir)[0]
    try:
        shape, dtype, offset = embedding_array.read_header(path)
    except (embedding_array.ArrayError, ValueError) as error:
        raise FeatureError(f"{error}: run `{command} --overwrite`") from None
    if len(shape) != 3 or shape[1] != meta["num_clips"]:
        raise FeatureError(
            f"{tag} of {split_id}: an array of shape {shape} but metadata says {meta['num_clips']} "
            f"clips ({embedding_array.LAYOUT}): run `{command} --overwrite`"
        )
    if shape != (len(meta["layers"]), meta["num_clips"], meta.get("dim", shape[2])):
        raise FeatureError(
            f"{tag} of {split_id}: an array of shape {shape}, its metadata describes "
            f"{len(meta['layers'])} layers of {meta.get('dim')} dims: run `{command} --overwrite`"
        )
    return EmbeddingsFile(path=path, meta=meta, shape=shape, dtype=dtype, offset=offset)


def load_embeddings(
    split_id: str, tag: str, processed_dir=PROCESSED_DIR, interim_dir=INTERIM_DIR, layers=None, dtype=np.float32
) -> tuple:
    """((clips, layers, dim) array in `dtype`, float32 by default, metadata). `layers` are
    hidden-state indices (0 = the input of transformer layer 1, i = the output of transformer
    layer i; docs/DESIGN.md) and must be among those stored. Read layer by layer; for one layer
    at a time, without the (clips, layers, dim) copy, use `open_embeddings(...).layer`."""
    stored = open_embeddings(split_id, tag, processed_dir, interim_dir)
    meta = stored.meta
    chosen = list(meta["layers"]) if layers is None else list(layers)
    missing = [layer for layer in chosen if layer not in meta["layers"]]
    if missing:
        raise FeatureError(f"layers {missing} were not stored for {tag} of {split_id} (stored: {meta['layers']})")
    array = np.empty((stored.shape[1], len(chosen), stored.shape[2]), dtype=dtype)
    for i, layer in enumerate(chosen):
        array[:, i, :] = stored.layer(layer)
    return array, (meta if layers is None else {**meta, "layers": chosen})
