"""The manifest: one CSV row per accepted clip of a corpus split, and where its samples live in
the waveform store. Every later stage reads it through read_manifest, which checks it first."""

from pathlib import Path

import pandas as pd

MANIFEST_COLUMNS = [
    "utt_id", "corpus", "split", "label", "attack", "speaker", "source_path",
    "duration_s", "orig_sr", "num_samples", "shard", "offset", "audio_sha1",
]
INTEGER_COLUMNS = ["label", "orig_sr", "num_samples", "shard", "offset"]
REJECT_COLUMNS = ["utt_id", "source_path", "reason", "detail"]


class ManifestError(ValueError):
    pass


def read_manifest(path) -> pd.DataFrame:
    """Read and validate a manifest. String columns stay strings ("-" is not NaN)."""
    path = Path(path)
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


def write_csv_atomic(frame: pd.DataFrame, path) -> None:
    """Write to a temporary name and rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
