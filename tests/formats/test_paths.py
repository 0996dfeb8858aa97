"""Default folders are anchored on the repository root (where the four scripts and the README
are), not on a package folder: `make demo` passes step 4 `results/<run>` relative to that root."""

from pathlib import Path

from deepfake_pipeline.formats import paths


def test_default_folders_are_under_the_repository_root():
    root = Path(__file__).resolve().parents[2]
    assert paths.REPO_ROOT == root
    assert (root / "pyproject.toml").is_file() and (root / "train_contrastive.py").is_file()
    assert paths.RESULTS_DIR == root / "results"
    assert paths.INTERIM_DIR == root / "data" / "interim" and paths.PROCESSED_DIR == root / "data" / "processed"
