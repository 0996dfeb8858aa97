"""The manifest: one CSV row per accepted clip of a corpus split, and where its samples live in
the waveform store. Every later stage reads it through read_manifest, which checks it first."""

import hashlib
from pathlib import Path

import pandas as pd

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError

MANIFEST_COLUMNS = [
    "utt_id",
    "corpus",
    "split",
    "label",
    "attack",
    "speaker",
    "source_path",
    "duration_s",
    "orig_sr",
    "num_samples",
    "shard",
    "offset",
    "audio_sha1",
]
INTEGER_COLUMNS = ["label", "orig_sr", "num_samples", "shard", "offset"]
# Step 1 also records each source file as it decoded it (size in bytes, modification time in ns),
# right after MANIFEST_COLUMNS, so a rerun can tell when a source has changed since.
SOURCE_COLUMNS = ["source_bytes", "source_mtime_ns"]
REJECT_COLUMNS = ["utt_id", "source_path", "reason", "detail"]


class ManifestError(PipelineError, ValueError):
    pass


def read_manifest(path) -> pd.DataFrame:
    """Read and validate a manifest (`path`: the CSV or its split folder). String columns stay
    strings ("-" is not NaN)."""
    path = Path(path)
    if path.is_dir():
        path = manifest_path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: run preprocess_datasets.py for this corpus first")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"{path} lacks columns {missing}; rerun preprocess_datasets.py")
    try:
        for column in INTEGER_COLUMNS:
            frame[column] = frame[column].astype("int64")
        frame["duration_s"] = frame["duration_s"].astype("float64")
    except ValueError as error:
        raise ManifestError(f"{path}: a numeric column holds a non-number ({error})") from None
    bad_labels = sorted(set(frame["label"]) - {-1, 0, 1})
    if bad_labels:
        raise ManifestError(f"{path}: labels must be 0 (bona fide), 1 (spoof) or -1, found {bad_labels}")
    duplicated = frame["utt_id"][frame["utt_id"].duplicated()].tolist()
    if duplicated:
        raise ManifestError(f"{path}: utt_id values repeat, e.g. {duplicated[:3]}")
    if (frame["num_samples"] <= 0).any():
        raise ManifestError(f"{path}: some rows have no samples")
    return frame


def manifest_path(split_dir) -> Path:
    return Path(split_dir) / "manifest.csv"


def rejects_path(split_dir) -> Path:
    return Path(split_dir) / "rejects.csv"


def write_manifest(frame: pd.DataFrame, split_dir) -> Path:
    """The manifest (MANIFEST_COLUMNS first, then any corpus-specific columns) of a split."""
    return atomic.write_csv(frame, manifest_path(split_dir))


def write_rejects(frame: pd.DataFrame, split_dir) -> Path:
    return atomic.write_csv(frame[REJECT_COLUMNS], rejects_path(split_dir))


def read_rejects(split_dir) -> pd.DataFrame:
    """The clips step 1 could not use, with the reason; empty when there were none."""
    path = rejects_path(split_dir)
    if not path.is_file():
        return pd.DataFrame(columns=REJECT_COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def manifest_sha256(split_dir) -> str:
    """What every later output records, to know which manifest it was computed from."""
    return hashlib.sha256(manifest_path(split_dir).read_bytes()).hexdigest()
