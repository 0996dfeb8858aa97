"""The baseline's model-level logic: score orientation, choice of C and view on dev only,
speaker-grouped folds, nested CV."""

import gc
import weakref
from collections.abc import Mapping

import numpy as np
import pytest
from logreg_fixtures import balanced_design, informative, prefers_other_C_on_test
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deepfake_pipeline.baseline.protocols import logreg
from deepfake_pipeline.evaluation import metrics

C_SMALL, C_LARGE = 1e-4, 100.0


def test_scores_are_log_odds_of_bonafide():
    labels, _ = balanced_design(10, 10)
    x = informative(labels, 4, [0, 1])
    model, converged = logreg.fit(x, labels, 1.0)
    scores = logreg.bonafide_scores(model, x)
    proba = model.predict_proba(x)
    assert converged
    np.testing.assert_allclose(scores, np.log(proba[:, 0] / proba[:, 1]), rtol=1e-6, atol=1e-8)
    assert scores[labels == 0].mean() > scores[labels == 1].mean()
    assert metrics.roc_auc(labels, scores) > 0.8


def test_C_is_chosen_on_dev_even_when_test_prefers_another():
    x_train, y_train = prefers_other_C_on_test(400, 0, test_like=False)
    x_dev, y_dev = prefers_other_C_on_test(400, 1, test_like=False)
    x_test, y_test = prefers_other_C_on_test(400, 2, test_like=True)
    test_auc = {
        C: metrics.roc_auc(y_test, logreg.bonafide_scores(logreg.fit(x_train, y_train, C)[0], x_test))
        for C in (C_SMALL, C_LARGE)
    }
    assert test_auc[C_SMALL] > test_auc[C_LARGE] + 0.2, "the construction must make test prefer the small C"

    selection = logreg.select_on_dev({"v": x_train}, y_train, {"v": x_dev}, y_dev, (C_SMALL, C_LARGE))
    dev_auc = {row["C"]: row["auc"] for row in selection.table}
    assert dev_auc[C_LARGE] > dev_auc[C_SMALL] + 0.1
    assert selection.C == C_LARGE


def test_view_with_best_dev_metric_is_chosen():
    labels, _ = balanced_design(20, 10, seed=1)
    dev_labels, _ = balanced_design(20, 10, seed=2)
    strengths = {"layer_0": 0.2, "layer_1": 2.0, "layer_2": 0.8}
    train = {k: informative(labels, 5, [0], s, seed=i) for i, (k, s) in enumerate(strengths.items())}
    dev = {k: informative(dev_labels, 5, [0], s, seed=10 + i) for i, (k, s) in enumerate(strengths.items())}
    selection = logreg.select_on_dev(train, labels, dev, dev_labels, (0.01, 1.0))
    assert selection.key == "layer_1"
    best = {k: selection.row(k, selection.best_C[k])["auc"] for k in strengths}
    assert best["layer_1"] == max(best.values())
    assert set(selection.best_C) == set(strengths)


@pytest.mark.parametrize("n_folds", [2, 3, 5])
def test_grouped_folds_never_share_a_speaker(n_folds):
    labels, speakers = balanced_design(11, 7, seed=n_folds)
    folds = logreg.grouped_folds(labels, speakers, n_folds, seed=0)
    assert len(folds) == n_folds
    scored = np.concatenate([score for _, score in folds])
    assert sorted(scored.tolist()) == list(range(len(labels)))  # every clip scored exactly once
    for fit_idx, score_idx in folds:
        assert set(speakers[fit_idx]).isdisjoint(speakers[score_idx])
        assert set(labels[fit_idx]) == {0, 1}


def test_nested_cv_chooses_C_without_the_held_out_speakers(monkeypatch):
    labels, speakers = balanced_design(12, 8)
    x = informative(labels, 4, [0])
    seen = []
    real = logreg.select_by_cv

    def spy(views, fit_labels, groups, *args, **kwargs):
        seen.append(set(np.asarray(groups).tolist()))
        return real(views, fit_labels, groups, *args, **kwargs)

    monkeypatch.setattr(logreg, "select_by_cv", spy)
    result = logreg.cross_validate({"v": x}, labels, speakers, 3, (0.01, 1.0), inner_folds=2)
    assert len(seen) == 3
    for (fit_idx, score_idx), inner_speakers in zip(result.folds, seen, strict=True):
        assert inner_speakers == set(speakers[fit_idx])
        assert inner_speakers.isdisjoint(speakers[score_idx])
    assert np.all(np.isfinite(result.scores))
    assert metrics.roc_auc(labels, result.scores) > 0.7


def test_cv_groups_refuses_unknown_or_too_few_speakers():
    with pytest.raises(logreg.ProtocolError, match="speaker column"):
        logreg.cv_groups(["-"] * 20, 5)
    with pytest.raises(logreg.ProtocolError, match="--folds 3 or fewer"):
        logreg.cv_groups(["a", "b", "c", "a"], 5)
    # Unknown speakers are kept together as one group, never spread over folds.
    groups = logreg.cv_groups(["a", "b", "-", "-", "c"], 2)
    assert list(groups) == ["a", "b", "-", "-", "c"]


def test_fit_refuses_one_class():
    with pytest.raises(logreg.ProtocolError, match="only spoof"):
        logreg.fit(np.zeros((4, 2)), np.ones(4, dtype=int), 1.0)


# ------------------------------------------------------------ one clip, one score

# The promise (baseline/logreg.py, docs/reference.md, step 3, "One clip, one score"): a row's score is the
# same whether it is scored alone or among any other rows, within 1e-12 relative to max(1, |score|).
SCORE_RTOL = 1e-12
BATCH_SIZES = (1, 2, 3, 5, 8, 17, 64, 257)


def _stored_features(n, dim, seed):
    """float32 features as step 2 stores them: large offsets and scales on some columns (like the
    spectral centroid in Hz, or Wav2Vec2's few huge dimensions), a class signal on others."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scale = rng.choice([0.1, 1.0, 30.0, 1000.0], size=dim)
    offset = rng.choice([0.0, 5.0, -300.0, 2000.0], size=dim)
    x = offset + scale * rng.normal(size=(n, dim))
    x[:, :3] += scale[:3] * 1.5 * (labels == 0)[:, None]
    return x.astype(np.float32), labels


@pytest.mark.parametrize("dim", [15, 768])
def test_a_row_scores_the_same_alone_and_in_batches_of_any_size(dim):
    """With float32 features the old scoring arithmetic ran in float32, and the matrix product's
    summation order depends on how many rows go through at once (one row vs blocks of rows): the
    same clip scored differently alone and in a folder (on AMD Zen 4: 2.917478 vs 2.917477)."""
    x, labels = _stored_features(300, dim, seed=dim)
    model, _ = logreg.fit(x, labels, 1.0)
    alone = np.array([logreg.bonafide_scores(model, x[i : i + 1])[0] for i in range(len(x))])
    assert metrics.roc_auc(labels, alone) > 0.7  # a real model, not a constant
    allowed = SCORE_RTOL * np.maximum(1.0, np.abs(alone))
    for size in BATCH_SIZES + (len(x),):
        for start in (0, 1):  # and the same rows at other positions of a batch
            batched = np.full(len(x), np.nan)
            for first in range(start, len(x), size):
                batched[first : first + size] = logreg.bonafide_scores(model, x[first : first + size])
            batched[:start] = alone[:start]
            worst = np.max(np.abs(batched - alone) / allowed)
            assert worst <= 1.0, f"batches of {size} (from row {start}): {worst:.3g} x the tolerance"
    # fitting on the stored float32 features or on float64 copies of them is the same fit
    model64, _ = logreg.fit(x.astype(np.float64), labels, 1.0)
    np.testing.assert_array_equal(model64[-1].coef_, model[-1].coef_)


# ------------------------------------------------------------ the choice itself, hand-worked

# Eight trials of each class (labels 0 = bona fide first). X ranks two bona fide trials among the
# spoofs (AUC 58/64, EER 2/8: at t = 6, FRR = FAR = 2/8); Y puts one spoof above every bona fide
# trial (AUC 56/64, EER 1/8: at t = 9, FRR = FAR = 1/8). AUC prefers X, EER prefers Y.
PICK_LABELS = np.r_[np.zeros(8, int), np.ones(8, int)]
X_SCORES = np.r_[4.5, 4.6, np.arange(10.0, 16.0), np.arange(8.0)]
Y_SCORES = np.r_[np.arange(8.0, 16.0), np.arange(7.0), 20.0]


@pytest.mark.parametrize("select_by,view", [("auc", "x"), ("eer", "y")])
def test_pick_takes_the_best_view_by_the_chosen_metric(select_by, view):
    grid = {("x", 1.0): X_SCORES, ("y", 1.0): Y_SCORES}
    converged = {("x", 1.0): True, ("y", 1.0): False}
    selection = logreg._pick(PICK_LABELS, grid, converged, ["x", "y"], (1.0,), select_by)
    assert (selection.key, selection.C, selection.best_C, selection.select_by) == (
        view,
        1.0,
        {"x": 1.0, "y": 1.0},
        select_by,
    )
    assert selection.table == [
        {"view": "x", "C": 1.0, "auc": 58 / 64, "eer": 0.25, "converged": True},
        {"view": "y", "C": 1.0, "auc": 56 / 64, "eer": 0.125, "converged": False},
    ]
    assert selection.row("y", 1.0)["eer"] == 0.125


@pytest.mark.parametrize("select_by,C,other", [("auc", 1.0, 0.1), ("eer", 0.1, 1.0)])
def test_pick_takes_the_best_C_of_a_view_by_the_chosen_metric(select_by, C, other):
    grid = {("v", 0.1): Y_SCORES, ("v", 1.0): X_SCORES, ("w", 0.1): X_SCORES, ("w", 1.0): Y_SCORES}
    converged = dict.fromkeys(grid, True)
    selection = logreg._pick(PICK_LABELS, grid, converged, ["v", "w"], (0.1, 1.0), select_by)
    assert selection.best_C == {"v": C, "w": other}
    assert (selection.key, selection.C) == ("v", C)  # v and w tie at their best: the earlier view


def test_pick_breaks_ties_towards_the_smaller_C_and_the_earlier_view():
    grid = {(key, C): X_SCORES for key in ("b", "a") for C in (0.01, 0.1, 1.0)}
    converged = dict.fromkeys(grid, True)
    for select_by in ("auc", "eer"):
        selection = logreg._pick(PICK_LABELS, grid, converged, ["b", "a"], (0.01, 0.1, 1.0), select_by)
        assert (selection.key, selection.C, selection.best_C) == ("b", 0.01, {"b": 0.01, "a": 0.01})


def test_refusals_of_a_grid_a_criterion_and_one_class_name_the_problem():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"^select_by must be one of \('auc', 'eer'\), got 'roc'$"):
        logreg.select_on_dev({"v": x}, y, {"v": x}, y, (1.0,), select_by="roc")
    for grid, shown in (((), r"\(\)"), ((1, 0), r"\(0\.0, 1\.0\)"), ((-1.0,), r"\(-1\.0,\)")):
        with pytest.raises(ValueError, match=rf"^the C grid must hold positive numbers, got {shown}$"):
            logreg.select_by_cv({"v": x}, y, ["a", "b", "c", "d"], 2, grid)
    for labels, held in (([0, 0], "only bona fide"), ([1, 1], "only spoof"), ([], "only no")):
        with pytest.raises(
            logreg.ProtocolError,
            match=rf"^the dev split holds {held} trials; a classifier needs "
            r"both classes there: choose other splits or more folds' "
            r"data$",
        ):
            logreg.check_both_classes(labels, "the dev split")
    logreg.check_both_classes([1, 0], "the dev split")  # both: no error


def test_the_grid_is_tried_in_ascending_order_as_floats():
    labels, _ = balanced_design(6, 6, seed=4)
    x = informative(labels, 3, [0])
    selection = logreg.select_on_dev({"v": x}, labels, {"v": x}, labels, (10, 0.1, 1))
    assert [row["C"] for row in selection.table] == [0.1, 1.0, 10.0]
    assert all(type(row["C"]) is float for row in selection.table)


def test_cv_refusals_name_the_problem():
    with pytest.raises(logreg.ProtocolError, match=r"^--folds must be at least 2, got 1$"):
        logreg.cv_groups(["a", "b", "c"], 1)
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^every clip's speaker is unknown \('-'\), so speaker-grouped "
        r"cross-validation cannot keep a speaker out",
    ):
        logreg.cv_groups(["-"], 2)
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^only 1 distinct speaker: grouped cross-validation needs at "
        r"least 2; use --train/--dev/--test splits instead$",
    ):
        logreg.cv_groups(["a", "a", "a"], 2)
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^only 3 distinct speakers for --folds 4: each fold must hold "
        r"out whole speakers\. Use --folds 3 or fewer$",
    ):
        logreg.cv_groups(["a", "b", "c", "a"], 4)
    assert list(logreg.cv_groups(["a", "b", "a"], 2)) == ["a", "b", "a"]  # as many speakers as folds is enough
    labels, speakers = balanced_design(3, 3)
    x = informative(labels, 3, [0])
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^too few speakers in a fitting part to choose C by inner "
        r"cross-validation; use fewer --folds or a corpus with more "
        r"speakers$",
    ):
        logreg.select_by_cv({"v": x}, labels, ["s"] * len(labels), 3, (1.0,))


def test_cv_pools_out_of_fold_scores_of_models_fitted_on_the_other_speakers(monkeypatch):
    """The table's AUC of each C is that of out-of-fold scores, each fold's model fitted (here by
    scikit-learn directly) on the other folds' speakers; a fit that fails to converge in any fold
    marks its C as not converged."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels, speakers = balanced_design(9, 6, seed=5)
    x = informative(labels, 3, [0], 0.7, seed=5)
    folds = logreg.grouped_folds(labels, speakers, 3, seed=2)
    real_fit, calls = logreg.fit, []

    def fit_failing_once(X, y, C, seed=0):
        calls.append(C)
        model, converged = real_fit(X, y, C, seed)
        return model, converged and not (C == 1.0 and calls.count(1.0) == 1)

    monkeypatch.setattr(logreg, "fit", fit_failing_once)
    selection = logreg.select_by_cv({"v": x}, labels, speakers, 3, (0.01, 1.0), seed=2)
    for C in (0.01, 1.0):
        pooled = np.full(len(labels), np.nan)
        for fit_idx, score_idx in folds:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(
                x[fit_idx], labels[fit_idx]
            )
            pooled[score_idx] = -model.decision_function(x[score_idx])
        row = selection.row("v", C)
        assert row["auc"] == pytest.approx(metrics.roc_auc(labels, pooled), abs=1e-9)
        assert row["converged"] is (C == 0.01)
    assert selection.select_by == "auc"
    assert logreg.select_by_cv({"v": x}, labels, speakers, 3, (0.01,), seed=2, select_by="eer").select_by == "eer"


def test_folds_are_seeded():
    labels, speakers = balanced_design(10, 6, seed=6)

    def as_lists(folds):
        return [(a.tolist(), b.tolist()) for a, b in folds]

    assert as_lists(logreg.grouped_folds(labels, speakers, 3)) == as_lists(logreg.grouped_folds(labels, speakers, 3, 0))
    assert as_lists(logreg.grouped_folds(labels, speakers, 3, 5)) == as_lists(
        logreg.grouped_folds(labels, speakers, 3, 5)
    )
    assert any(
        as_lists(logreg.grouped_folds(labels, speakers, 3, s)) != as_lists(logreg.grouped_folds(labels, speakers, 3, 0))
        for s in (1, 2, 3)
    )


def test_more_refusals_name_the_problem():
    with pytest.raises(logreg.ProtocolError, match=r"^the fitting part of fold \d holds only (bona fide|spoof) trials"):
        logreg.grouped_folds([0, 0, 1, 1], ["a", "a", "b", "b"], 2)
    x = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(logreg.ProtocolError, match=r"^the dev split holds only spoof trials"):
        logreg.select_on_dev({"v": x}, [0, 1, 0, 1, 0, 1], {"v": x}, [1] * 6, (1.0,))
    assert logreg.select_on_dev({"v": x}, [0, 1, 0, 1, 0, 1], {"v": x}, [0, 1, 0, 1, 0, 1], (1.0,)).select_by == "auc"
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^only 2 distinct speakers for --folds 3: each fold must hold "
        r"out whole speakers\. Use --folds 2 or fewer$",
    ):
        logreg.cv_groups(["a", "b", "a"], 3)
    with pytest.raises(
        logreg.ProtocolError,
        match=r"^every clip's speaker is unknown \('-'\), so speaker-grouped "
        r"cross-validation cannot keep a speaker out of both the fitting "
        r"and the scoring part\. Give the corpus a speaker column \(a CSV "
        r"corpus takes path,label,speaker\) and rerun "
        r"preprocess_datasets\.py, or evaluate with --train/--dev/--test "
        r"splits instead of --cv$",
    ):
        logreg.cv_groups(["-", "-"], 2)
    assert logreg.cv_groups([1, 2, 1], 2).tolist() == ["1", "2", "1"]  # speaker ids come back as text


def test_sweeps_report_progress_under_their_label(capsys):
    labels, speakers = balanced_design(6, 6, seed=7)
    x = informative(labels, 3, [0])
    logreg.select_on_dev({"v": x}, labels, {"v": x}, labels, (1.0,), progress_label="dev sweep")
    logreg.select_by_cv({"v": x}, labels, speakers, 2, (1.0,), progress_label="cv sweep")
    printed = capsys.readouterr()
    assert "dev sweep" in printed.err + printed.out and "cv sweep" in printed.err + printed.out


def test_cv_selection_defaults_to_seed_0_for_its_folds():
    labels, speakers = balanced_design(10, 6, seed=8)
    x = informative(labels, 3, [0], 0.5, seed=8)
    default = logreg.select_by_cv({"v": x}, labels, speakers, 3, (0.01, 1.0))
    assert default.table == logreg.select_by_cv({"v": x}, labels, speakers, 3, (0.01, 1.0), seed=0).table


# ------------------------------------------------------------ one view at a time


class _ViewsOnDisk(Mapping):
    """Views made afresh each time they are asked for, as formats/embedding_views.py reads them
    from disk; records every request and keeps a weak reference to what it handed out."""

    def __init__(self, views, log, name):
        self.views, self.log, self.name = views, log, name

    def __getitem__(self, key):
        gc.collect()
        alive = {(name, held) for name, held, ref in self.log if ref() is not None and held != key}
        assert not alive, f"asked for {self.name} {key} while {sorted(alive)} are still held"
        values = np.array(self.views[key])
        self.log.append((self.name, key, weakref.ref(values)))
        return values

    def __iter__(self):
        return iter(self.views)

    def __len__(self):
        return len(self.views)


def _layers(labels, seed):
    return {
        f"layer_{k}": informative(labels, 4, [0], 0.3 + 0.4 * k, seed=seed + k).astype(np.float16) for k in range(3)
    }


@pytest.mark.slow
def test_the_dev_selection_reads_each_view_once_and_holds_one_view_at_a_time():
    labels, _ = balanced_design(10, 8, seed=1)
    dev_labels, _ = balanced_design(10, 8, seed=2)
    train, dev, log = _layers(labels, 10), _layers(dev_labels, 20), []
    selection = logreg.select_on_dev(
        _ViewsOnDisk(train, log, "train"), labels, _ViewsOnDisk(dev, log, "dev"), dev_labels, (0.01, 1.0)
    )
    assert [(name, key) for name, key, _ in log] == [
        (name, f"layer_{k}") for k in range(3) for name in ("train", "dev")
    ]
    assert selection.table == logreg.select_on_dev(train, labels, dev, dev_labels, (0.01, 1.0)).table


@pytest.mark.slow
def test_cross_validation_reads_each_view_once_and_holds_one_view_at_a_time():
    labels, speakers = balanced_design(9, 8, seed=3)
    views, log = _layers(labels, 30), []
    result = logreg.cross_validate(_ViewsOnDisk(views, log, "cv"), labels, speakers, 3, (0.01, 1.0), inner_folds=2)
    assert [key for _, key, _ in log] == list(views)
    direct = logreg.cross_validate(views, labels, speakers, 3, (0.01, 1.0), inner_folds=2)
    np.testing.assert_array_equal(result.scores, direct.scores)
    assert result.choices == direct.choices
    log.clear()
    logreg.select_by_cv(_ViewsOnDisk(views, log, "cv"), labels, speakers, 3, (0.01, 1.0))
    assert [key for _, key, _ in log] == list(views)


def test_the_selection_keeps_the_model_of_each_view_at_its_best_C_as_sklearn_fits_it():
    """The kept models are what a fresh scikit-learn fit at that view's best C gives, on float64
    copies of the stored float16 values, coefficient for coefficient; their dev scores are
    those models' scores (the run scores dev and test with them instead of refitting)."""
    labels, _ = balanced_design(10, 8, seed=4)
    dev_labels, _ = balanced_design(10, 8, seed=5)
    train, dev = _layers(labels, 40), _layers(dev_labels, 50)
    selection = logreg.select_on_dev(train, labels, dev, dev_labels, (0.001, 0.1, 10.0))
    assert set(selection.models) == set(selection.held_out_scores) == set(train)
    for key, model in selection.models.items():
        direct = Pipeline(
            [
                ("scale", StandardScaler()),
                ("logreg", LogisticRegression(C=selection.best_C[key], max_iter=5000, random_state=0)),
            ]
        )
        direct.fit(train[key].astype(np.float64), labels)
        np.testing.assert_array_equal(model[-1].coef_, direct[-1].coef_)
        np.testing.assert_array_equal(model[-1].intercept_, direct[-1].intercept_)
        np.testing.assert_array_equal(model[0].scale_, direct[0].scale_)
        np.testing.assert_array_equal(
            selection.held_out_scores[key], -direct.decision_function(dev[key].astype(np.float64))
        )
        assert selection.row(key, selection.best_C[key])["auc"] == metrics.roc_auc(
            dev_labels, selection.held_out_scores[key]
        )
