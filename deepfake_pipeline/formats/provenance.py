"""What software made an artefact: package versions and the git commit of this code. Embeddings
JSONs and run configs carry it, since what a hidden state is depends on the transformers version
and what a number means on the code that computed it."""

import platform
import subprocess
from importlib import metadata

from deepfake_pipeline.formats.paths import CHECKOUT_ROOT

TRACKED_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "joblib",
    "librosa",
    "soundfile",
    "matplotlib",
    "torch",
    "transformers",
)


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    from deepfake_pipeline import __version__

    versions["deepfake_pipeline"] = __version__
    return versions


def git_commit(repo_root=CHECKOUT_ROOT) -> dict:
    """The commit the code ran at and whether the tree had uncommitted changes; "unknown"
    outside a git checkout or without git, and for an installed package (`repo_root` None: the
    current directory's repository, if any, is not the code's)."""
    if repo_root is None:
        return {"commit": "unknown", "dirty": None}

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(repo_root), *args], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def software() -> dict:
    """Package versions (torch, transformers, numpy, ... and this package) and the git commit."""
    return {"versions": package_versions(), "git": git_commit()}
