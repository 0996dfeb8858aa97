"""The finished runs a table is made of, read back as they are: every number a cell shows is a
value of the run's metrics.json, never recomputed, and each is kept with where it came from
(the run folder, the SHA-256 of its config.json and metrics.json, the key path inside
metrics.json, the score file and its SHA-256).

Step 3 runs and fusions keep one record per test split (`tests.<label>`); a step-4 run keeps one
per seed (`tests.<label>.per_seed.<seed>`), and each seed is a system (row) of its own, as step 4
judges every seed on its own."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import versions


class TableRunError(PipelineError, ValueError):
    """A run folder that cannot go in a table; the message says why and what to do."""


@dataclass
class TestRecord:
    """One system's numbers on one test split: a metrics.json record and where it lies."""

    label: str  # the test split as the closing lines name it
    split: str
    record: dict  # the metrics.json record (auc, auc_ci, eer, eer_ci, min_tdcf, per_attack, ...)
    json_path: list  # keys from the top of metrics.json down to `record`
    score_file: str  # relative to the run folder
    score_sha256: str
    shortcut: list = field(default_factory=list)  # warnings about the silence-only shortcut
    untrained: bool = False
    demo: bool = False


@dataclass
class System:
    """One row of the tables."""

    name: str
    run: Path
    kind: str  # eval_logreg, train_contrastive or fusion
    config_sha256: str
    metrics_sha256: str
    tests: dict  # test label -> TestRecord


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_json(path: Path, kind: str) -> dict:
    if not path.is_file():
        raise TableRunError(
            f"{path.parent} has no {path.name}: give finished run folders (results/<run> of eval_logreg.py, "
            "train_contrastive.py or fuse_runs.py)"
        )
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TableRunError(f"{path} is damaged or cut short ({error}): rerun that run with --overwrite") from None
    if not isinstance(payload, dict):
        raise TableRunError(f"{path} is not a JSON object: rerun that run with --overwrite")
    try:
        versions.check(kind, payload, path, f"the command recorded in {path.parent / 'config.json'}")
    except versions.FormatVersionError as error:
        raise TableRunError(str(error)) from None
    return payload


def run_kind(metrics: dict) -> str:
    if "baseline_run" in metrics:
        return "train_contrastive"
    if "fusion" in metrics:
        return "fusion"
    return "eval_logreg"


def _score(run: Path, record: dict, where: str) -> tuple:
    relative = record.get("score_file")
    if not relative:
        raise TableRunError(f"{run}: {where} names no score file, so its cells could not be traced")
    path = run / relative
    if not path.is_file():
        raise TableRunError(
            f"{run}: the score file {path} of {where} is missing, so its cells could not be traced: "
            "rerun that run with --overwrite"
        )
    return relative, sha256_of(path)


def _shortcut_warnings(kind: str, test_entry: dict, record: dict) -> list:
    """What the run itself said about the silence-only shortcut on this split: the record's
    `silence_only.clearly_beaten` (evaluation/shortcut_rule.py), for every kind of run alike (a
    step-4 seed's inside its per-seed record). A step-4 run written before its seeds had that
    record is read by the rule it applied then, and the warning says so."""
    warnings = []
    silence = record.get("silence_only")
    if kind == "train_contrastive" and silence is None:
        old = test_entry.get("silence_only_auc")
        if old is not None and record.get("auc") is not None and old >= record["auc"]:
            warnings.append(
                f"the silence-only shortcut (ROC-AUC {old:.4f}) scores as well as this system "
                "(older step-4 run: AUC comparison only, no paired interval)"
            )
        return warnings
    silence = silence or {}
    if silence.get("clearly_beaten") is False:
        text = "does not clearly beat the silence-only shortcut"
        if silence.get("auc") is not None:
            text += f" (silence-only ROC-AUC {silence['auc']:.4f})"
        if silence.get("rule") == "auc_comparison":
            text += " (AUC comparison only, no paired interval)"
        warnings.append(text)
    for name in record.get("shortcut_warning_inputs") or ():
        warnings.append(f"its input {name} does not clearly beat the silence-only shortcut")
    return warnings


def _test_record(run: Path, kind: str, metrics: dict, label: str, entry: dict, record: dict, json_path: list):
    """`record`: the metrics of one system on test split `label` (for step 4, one seed's, inside
    the split's `entry`)."""
    where = f"test={label}" + (f" seed {json_path[-1]}" if kind == "train_contrastive" else "")
    score_file, score_sha = _score(run, record, where)
    return TestRecord(
        label,
        entry["split"],
        record,
        json_path,
        score_file,
        score_sha,
        shortcut=_shortcut_warnings(kind, entry, record),
        untrained=bool(record.get("untrained", metrics.get("untrained"))),
        demo=bool(record.get("demo", metrics.get("demo"))),
    )


def read_systems(run_path) -> list:
    """The systems (rows) of one run folder."""
    run = Path(run_path)
    _read_json(run / "config.json", "run_config")  # its format is checked; every number comes from metrics.json
    metrics = _read_json(run / "metrics.json", "run_metrics")
    kind = run_kind(metrics)
    config_sha, metrics_sha = sha256_of(run / "config.json"), sha256_of(run / "metrics.json")
    tests = metrics.get("tests")
    if not isinstance(tests, dict) or not tests:
        raise TableRunError(f"{run}: its metrics.json holds no test splits")
    try:
        if kind != "train_contrastive":
            records = {
                run.name: {
                    label: _test_record(run, kind, metrics, label, entry, entry, ["tests", label])
                    for label, entry in tests.items()
                }
            }
        else:
            seeds = [str(seed) for seed in metrics.get("seeds") or next(iter(tests.values()))["per_seed"]]
            records = {
                (run.name if len(seeds) == 1 else f"{run.name} seed {seed}"): {
                    label: _test_record(
                        run, kind, metrics, label, entry, entry["per_seed"][seed], ["tests", label, "per_seed", seed]
                    )
                    for label, entry in tests.items()
                }
                for seed in seeds
            }
    except (KeyError, TypeError) as error:
        raise TableRunError(
            f"{run}: its metrics.json lacks {error!s} (damaged, or written by another version): rerun that run"
        ) from None
    return [System(name, run, kind, config_sha, metrics_sha, per_test) for name, per_test in records.items()]


def read_all(run_paths) -> list:
    systems = []
    for path in run_paths:
        systems.extend(read_systems(path))
    names = [system.name for system in systems]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise TableRunError(
            f"two runs are named {', '.join(repeated)}: rows are named by run folder, so give each run once "
            "(runs from different results folders need different names)"
        )
    return systems
