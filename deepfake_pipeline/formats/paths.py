"""Every default path in the project derives from here. In a checkout (also one installed with
`pip install -e .`) they are anchored on the repository root, so the scripts behave the same
whatever directory they are started from. An installed copy of the package (a wheel in
site-packages) has no repository around it: there the defaults hang from the current directory,
as for any command-line tool (`./data/...`, `./results/`), and every one of them has an option."""

import os
from pathlib import Path

_ABOVE_PACKAGE = Path(__file__).resolve().parents[2]  # deepfake_pipeline/formats/paths.py -> two up


def is_checkout(folder: Path) -> bool:
    """A repository checkout holds the project file and the four scripts beside the package;
    site-packages (where an installed package's parent's parent is lib/pythonX.Y) does not."""
    return (folder / "pyproject.toml").is_file() and (folder / "preprocess_datasets.py").is_file()


# The checkout this code runs from, or None for an installed package (no git commit to record).
CHECKOUT_ROOT = _ABOVE_PACKAGE if is_checkout(_ABOVE_PACKAGE) else None
REPO_ROOT = CHECKOUT_ROOT if CHECKOUT_ROOT is not None else Path(os.getcwd()).resolve()
DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
INTERIM_DIR = DATA_DIR / "interim"
PROCESSED_DIR = DATA_DIR / "processed"
RESULTS_DIR = REPO_ROOT / "results"
# Each corpus's default root is a folder under RAW_DIR (ingest/corpora/registry.py).


def split_id(corpus_name: str, split: str) -> str:
    """The name a corpus split goes by in every later file, e.g. ``asvspoof2019_dev``."""
    return f"{corpus_name}_{split}"
