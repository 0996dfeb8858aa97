"""Step 3's two protocols, end to end: fit the logistic-regression baseline, choose C (and the
layer) on dev data only, score the test splits, run the silence-only shortcut check on the same
protocol, and hand every number to `baseline_report` for printing and files.

- holdout: fit on --train, choose on --dev, score each --test split;
- cv: one split, speaker-grouped K-fold, with C (and layer) chosen by an inner grouped CV inside
  each fold's fitting part."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from deepfake_pipeline.baseline import DEV_BY_CV, leakage, logreg, shortcut
from deepfake_pipeline.baseline.model_store import save_model_bundle
from deepfake_pipeline.baseline.report import TestResult, print_header, report_run
from deepfake_pipeline.common.progress import note
from deepfake_pipeline.evaluation import significance
from deepfake_pipeline.evaluation.field_metrics import prior_log_odds
from deepfake_pipeline.formats.asv_scores import load_asv_scores
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_split, load_splits
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR
from deepfake_pipeline.formats.split_union import train_split_ids, union_of


@dataclass
class BaselineSettings:
    spec: FeatureSpec
    train: str | list | None = None  # one split id, or several fitted on as one (train_splits)
    dev: str | None = None
    tests: list = field(default_factory=list)
    cv: str | None = None
    folds: int = 5
    inner_folds: int | None = None
    C_grid: tuple = logreg.DEFAULT_C_GRID
    seed: int = 0
    n_boot: int = 1000
    select_by: str = "auc"
    jobs: int = 1
    top_db: float = shortcut.DEFAULT_TOP_DB
    interim_dir: object = INTERIM_DIR
    processed_dir: object = PROCESSED_DIR
    allow_overlap: bool = False
    keep_duplicates: bool = False

    @property
    def protocol(self) -> str:
        if self.cv:
            return "cv"
        return "train_cv" if self.dev == DEV_BY_CV else "holdout"

    @property
    def train_splits(self) -> list:
        return train_split_ids(self.train) if self.train else []


def _silence(split, settings):
    return shortcut.silence_view_of(split, settings.processed_dir, settings.top_db)


def _summary(split, scores, settings, fit_labels, n_boot=None):
    """Every number about `scores` on `split`; `fit_labels` (the labels the model was fitted on)
    turn its log posterior odds into the LLRs that actDCF and Cllr judge."""
    return significance.summarize(
        split.labels,
        scores,
        split.speakers,
        attacks=split.attacks,
        n_boot=settings.n_boot if n_boot is None else n_boot,
        seed=settings.seed,
        asv=asv_scores_for(split),
        prior_log_odds=prior_log_odds(fit_labels),
    )


def asv_scores_for(split):
    """The organisers' ASV scores that step 1 found for this split, or None. A recorded file that
    has since moved is said, not skipped in silence."""
    source = split.info.get("asv_scores")
    try:
        return load_asv_scores(source)
    except FileNotFoundError as error:
        note(
            f"WARNING: no min t-DCF for {split.split_id}: {error}; rerun "
            "preprocess_datasets.py --overwrite for it if the corpus moved"
        )
        return None


def _save_model(run, model, settings, split, view, C, threshold, threshold_source, silence_model, demo):
    """The fitted model with what --score needs to make the same features for new clips, and
    the silence-only model so labelled new clips get the shortcut check too."""
    save_model_bundle(
        run.path,
        {
            "pipeline": model,
            "silence_pipeline": silence_model,
            "feature_spec": asdict(settings.spec),
            "view": view,
            "layers": split.view_layers[view],
            "C": C,
            "threshold": threshold,
            "threshold_source": threshold_source,
            "feature_meta": split.meta,
            "untrained": split.untrained,
            "demo": demo,
            "top_db": settings.top_db,
            "fitted_on": split.split_id,
        },
    )


def check_not_test_in_fit(settings) -> None:
    overlap = {*settings.train_splits, settings.dev} & set(settings.tests)
    if overlap:
        raise logreg.ProtocolError(
            f"split(s) {sorted(overlap)} are used both to fit/choose and to test: a test split must be held out"
        )


def run_holdout(settings: BaselineSettings, run, config_args: dict) -> dict:
    check_not_test_in_fit(settings)
    n_train = len(settings.train_splits)
    splits = load_splits(
        [*settings.train_splits, settings.dev, *settings.tests],
        settings.spec,
        settings.interim_dir,
        settings.processed_dir,
        keep_duplicates=settings.keep_duplicates,
    )
    train, dev, tests = union_of(splits[:n_train]), splits[n_train], splits[n_train + 1 :]
    overlaps = leakage.check_holdout([*splits[:n_train], dev], tests, settings.allow_overlap)
    run.write_config(
        config_args,
        settings.seed,
        {s.split_id: s.metadata() for s in splits},
        {
            "protocol": "holdout",
            "train_splits": settings.train_splits,
            "C_grid": list(settings.C_grid),
            "select_by": settings.select_by,
            "silence_top_db": settings.top_db,
        },
    )
    untrained = any(s.untrained for s in splits)
    print_header(run, settings, train, dev, tests, untrained, any(s.demo for s in splits))
    run.print(
        *leakage.left_out_lines(splits, "[eval_logreg]"), *(f"[eval_logreg] {entry.line()}" for entry in overlaps)
    )

    # One view (layer) at a time: the selection reads each view of train and dev once and keeps,
    # per view, the model at its best C and its dev scores; each test view is then read once.
    selection = logreg.select_on_dev(
        train.views,
        train.labels,
        dev.views,
        dev.labels,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        settings.jobs,
        "choose on dev",
    )
    model = selection.models[selection.key]
    dev_scores = selection.held_out_scores[selection.key]
    dev_summary = _summary(dev, dev_scores, settings, train.labels)

    silence_train, silence_dev = _silence(train, settings), _silence(dev, settings)
    silence_selection = logreg.select_on_dev(
        silence_train, train.labels, silence_dev, dev.labels, settings.C_grid, settings.seed, settings.select_by
    )
    silence_model = silence_selection.models["silence"]

    results = []
    for test in tests:
        silence_scores = logreg.bonafide_scores(silence_model, _silence(test, settings)["silence"])
        view_scores = {key: logreg.bonafide_scores(m, test.views[key]) for key, m in selection.models.items()}
        results.append(
            TestResult(
                split=test,
                label=test.split_id,
                scores=view_scores[selection.key],
                summary=_summary(test, view_scores[selection.key], settings, train.labels),
                silence_scores=silence_scores,
                view_scores=view_scores,
            )
        )
    _save_model(
        run,
        model,
        settings,
        train,
        selection.key,
        selection.C,
        dev_summary["eer_threshold"],
        "EER threshold on the dev split",
        silence_model,
        train.demo or dev.demo,
    )
    return report_run(
        run,
        settings,
        train,
        selection,
        results,
        untrained,
        train.demo or dev.demo,
        overlap={
            "between_splits": leakage.as_json(overlaps),
            "left_out_duplicates": {s.split_id: s.left_out_duplicates for s in splits},
        },
        chosen_on={
            "split": dev,
            "scores": dev_scores,
            "summary": dev_summary,
            "view_scores": selection.held_out_scores,
            "silence_C": silence_selection.C,
        },
    )


def run_cv(settings: BaselineSettings, run, config_args: dict) -> dict:
    assert settings.cv is not None  # the cv protocol names its split
    split = load_split(
        settings.cv,
        settings.spec,
        settings.interim_dir,
        settings.processed_dir,
        keep_duplicates=settings.keep_duplicates,
    )
    groups = logreg.cv_groups(split.speakers, settings.folds)
    run.write_config(
        config_args,
        settings.seed,
        {split.split_id: split.metadata()},
        {
            "protocol": "cv",
            "folds": settings.folds,
            "inner_folds": settings.inner_folds or settings.folds,
            "C_grid": list(settings.C_grid),
            "select_by": settings.select_by,
            "silence_top_db": settings.top_db,
        },
    )
    print_header(run, settings, split, None, [split], split.untrained, split.demo)
    cv = logreg.cross_validate(
        split.views,
        split.labels,
        groups,
        settings.folds,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        settings.inner_folds,
        settings.jobs,
        "cv",
    )
    fold_of_trial = np.empty(len(split), dtype=np.int64)
    for fold, (_, scored) in enumerate(cv.folds):
        fold_of_trial[scored] = fold
    across = leakage.copies_across_folds(split, fold_of_trial)
    run.print(
        *leakage.left_out_lines([split], "[eval_logreg]"),
        f"[eval_logreg] overlap across folds of {split.split_id}: {across} clips whose audio is also in another "
        "fold" + (" -- WARNING: those folds are not independent" if across else ""),
    )
    silence_view = _silence(split, settings)
    silence_cv = logreg.cross_validate(
        silence_view,
        split.labels,
        groups,
        settings.folds,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        settings.inner_folds,
    )
    # Each fold's model saw the split less that fold: its class balance is the split's, near enough.
    summary = _summary(split, cv.scores, settings, split.labels)
    result = TestResult(
        split=split,
        label=f"{split.split_id}(cv{settings.folds})",
        scores=cv.scores,
        summary=summary,
        silence_scores=silence_cv.scores,
        view_scores=cv.view_scores,
    )

    # The model kept for --score: (view, C) chosen by grouped CV on the whole split, fitted on
    # all of it; its threshold is the EER threshold of the out-of-fold scores.
    final = logreg.select_by_cv(
        split.views,
        split.labels,
        groups,
        settings.folds,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        settings.jobs,
        "final model",
    )
    model, _ = logreg.fit(split.views[final.key], split.labels, final.C, settings.seed)
    silence_final = logreg.select_by_cv(
        silence_view, split.labels, groups, settings.folds, settings.C_grid, settings.seed, settings.select_by
    )
    silence_model, _ = logreg.fit(silence_view["silence"], split.labels, silence_final.C, settings.seed)
    _save_model(
        run,
        model,
        settings,
        split,
        final.key,
        final.C,
        summary["eer_threshold"],
        f"EER threshold of the out-of-fold scores ({settings.folds}-fold CV)",
        silence_model,
        split.demo,
    )
    return report_run(
        run,
        settings,
        split,
        final,
        [result],
        split.untrained,
        split.demo,
        overlap={"copies_across_folds": across, "left_out_duplicates": {split.split_id: split.left_out_duplicates}},
        cv_choices=cv.choices,
        cv_fold_sizes=[len(s) for _, s in cv.folds],
    )


def run_baseline(settings: BaselineSettings, run, config_args: dict) -> dict:
    """The holdout or --cv protocol; `--dev cv` (protocol train_cv) is baseline/train_cv.py's."""
    if settings.protocol == "train_cv":
        raise ValueError("protocol train_cv (--dev cv) runs through baseline.train_cv.run_train_cv")
    return run_cv(settings, run, config_args) if settings.cv else run_holdout(settings, run, config_args)


def score_with_model(bundle: dict, views: Mapping) -> np.ndarray:
    """Scores (higher = more bona fide) of a saved model on a split's feature views."""
    return logreg.bonafide_scores(bundle["pipeline"], views[bundle["view"]])
