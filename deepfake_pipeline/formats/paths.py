"""Every default path in the project derives from here, anchored on the repository root,
so the scripts behave the same whatever directory they are started from."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # deepfake_pipeline/formats/paths.py -> the repository
DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
INTERIM_DIR = DATA_DIR / "interim"
PROCESSED_DIR = DATA_DIR / "processed"
RESULTS_DIR = REPO_ROOT / "results"

DEFAULT_CORPUS_ROOTS = {
    "asvspoof2019": RAW_DIR / "asvspoof",
    "fakeavceleb": RAW_DIR / "fakeav",
}


def split_id(corpus_name: str, split: str) -> str:
    """The name a corpus split goes by in every later file, e.g. ``asvspoof2019_dev``."""
    return f"{corpus_name}_{split}"
