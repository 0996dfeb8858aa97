"""A run's directory, `results/<run>/`, as steps 3 and 4 write it: config.json (arguments, package
versions, git commit, seed, feature metadata), metrics.json, one score file per test split
(formats/score_files.py), plots, and log.txt, which holds every line the run printed. Reading a
step-3 run back is formats/step3_run.py."""

import json
import math
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic, progress
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.provenance import git_commit, package_versions  # noqa: F401  (re-exported)
from deepfake_pipeline.formats.score_files import write_score_file, write_score_file_2019, write_score_file_asvspoof5


class RunDirError(PipelineError, ValueError):
    pass


def safe_run_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", name).strip("_").lstrip(".-+=") or "run"


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


# A run name names one folder under the results folder: a plain name, never a path (the rule
# split names follow, with the `+` and `=` that default run names use).
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")
# Arguments that do not change what a run computes: a rerun that differs only in them resumes.
_NOT_COMPARED_ON_RESUME = ("threads", "overwrite", "config")


def check_run_name(name: str) -> str | None:
    """Why `name` cannot name a run folder, or None."""
    if not RUN_NAME.fullmatch(name):
        return (
            f"--run {name!r} is not a plain name: use letters, digits, '.', '_', '-', '+' or '=', starting "
            "with a letter or digit (a run is always a folder directly under --results-dir)"
        )
    return None


def _comparable(args: dict) -> dict:
    return {k: v for k, v in json.loads(json.dumps(to_jsonable(args))).items() if k not in _NOT_COMPARED_ON_RESUME}


def occupied_because(path: Path, args: dict | None) -> str | None:
    """Why the folder `path` may not be written into without --overwrite, or None: it does not
    exist, is empty, holds only what a killed run of ours left before its config, or is an
    unfinished run whose config.json records these very `args` (a killed run resuming)."""
    if not path.exists():
        return None
    if not path.is_dir():
        return "exists and is not a folder"
    if (path / "metrics.json").exists():
        return "already holds results"
    children = {child.name for child in path.iterdir()}
    if children <= {"scores", "log.txt"} and not any((path / "scores").glob("*")):
        return None
    config_path = path / "config.json"
    if args is not None and config_path.is_file():
        try:
            recorded = json.loads(config_path.read_text()).get("args")
        except (ValueError, AttributeError):
            recorded = None
        if isinstance(recorded, dict) and _comparable(recorded) == _comparable(args):
            return None
        return "holds an unfinished run of other arguments"
    return f"already holds files ({', '.join(sorted(children)[:5])}{', ...' if len(children) > 5 else ''})"


class RunDir:
    """`results/<name>/`. An explicit name (`--run`) must be a plain name; one whose folder
    already holds anything but an unfinished run of the same arguments is refused unless
    `overwrite`, so a rerun never silently replaces numbers someone may have quoted, nor writes
    into a folder that is not its own. An automatic name that is taken gets a numeric suffix."""

    def __init__(
        self,
        results_dir,
        name: str,
        explicit: bool = False,
        overwrite: bool = False,
        stream=None,
        args: dict | None = None,
    ):
        results_dir = Path(results_dir)
        if explicit and check_run_name(name):
            raise RunDirError(check_run_name(name))
        name = safe_run_name(name)
        path = results_dir / name
        problem = None if overwrite else occupied_because(path, args)
        if problem:
            if explicit:
                raise RunDirError(f"{path} {problem}: pick another --run name or pass --overwrite")
            suffix = 2
            while occupied_because(results_dir / f"{name}-{suffix}", args):
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

    def note(self, *lines) -> None:
        """Notes and progress (caveats, per-epoch lines): to standard error, stamped with the
        wall-clock time as every progress line is, and to log.txt as they are, in order with
        what the run printed."""
        self._ensure()
        with atomic.writing(self.log_path), self.log_path.open("a") as log:
            for line in lines:
                progress.note(line)
                log.write(f"{line}\n")

    def write_config(self, args: dict, seed: int, features: dict, extra: dict | None = None) -> Path:
        payload = {
            "args": args,
            "seed": seed,
            "command": " ".join(sys.argv),
            "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "git": git_commit(),
            "features": features,
        }
        payload.update(extra or {})
        self._ensure()
        path = self.path / "config.json"
        write_json(path, versions.stamp("run_config", payload))
        return path

    def write_metrics(self, metrics: dict) -> Path:
        self._ensure()
        path = self.path / "metrics.json"
        write_json(path, versions.stamp("run_metrics", metrics))
        return path

    def score_path(self, split_id: str) -> Path:
        return self.path / "scores" / f"{safe_run_name(split_id)}.txt"

    def write_scores(self, split_id: str, utt_ids, scores) -> Path:
        self._ensure()
        return write_score_file(self.score_path(split_id), utt_ids, scores)

    def write_split_scores(self, name: str, split, scores) -> Path:
        """The score files of one test split (feature_sets.SplitFeatures), as steps 3 and 4 both
        write them: `scores/<name>.txt`, `scores/<name>.asvspoof5.tsv` (what the ASVspoof 5
        package's evaluation.py reads), and `scores/<name>.2019.txt` where step 1 found the
        split's ASVspoof 2019 ASV scores (the t-DCF script reads both). Returns the first."""
        path = self.write_scores(name, split.utt_ids, scores)
        write_score_file_asvspoof5(self.path / "scores" / f"{safe_run_name(name)}.asvspoof5.tsv", split.utt_ids, scores)
        if (split.info.get("asv_scores") or {}).get("format") == "asvspoof2019":
            self.write_scores_2019(name, split.utt_ids, split.attacks, split.labels, scores)
        return path

    def write_scores_2019(self, split_id: str, utt_ids, attacks, labels, scores) -> Path:
        """`scores/<split>.2019.txt`, the four-field file the ASVspoof 2019 t-DCF script reads."""
        self._ensure()
        return write_score_file_2019(
            self.path / "scores" / f"{safe_run_name(split_id)}.2019.txt", utt_ids, attacks, labels, scores
        )
