"""The logistic-regression baseline: a StandardScaler + LogisticRegression Pipeline, the choice of
C (and of the feature view, e.g. the layer in a sweep) on held-out data only, and speaker-grouped
K-fold cross-validation for a corpus that has a single split.

A "view" is one feature matrix of a split (the spectral features, one layer's embeddings, a
concatenation of layers); the candidates compared during selection are (view, C) pairs.

Scores are log-odds of bona fide, `-decision_function`, so higher = more bona fide as in the
field's score files (label 0 = bona fide, 1 = spoof).

One clip, one score: a clip's score does not depend on which other clips are scored with it
(alone with `--score FILE`, in a folder, in a whole test split). Fitting and scoring run in
float64 on float64 copies of the features, whatever dtype they are stored in; the scaler and the
dot product then leave a batch dependence of a few float64 roundings, and scores of the same
clip agree within SCORE_RTOL x max(1, |score|) (tested for batches of 1 to 300 rows). The printed
`score=%.6f` is therefore the same unless a score lies within that tolerance of a rounding
boundary of its sixth decimal."""

import warnings
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deepfake_pipeline.baseline import DEFAULT_C_GRID, SELECTION_CRITERIA  # noqa: E402,F401
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.common.progress import Progress
from deepfake_pipeline.evaluation import metrics
from deepfake_pipeline.evaluation.tdcf import official_eer

UNKNOWN_SPEAKER = "-"
# How far two scores of the same clip computed in different batches may lie apart, relative to
# max(1, |score|). Observed: ~1e-16 for 15 to 768 features; kept loose for wider concatenations.
SCORE_RTOL = 1e-12


def as_float64(X) -> np.ndarray:
    """The features as float64 (no copy when they already are).

    Why: scikit-learn keeps float32 input in float32 through StandardScaler and
    LogisticRegression, and a float32 matrix product rounds differently for a single row
    (matrix-vector kernel) than for a block of rows (blocked matrix-matrix kernel, whose
    summation order depends on the number of rows): the same clip scored 2.917478 alone and
    2.917477 inside a folder (AMD Zen 4), up to 1e-4 relative for scores near 0. Doing the
    arithmetic in float64 shrinks that to ~1e-16 relative. Converted per call, not per split, so
    that memory holds one float64 view at a time (views come as stored, float16 by default)."""
    return np.asarray(X, dtype=np.float64)


class ProtocolError(PipelineError, ValueError):
    """An evaluation protocol that cannot give an honest number (too few speakers for the folds,
    a part with one class only); the message says what to change."""


def make_pipeline(C: float, seed: int = 0, max_iter: int = 5000) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(C=C, max_iter=max_iter, random_state=seed)),
        ]
    )


def check_both_classes(labels, what: str) -> None:
    present = set(np.unique(labels).tolist())
    if not {0, 1} <= present:
        raise ProtocolError(
            f"{what} holds only {'bona fide' if present == {0} else 'spoof' if present == {1} else 'no'} "
            "trials; a classifier needs both classes there: choose other splits or more folds' data"
        )


def fit(X, labels, C: float, seed: int = 0):
    """Fit the Pipeline; returns (pipeline, converged)."""
    check_both_classes(labels, "the fitting data")
    model = make_pipeline(C, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(as_float64(X), labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged


def bonafide_scores(model, X) -> np.ndarray:
    """Log-odds of bona fide: higher = more bona fide. Computed in float64 (see as_float64), so
    a row's score is the same alone or in any batch, within SCORE_RTOL."""
    classes = list(model.classes_)
    if classes != [0, 1]:
        raise ValueError(f"expected classes [0, 1], the model has {classes}")
    # decision_function is the log-odds of classes_[1] = spoof.
    if (
        isinstance(model, Pipeline)
        and len(model.steps) == 2
        and isinstance(model.steps[0][1], StandardScaler)
        and np.asarray(X).dtype != np.float64
    ):
        # The float64 copy is ours: scale it in place, as the Pipeline would scale a copy of it
        # (the same operations, so the same numbers), and a large split is held once, not twice.
        scaled = model.steps[0][1].transform(as_float64(X), copy=False)
        return -np.asarray(model.steps[1][1].decision_function(scaled), dtype=np.float64)
    return -np.asarray(model.decision_function(as_float64(X)), dtype=np.float64)


@dataclass
class Selection:
    """The (view, C) chosen on held-out data, and the table it was chosen from. `select_on_dev`
    also keeps, per view, the model fitted at that view's best C and its held-out scores (the
    models are a few vectors each; the data they were fitted on is not kept)."""

    key: str
    C: float
    best_C: dict  # view -> its best C
    table: list = field(default_factory=list)  # one row per (view, C): held-out auc, eer, converged
    select_by: str = "auc"
    models: dict = field(default_factory=dict)  # view -> Pipeline fitted at best_C[view]
    held_out_scores: dict = field(default_factory=dict)  # view -> held-out scores of that model

    def row(self, key, C) -> dict:
        return next(r for r in self.table if r["view"] == key and r["C"] == C)


def _fit_and_score(X_fit, y_fit, X_score, C, seed):
    model, converged = fit(X_fit, y_fit, C, seed)
    return model, bonafide_scores(model, X_score), converged


def _progress(label, total):
    """A Progress for `total` fits: `label` names a new one, or is one already counting (a
    selection inside a larger one, e.g. the inner CV of each outer fold); None: no lines."""
    if isinstance(label, Progress):
        return label
    return None if not label else Progress(label, total, unit="fits", every_s=30.0)


def _run_fits(calls: list, jobs: int, progress) -> list:
    """Run delayed fits in order, in threads, counting them on `progress` (a layer sweep on a
    full corpus takes long enough to need progress lines)."""
    results = []
    for result in Parallel(n_jobs=jobs, prefer="threads", return_as="generator")(calls):
        results.append(result)
        if progress is not None:
            progress.update(1)
    return results


def _value(row, select_by) -> float:
    return row["auc"] if select_by == "auc" else -row["eer"]


def _view_selection(labels, key, scores_by_C: dict, converged_by_C: dict, C_grid, select_by) -> Selection:
    """The rows of one view and its best C; ties go to the smaller C (stronger regularisation:
    the grid is sorted)."""
    table: list = []
    best_C, best_value = None, None
    for C in C_grid:
        scores = scores_by_C[C]
        row = {
            "view": key,
            "C": C,
            "auc": float(metrics.roc_auc(labels, scores)),
            "eer": float(official_eer(labels, scores).eer),
            "converged": converged_by_C[C],
        }
        table.append(row)
        if best_value is None or _value(row, select_by) > best_value:  # both are set together
            best_value, best_C = _value(row, select_by), C
    assert best_C is not None  # C_grid is not empty
    return Selection(key=key, C=best_C, best_C={key: best_C}, table=table, select_by=select_by)


def _merge(views: list, select_by) -> Selection:
    """The best of single-view selections, in view order; ties go to the earlier view."""
    best: Selection | None = None
    for view in views:
        if best is None or _value(view.row(view.key, view.C), select_by) > _value(
            best.row(best.key, best.C), select_by
        ):
            best = view
    assert best is not None  # views is not empty
    return Selection(
        key=best.key,
        C=best.C,
        best_C={v.key: v.C for v in views},
        table=[row for v in views for row in v.table],
        select_by=select_by,
        models={k: m for v in views for k, m in v.models.items()},
        held_out_scores={k: s for v in views for k, s in v.held_out_scores.items()},
    )


def _pick(labels, grid_scores: dict, converged: dict, keys, C_grid, select_by) -> Selection:
    """Best C per view, then best view (ties: the smaller C, the earlier view)."""
    return _merge(
        [
            _view_selection(
                labels,
                key,
                {C: grid_scores[key, C] for C in C_grid},
                {C: converged[key, C] for C in C_grid},
                C_grid,
                select_by,
            )
            for key in keys
        ],
        select_by,
    )


def _check_grid(C_grid, select_by):
    if select_by not in SELECTION_CRITERIA:
        raise ValueError(f"select_by must be one of {SELECTION_CRITERIA}, got {select_by!r}")
    C_grid = tuple(sorted(float(C) for C in C_grid))
    if not C_grid or any(C <= 0 for C in C_grid):
        raise ValueError(f"the C grid must hold positive numbers, got {C_grid}")
    return C_grid


def select_on_dev(
    train_views,
    y_train,
    dev_views,
    y_dev,
    C_grid=DEFAULT_C_GRID,
    seed: int = 0,
    select_by: str = "auc",
    jobs: int = 1,
    progress_label=None,
) -> Selection:
    """Fit every (view, C) on train, score dev, keep the best by dev ROC-AUC (or EER). Only the
    train and dev data reach this function: the test data cannot influence the choice. One view
    at a time: `train_views[key]` and `dev_views[key]` are asked for once each (they may be read
    from disk on demand, formats/embedding_views.py), every C fitted, and only the best C's model
    and dev scores kept, so memory holds one view whatever the number of views."""
    C_grid = _check_grid(C_grid, select_by)
    check_both_classes(y_dev, "the dev split")
    y_dev = np.asarray(y_dev)
    keys = list(train_views)
    progress = _progress(progress_label, len(keys) * len(C_grid))
    views = []
    for key in keys:
        X_fit, X_dev = train_views[key], dev_views[key]
        results = _run_fits([delayed(_fit_and_score)(X_fit, y_train, X_dev, C, seed) for C in C_grid], jobs, progress)
        del X_fit, X_dev
        view = _view_selection(
            y_dev,
            key,
            {C: r[1] for C, r in zip(C_grid, results, strict=True)},
            {C: r[2] for C, r in zip(C_grid, results, strict=True)},
            C_grid,
            select_by,
        )
        model, scores, _ = results[C_grid.index(view.C)]
        view.models, view.held_out_scores = {key: model}, {key: scores}
        views.append(view)
    return _merge(views, select_by)


# --- speaker-grouped cross-validation -------------------------------------------------------


def cv_groups(speakers, n_folds: int) -> np.ndarray:
    """Groups for K-fold CV: one per speaker. Clips of unknown speaker ("-") form one group
    together, the cautious choice (they may share speakers). Refuses a protocol that cannot keep
    speakers apart."""
    speakers = np.asarray(speakers, dtype=str)
    if n_folds < 2:
        raise ProtocolError(f"--folds must be at least 2, got {n_folds}")
    if len(speakers) and np.all(speakers == UNKNOWN_SPEAKER):
        raise ProtocolError(
            "every clip's speaker is unknown ('-'), so speaker-grouped cross-validation cannot keep a "
            "speaker out of both the fitting and the scoring part. Give the corpus a speaker column "
            "(a CSV corpus takes path,label,speaker) and rerun preprocess_datasets.py, or evaluate "
            "with --train/--dev/--test splits instead of --cv"
        )
    n_groups = len(np.unique(speakers))
    if n_groups < n_folds:
        raise ProtocolError(
            f"only {n_groups} distinct speakers for --folds {n_folds}: each fold must hold out whole "
            f"speakers. Use --folds {n_groups} or fewer"
            if n_groups >= 2
            else f"only {n_groups} distinct speaker: grouped cross-validation needs at least 2; use "
            "--train/--dev/--test splits instead"
        )
    return speakers


def grouped_folds(labels, groups, n_folds: int, seed: int = 0) -> list:
    """[(fit_idx, score_idx)] from StratifiedGroupKFold: no group (speaker) is in both parts,
    and each scoring part keeps about the corpus' bona fide / spoof ratio."""
    labels = np.asarray(labels)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = list(splitter.split(np.zeros(len(labels)), labels, groups))
    for number, (fit_idx, _) in enumerate(folds):
        check_both_classes(labels[fit_idx], f"the fitting part of fold {number}")
    return folds


def check_scored_parts(labels, groups, n_folds: int, seed: int = 0, what: str = "the training split") -> None:
    """Refuse folds whose scoring part holds one class only: the pooled out-of-fold ROC-AUC that
    chooses C would then rank one model's bona fide scores against another model's spoof scores,
    which says nothing about either. Happens when speakers are one class each and few."""
    labels = np.asarray(labels)
    for number, (_, scored) in enumerate(grouped_folds(labels, groups, n_folds, seed)):
        present = set(np.unique(labels[scored]).tolist())
        if present != {0, 1}:
            raise ProtocolError(
                f"with --folds {n_folds}, the held-out part of fold {number} of {what} holds only "
                f"{'bona fide' if present == {0} else 'spoof'} trials ({len(scored)} clips of "
                f"{len(np.unique(np.asarray(groups)[scored]))} speakers), so the out-of-fold scores that choose C "
                "would compare different folds' models. Use fewer --folds, or give the split more speakers "
                "with clips of both classes"
            )


def _pooled_cv_scores(X, labels, folds, C_grid, seed, jobs, progress):
    """Out-of-fold scores of one view at every C, pooled over the folds."""
    tasks = [(C, f) for C in C_grid for f in range(len(folds))]
    results = _run_fits(
        [delayed(_fit_and_score)(X[folds[f][0]], labels[folds[f][0]], X[folds[f][1]], C, seed) for C, f in tasks],
        jobs,
        progress,
    )
    scores = {C: np.full(len(labels), np.nan) for C in C_grid}
    converged = dict.fromkeys(C_grid, True)
    for (C, f), (_, fold_scores, ok) in zip(tasks, results, strict=True):
        scores[C][folds[f][1]] = fold_scores
        converged[C] &= ok
    return scores, converged


def select_by_cv(
    views,
    labels,
    groups,
    n_folds: int,
    C_grid=DEFAULT_C_GRID,
    seed: int = 0,
    select_by: str = "auc",
    jobs: int = 1,
    progress_label=None,
    refit: bool = False,
) -> Selection:
    """Choose (view, C) by speaker-grouped CV on the data given (pooled out-of-fold scores),
    one view at a time (`views[key]` asked for once each). With `refit`, also keep per view the
    model fitted on all the data at that view's best C and the out-of-fold scores at that C
    (`models`, `held_out_scores`), from the same read of the view."""
    C_grid = _check_grid(C_grid, select_by)
    labels = np.asarray(labels)
    n_folds = min(n_folds, len(np.unique(groups)))
    if n_folds < 2:
        raise ProtocolError(
            "too few speakers in a fitting part to choose C by inner cross-validation; "
            "use fewer --folds or a corpus with more speakers"
        )
    folds = grouped_folds(labels, groups, n_folds, seed)
    keys = list(views)
    progress = _progress(progress_label, len(keys) * len(C_grid) * n_folds)
    chosen = []
    for key in keys:
        X = views[key]
        scores, converged = _pooled_cv_scores(X, labels, folds, C_grid, seed, jobs, progress)
        view = _view_selection(labels, key, scores, converged, C_grid, select_by)
        if refit:
            view.models, view.held_out_scores = {key: fit(X, labels, view.C, seed)[0]}, {key: scores[view.C]}
        del X
        chosen.append(view)
    return _merge(chosen, select_by)


@dataclass
class CVResult:
    scores: np.ndarray  # out-of-fold scores of the view chosen in each fold
    view_scores: dict  # view -> out-of-fold scores, C chosen per fold for that view
    folds: list  # [(fit_idx, score_idx)]
    choices: list  # per fold: {"fold", "view", "C", "best_C", "n_fit", "n_score"}


def cross_validate(
    views,
    labels,
    groups,
    n_folds: int,
    C_grid=DEFAULT_C_GRID,
    seed: int = 0,
    select_by: str = "auc",
    inner_folds: int | None = None,
    jobs: int = 1,
    progress_label: str | None = None,
) -> CVResult:
    """Nested speaker-grouped CV: in each outer fold, (view, C) is chosen by an inner grouped CV
    on the fitting part alone, fitted there, and the held-out speakers are scored. Every score
    thus comes from a model that never saw that speaker, not even to choose C. One view at a
    time (`views[key]` asked for once each): per fold, each view's C by an inner CV of that view
    alone (what a joint choice computes for it), then the fold's view, the best of those."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    folds = grouped_folds(labels, groups, n_folds, seed)
    inner_folds = inner_folds or n_folds
    keys = list(views)
    view_scores = {key: np.full(len(labels), np.nan) for key in keys}
    inner: list[list[Selection]] = [[] for _ in folds]  # per fold: each view's own inner selection
    inner_fits = sum(min(inner_folds, len(np.unique(groups[fit_idx]))) for fit_idx, _ in folds)
    progress = _progress(progress_label, len(keys) * len(C_grid) * inner_fits)
    for key in keys:
        X = views[key]
        for number, (fit_idx, score_idx) in enumerate(folds):
            X_fit = X[fit_idx]
            chosen = select_by_cv(
                {key: X_fit}, labels[fit_idx], groups[fit_idx], inner_folds, C_grid, seed, select_by, jobs, progress
            )
            model, _ = fit(X_fit, labels[fit_idx], chosen.C, seed)
            view_scores[key][score_idx] = bonafide_scores(model, X[score_idx])
            inner[number].append(chosen)
        del X
    cv_scores = np.full(len(labels), np.nan)
    choices = []
    for number, (fit_idx, score_idx) in enumerate(folds):
        fold = _merge(inner[number], select_by)
        cv_scores[score_idx] = view_scores[fold.key][score_idx]
        choices.append(
            {
                "fold": number,
                "view": fold.key,
                "C": fold.C,
                "best_C": fold.best_C,
                "n_fit": len(fit_idx),
                "n_score": len(score_idx),
            }
        )
    return CVResult(scores=cv_scores, view_scores=view_scores, folds=folds, choices=choices)
