"""A finished step-3 run read back: what step 4 compares with.

config.json / metrics.json / scores/ (written through formats/run_dir.py): the protocol (splits
or CV folds), the embeddings read, the layer chosen, the logistic-regression settings, and the
scores on the test trials. Taking all of these from the baseline's own files is what makes
step 4 and the benches score the same trials the same way. The fitted model that `--score`
applies (model.json + model.npz) is formats/baseline_model.py's."""

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.model_identity import ModelIdentity, difference
from deepfake_pipeline.formats.score_files import read_score_file
from deepfake_pipeline.formats.split_union import train_split_ids, union_name


def refit_command(run_path) -> str:
    """The command that fits the run's model again, in place: its own config.json replayed into
    its own folder. --results-dir is given because config.json records the folder the run was
    first written to, which is not where a run handed on by someone else lies now."""
    run = Path(run_path)
    return (
        f"eval_logreg.py --config {shlex.quote(str(run / 'config.json'))} "
        f"--results-dir {shlex.quote(str(run.parent))} --run {shlex.quote(run.name)} --overwrite"
    )


class BaselineRunError(PipelineError, ValueError):
    """The baseline run cannot be compared with; the message says why and what to do."""


class TrialMismatch(BaselineRunError):
    """The baseline scored other trials (utterances or labels) than this run."""


@dataclass
class BaselineRun:
    path: Path
    config: dict
    metrics: dict
    protocol: str  # "holdout" or "cv"
    train: str | None  # the training split's id; several fitted on as one: their union's name
    dev: str | None
    tests: list  # split ids (holdout) or [the cv split]
    test_labels: dict  # split id -> its name in the baseline (e.g. "x(cv5)")
    model_spec: str
    model_tag: str
    model_identities: dict  # split id -> the ModelIdentity of the embeddings it was fitted/scored on
    chosen_layers: list
    C_grid: tuple
    select_by: str
    seed: int
    top_db: float
    folds: int | None
    inner_folds: int | None
    # the split ids the training set stacks (one, unless several were given)
    train_splits: list = field(default_factory=list)

    @property
    def split_ids(self) -> list:
        return [*self.train_splits, self.dev, *self.tests] if self.protocol == "holdout" else list(self.tests)


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise BaselineRunError(
            f"{path.parent} has no {path.name}: --baseline-run must be a finished "
            f"eval_logreg.py run (results/<run>/ with config.json and metrics.json){what}"
        )
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BaselineRunError(_damaged(path, error)) from error
    if not isinstance(payload, dict):
        raise BaselineRunError(_damaged(path, "not a JSON object"))
    kind = "run_config" if path.name == "config.json" else "run_metrics"
    try:
        versions.check(kind, payload, path, refit_command(path.parent))
    except versions.FormatVersionError as error:
        raise BaselineRunError(str(error)) from None
    return payload


def _damaged(path: Path, why) -> str:
    return (
        f"{path} is damaged or cut short ({why}): rerun the eval_logreg.py command of "
        f"{path.parent} (same arguments, with --run {path.parent.name} --overwrite) to write it again"
    )


def read_baseline_run(path) -> BaselineRun:
    path = Path(path)
    try:
        return _read_baseline_run(path)
    except (KeyError, TypeError, IndexError, StopIteration) as error:
        raise BaselineRunError(
            f"{path}: its config.json or metrics.json lacks {error!s} (damaged, or written by another version): "
            f"rerun the eval_logreg.py command of that run (same arguments, with --run {path.name} "
            "--overwrite)"
        ) from error


def _read_baseline_run(path: Path) -> BaselineRun:
    config = _read_json(path / "config.json", "")
    metrics = _read_json(path / "metrics.json", "; this one did not finish")
    spec = metrics.get("feature_spec") or {}
    if spec.get("kind") != "embeddings":
        raise BaselineRunError(
            f"{path} is a baseline on {spec.get('kind', 'unknown')} features; the contrastive head trains on "
            "self-supervised embeddings, so compare it with a step-3 run on embeddings "
            "(eval_logreg.py --features embeddings ...)"
        )
    args = config["args"]
    protocol = config.get("protocol", metrics.get("protocol"))
    if protocol == "holdout":
        train_splits, dev, tests = train_split_ids(args["train"]), args["dev"], list(args["test"])
        train = union_name(train_splits)
        test_labels = {split: split for split in tests}
    elif protocol == "train_cv":
        raise BaselineRunError(
            f"{path} chose C by cross-validation on {args['train']} (eval_logreg.py --dev cv): it has no dev "
            "split, and step 4 needs one to choose its training epoch (and C) on clips it never trains on. "
            "Give step 3 a dev split of other speakers (--train SPLIT --dev SPLIT --test ...; a CSV corpus "
            "takes a split column), or run it with --cv SPLIT on one split, then train_contrastive.py "
            "--baseline-run on that run"
        )
    elif protocol == "cv":
        train, train_splits, dev, tests = None, [], None, [args["cv"]]
        test_labels = {args["cv"]: next(iter(metrics["tests"]))}
    else:
        raise BaselineRunError(f"{path}: unknown protocol {protocol!r} in its config.json")
    first_split = config["features"][tests[0]]["features"]
    return BaselineRun(
        path=path,
        config=config,
        metrics=metrics,
        protocol=protocol,
        train=train,
        dev=dev,
        tests=tests,
        test_labels=test_labels,
        model_spec=first_split["model"],
        model_tag=first_split["model_tag"],
        model_identities={
            split: ModelIdentity.from_json(entry["features"].get("model_identity"))
            for split, entry in config["features"].items()
        },
        chosen_layers=list(metrics["selection"]["layers"]),
        C_grid=tuple(config["C_grid"]),
        select_by=config["select_by"],
        seed=int(config["seed"]),
        top_db=float(config["silence_top_db"]),
        folds=config.get("folds"),
        inner_folds=config.get("inner_folds"),
        train_splits=train_splits,
    )


def check_same_model(baseline: BaselineRun, split_id: str, identity: ModelIdentity | None) -> None:
    """Refuse embeddings of `split_id` that another model made than the one the baseline was
    fitted and scored on (the baseline records each split's model identity)."""
    recorded = baseline.model_identities.get(split_id)
    replay = refit_command(baseline.path)
    if recorded is None:
        raise BaselineRunError(
            f"the baseline run {baseline.path} records no model identity for {split_id} (made by an older "
            f"version of the pipeline): rerun it with `{replay}`, then train_contrastive.py again"
        )
    problem = difference(recorded, identity)
    if problem:
        raise TrialMismatch(
            f"the {baseline.model_tag} embeddings of {split_id} are no longer those the baseline run "
            f"{baseline.path.name} was fitted on: {problem}. Rerun the baseline on them (`{replay}`), "
            "or recompute the embeddings it used, then compare"
        )


def check_same_manifest(baseline: BaselineRun, split_id: str, manifest_sha256: str) -> None:
    """Refuse a split whose manifest changed since the baseline ran: its utterances or labels
    may differ (the baseline records each manifest's SHA-256)."""
    recorded = baseline.config["features"][split_id]["manifest_sha256"]
    if recorded != manifest_sha256:
        raise TrialMismatch(
            f"the manifest of {split_id} changed since the baseline run {baseline.path.name} "
            f"(SHA-256 {recorded[:12]}... then, {manifest_sha256[:12]}... now), so its trials or labels may "
            "differ: rerun eval_logreg.py on the current manifest, then compare"
        )


def baseline_scores(baseline: BaselineRun, split_id: str, utt_ids) -> np.ndarray:
    """The baseline's scores on test split `split_id`, aligned to `utt_ids` (this run's order)."""
    label = baseline.test_labels[split_id]
    entry = baseline.metrics["tests"][label]
    path = baseline.path / entry["score_file"]
    try:
        ids, scores = read_score_file(path)
    except (OSError, ValueError) as error:
        why = "missing" if isinstance(error, FileNotFoundError) else f"unreadable: {error}"
        raise BaselineRunError(
            f"the baseline's score file {path} is {why}: rerun the eval_logreg.py command of "
            f"{baseline.path} (same arguments, with --run {baseline.path.name} --overwrite) to write it again"
        ) from error
    return align_scores(ids, scores, utt_ids, f"the baseline run {baseline.path.name}, test={label}")


def align_scores(score_ids, scores, utt_ids, where: str) -> np.ndarray:
    """`scores` reordered to `utt_ids`; refuses unless both name exactly the same utterances."""
    score_ids, utt_ids = list(score_ids), list(utt_ids)
    if len(set(score_ids)) != len(score_ids):
        raise TrialMismatch(f"{where}: its score file names some utterances twice")
    missing = sorted(set(utt_ids) - set(score_ids))
    extra = sorted(set(score_ids) - set(utt_ids))
    if missing or extra:
        raise TrialMismatch(
            f"{where} scored other trials than this run: {len(missing)} of this run's {len(utt_ids)} "
            f"utterances are not in it (e.g. {missing[:3]}), and it has {len(extra)} that this run lacks "
            f"(e.g. {extra[:3]}). Both systems must score the same trials: rerun eval_logreg.py on these splits"
        )
    position = {utt: i for i, utt in enumerate(score_ids)}
    return np.asarray(scores, dtype=np.float64)[[position[utt] for utt in utt_ids]]


def check_labels_match(baseline: BaselineRun, split_id: str, labels) -> None:
    """Belt and braces beside the manifest hash: the baseline's bona fide / spoof counts."""
    entry = baseline.metrics["tests"][baseline.test_labels[split_id]]
    labels = np.asarray(labels)
    counts = (int(np.sum(labels == 0)), int(np.sum(labels == 1)))
    if (entry.get("n_bonafide"), entry.get("n_spoof")) != counts:
        raise TrialMismatch(
            f"the baseline run {baseline.path.name} counted {entry.get('n_bonafide')} bona fide / "
            f"{entry.get('n_spoof')} spoof trials on {split_id}, this run {counts[0]} / {counts[1]}: "
            "the labels differ; rerun eval_logreg.py on the current manifest, then compare"
        )
