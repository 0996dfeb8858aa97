"""The runs a fusion combines, read back from their folders: which dev and test splits they
scored, the manifest SHA-256 each split was scored from, the dev and test scores, and the
caveats their numbers carry (untrained model, demo corpus, a shortcut the model did not beat),
and, where a run kept them, its per-trial silence-only scores of each test split.

A run can be fused when it keeps its scores on dev trials (`scores/<dev>.dev.txt`): eval_logreg.py
runs on the hold-out protocol and fusions write them. A cross-validated run has no dev split and
train_contrastive.py keeps no dev scores; both are refused with what to fuse instead."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.run_dir import safe_run_name
from deepfake_pipeline.formats.score_files import read_score_file


class InputRunError(PipelineError, ValueError):
    """A run that cannot be fused; the message says why and what to do."""


@dataclass
class InputRun:
    path: Path
    name: str
    config: dict
    metrics: dict
    dev: str  # dev split id
    tests: dict  # test label (as on the closing lines) -> split id
    manifests: dict  # split id -> manifest SHA-256 recorded in config.json
    dev_scores: tuple  # (utt_ids, scores)
    test_scores: dict  # test label -> (utt_ids, scores)
    untrained: bool = False
    demo: bool = False
    shortcut_warnings: list = field(default_factory=list)  # test labels where silence-only was not beaten
    # test label -> (utt_ids, per-trial silence-only scores), where the run kept them (step 3
    # runs and fusions since scores/<split>.silence_only.txt; older runs have none)
    silence_scores: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "fusion" if "fusion" in self.metrics else "eval_logreg"


def _read_json(path: Path, kind: str) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputRunError(
            f"{path} is damaged or cut short ({error}): rerun the command that wrote {path.parent} "
            "(its config.json records it)"
        ) from None
    if not isinstance(payload, dict):
        raise InputRunError(f"{path} is not a JSON object: rerun the command that wrote {path.parent}")
    try:
        versions.check(kind, payload, path, f"the command recorded in {path.parent / 'config.json'}")
    except versions.FormatVersionError as error:
        raise InputRunError(str(error)) from None
    return payload


def _scores(run_path: Path, relative: str, what: str) -> tuple:
    path = run_path / relative
    try:
        utt_ids, scores = read_score_file(path)
    except FileNotFoundError:
        raise InputRunError(
            f"{run_path.name}: its {what} score file {path} is missing: rerun that run (same arguments, "
            "--overwrite) to write it again"
        ) from None
    except (OSError, ValueError) as error:
        raise InputRunError(f"{run_path.name}: its {what} score file {path} is unreadable ({error})") from None
    if len(set(utt_ids)) != len(utt_ids):
        raise InputRunError(f"{run_path.name}: its {what} score file {path} names some utterances twice")
    return utt_ids, scores


def read_input_run(path) -> InputRun:
    path = Path(path)
    for name in ("config.json", "metrics.json"):
        if not (path / name).is_file():
            raise InputRunError(
                f"{path} is not a finished run (it has no {name}): give the folders results/<run> of finished "
                "eval_logreg.py runs or fusions"
            )
    config = _read_json(path / "config.json", "run_config")
    metrics = _read_json(path / "metrics.json", "run_metrics")
    try:
        return _input_run(path, config, metrics)
    except (KeyError, TypeError, AttributeError) as error:
        raise InputRunError(
            f"{path}: its config.json or metrics.json lacks {error!s} (damaged, or written by another "
            "version): rerun that run with --overwrite"
        ) from None


def _input_run(path: Path, config: dict, metrics: dict) -> InputRun:
    if "baseline_run" in metrics or "one_point_rule" in metrics:
        raise InputRunError(
            f"{path} is a train_contrastive.py run: it keeps no scores on the dev trials, which a fusion is "
            "fitted on. Fuse eval_logreg.py runs (hold-out protocol, --train/--dev/--test) or earlier fusions"
        )
    if metrics.get("protocol") == "cv" or config.get("protocol") == "cv":
        raise InputRunError(
            f"{path} is a cross-validated run (--cv): it has no dev split to fit a fusion on. Fuse runs of the "
            "hold-out protocol (eval_logreg.py --train ... --dev ... --test ...)"
        )
    if not metrics.get("dev"):
        raise InputRunError(f"{path} records no dev split in its metrics.json: a fusion is fitted on dev scores")
    dev = metrics["dev"]["split"]
    tests = {label: entry["split"] for label, entry in metrics["tests"].items()}
    if not tests:
        raise InputRunError(f"{path} has no test splits to fuse")
    features = config["features"]
    manifests = {split: features[split]["manifest_sha256"] for split in (dev, *tests.values())}
    dev_scores = _scores(path, f"scores/{safe_run_name(f'{dev}.dev')}.txt", f"dev ({dev})")
    test_scores = {
        label: _scores(path, entry["score_file"], f"test ({label})") for label, entry in metrics["tests"].items()
    }
    silence_scores = {
        label: _scores(path, entry["silence_only"]["score_file"], f"silence-only ({label})")
        for label, entry in metrics["tests"].items()
        if (entry.get("silence_only") or {}).get("score_file")
    }
    untrained = bool(metrics.get("untrained")) or any(e.get("untrained") for e in metrics["tests"].values())
    demo = bool(metrics.get("demo")) or any(e.get("demo") for e in metrics["tests"].values())
    return InputRun(
        path=path,
        name=path.name,
        config=config,
        metrics=metrics,
        dev=dev,
        tests=tests,
        manifests=manifests,
        dev_scores=dev_scores,
        test_scores=test_scores,
        silence_scores=silence_scores,
        untrained=untrained,
        demo=demo,
        shortcut_warnings=[
            label
            for label, entry in metrics["tests"].items()
            if (entry.get("silence_only") or {}).get("clearly_beaten") is False or entry.get("shortcut_warning_inputs")
        ],
    )


def check_same_trials(runs: list) -> None:
    """Refuse runs that were not scored on the same trials: one dev split and the same test
    splits, each from the same manifest (SHA-256), with the same utterances in every score file
    (a run's silence-only ones included)."""
    first = runs[0]
    names = {run.name for run in runs}
    if len(names) != len(runs):
        raise InputRunError(
            "two of --runs have the same folder name: a fusion names its inputs by run folder; rename one"
        )
    for run in runs[1:]:
        pair = f"{first.name} and {run.name}"
        if run.dev != first.dev:
            raise InputRunError(
                f"{pair} chose on other dev splits ({first.dev} vs {run.dev}): a fusion is fitted on one dev "
                "split that every input scored; rerun one with the other's --dev"
            )
        if run.tests != first.tests:
            raise InputRunError(
                f"{pair} were tested on other splits ({', '.join(first.tests)} vs {', '.join(run.tests)}): "
                "fuse runs with the same --test splits"
            )
        for split, sha in first.manifests.items():
            if run.manifests[split] != sha:
                raise InputRunError(
                    f"{pair} scored {split} from different manifests (SHA-256 {sha[:12]}... vs "
                    f"{run.manifests[split][:12]}...): step 1 was rerun between them, so their trials or labels may "
                    "differ; rerun the older run on the current manifest"
                )
        _same_utterances(first.dev_scores[0], run.dev_scores[0], pair, f"dev {first.dev}")
        for label in first.tests:
            _same_utterances(first.test_scores[label][0], run.test_scores[label][0], pair, f"test {label}")
    for run in runs:
        _check_silence_trials(run)


def _check_silence_trials(run: InputRun) -> None:
    """Refuse per-trial silence-only scores of other trials than the run's own test scores: the
    shortcut rule pairs them trial by trial. Checked after the runs' own score files agree, so
    that a run of other trials is told as such."""
    for label, (utt_ids, _) in run.silence_scores.items():
        scored = run.test_scores[label][0]
        if sorted(utt_ids) == sorted(scored):
            continue
        only_here, only_there = sorted(set(utt_ids) - set(scored)), sorted(set(scored) - set(utt_ids))
        relative = run.metrics["tests"][label]["silence_only"]["score_file"]
        raise InputRunError(
            f"{run.name}: its silence-only score file {run.path / relative} holds other trials than its "
            f"test ({label}) scores: {len(only_here)} utterances only in it (e.g. {only_here[:3]}), "
            f"{len(only_there)} missing from it (e.g. {only_there[:3]}); the shortcut rule pairs them trial by "
            "trial, so rerun that run (same arguments, --overwrite)"
        )


def _same_utterances(ids_a, ids_b, pair: str, where: str) -> None:
    missing, extra = sorted(set(ids_a) - set(ids_b)), sorted(set(ids_b) - set(ids_a))
    if missing or extra:
        raise InputRunError(
            f"{pair} scored other trials on {where}: {len(missing)} utterances only in the first (e.g. "
            f"{missing[:3]}), {len(extra)} only in the second (e.g. {extra[:3]}); fuse runs scored on the same trials "
            "(same --keep-duplicates, same manifest)"
        )


def aligned(scores: tuple, utt_ids) -> np.ndarray:
    """A run's (utt_ids, scores) reordered to `utt_ids` (check_same_trials has made sure both
    name the same utterances)."""
    position = {utt: i for i, utt in enumerate(scores[0])}
    return np.asarray(scores[1], dtype=np.float64)[[position[utt] for utt in utt_ids]]
