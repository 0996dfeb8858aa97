"""A run's directory, `results/<run>/`, as steps 3 and 4 write it: config.json (arguments, package
versions, git commit, seed, feature metadata), metrics.json, one score file per test split
(formats/score_files.py), plots, and log.txt, which holds every line the run printed. Reading a
step-3 run back is formats/step3_run.py."""

import json
import math
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.formats.paths import REPO_ROOT
from deepfake_pipeline.formats.score_files import write_score_file, write_score_file_2019

TRACKED_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "joblib", "librosa", "soundfile",
                    "matplotlib", "torch", "transformers")


class RunDirError(ValueError):
    pass


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


def git_commit(repo_root=REPO_ROOT) -> dict:
    """The commit the code ran at and whether the tree had uncommitted changes; "unknown"
    outside a git checkout or without git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def safe_run_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", name).strip("_") or "run"


def to_jsonable(value):
    """numpy scalars/arrays to Python, NaN/inf to None (JSON has no NaN), paths to strings."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path, payload) -> None:
    atomic.write_text(path, json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")


class RunDir:
    """`results/<name>/`. An automatic name that is taken gets a numeric suffix; an explicit
    name that already holds results is refused unless `overwrite`, so a rerun never silently
    replaces numbers someone may have quoted."""

    def __init__(self, results_dir, name: str, explicit: bool = False, overwrite: bool = False,
                 stream=None):
        results_dir = Path(results_dir)
        name = safe_run_name(name)
        path = results_dir / name
        if (path / "metrics.json").exists() and not overwrite:
            if explicit:
                raise RunDirError(
                    f"{path} already holds results: pick another --run name or pass --overwrite")
            suffix = 2
            while (results_dir / f"{name}-{suffix}" / "metrics.json").exists():
                suffix += 1
            path = results_dir / f"{name}-{suffix}"
        self.path = path
        self.name = path.name
        self.log_path = self.path / "log.txt"
        self.stream = stream
        self.created = False

    def _ensure(self) -> None:
        # Created on first use, so a run refused over its arguments leaves no empty folder.
        if not self.created:
            atomic.make_dirs(self.path / "scores")
            # A finished run being replaced starts a fresh log; an unfinished one (a killed
            # training resuming) keeps what it already said.
            if (self.path / "metrics.json").exists() or not self.log_path.exists():
                with atomic.writing(self.log_path):
                    self.log_path.write_text("")
            self.created = True

    def print(self, *lines) -> None:
        """Print to stdout and append to log.txt, so the log holds exactly what the run said."""
        self._ensure()
        stream = self.stream if self.stream is not None else sys.stdout
        with atomic.writing(self.log_path), self.log_path.open("a") as log:
            for line in lines:
                print(line, file=stream, flush=True)
                log.write(f"{line}\n")

    def write_config(self, args: dict, seed: int, features: dict, extra: dict = None) -> Path:
        payload = {
            "args": args,
            "seed": seed,
            "command": " ".join(sys.argv),
            "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "git": git_commit(),
            "features": features,
        }
        payload.update(extra or {})
        self._ensure()
        path = self.path / "config.json"
        write_json(path, payload)
        return path

    def write_metrics(self, metrics: dict) -> Path:
        self._ensure()
        path = self.path / "metrics.json"
        write_json(path, metrics)
        return path

    def score_path(self, split_id: str) -> Path:
        return self.path / "scores" / f"{safe_run_name(split_id)}.txt"

    def write_scores(self, split_id: str, utt_ids, scores) -> Path:
        self._ensure()
        return write_score_file(self.score_path(split_id), utt_ids, scores)

    def write_scores_2019(self, split_id: str, utt_ids, attacks, labels, scores) -> Path:
        """`scores/<split>.2019.txt`, the four-field file the ASVspoof 2019 t-DCF script reads."""
        self._ensure()
        return write_score_file_2019(self.path / "scores" / f"{safe_run_name(split_id)}.2019.txt", utt_ids,
                                     attacks, labels, scores)
