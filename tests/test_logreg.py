"""The baseline's model-level logic: score orientation, choice of C and view on dev only,
speaker-grouped folds, nested CV."""

import numpy as np
import pytest
from logreg_fixtures import balanced_design, informative, prefers_other_C_on_test

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
    test_auc = {C: metrics.roc_auc(y_test, logreg.bonafide_scores(logreg.fit(x_train, y_train, C)[0], x_test))
                for C in (C_SMALL, C_LARGE)}
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
    for (fit_idx, score_idx), inner_speakers in zip(result.folds, seen):
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

# The promise (baseline/logreg.py, README step 3 "One clip, one score"): a row's score is the
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
    alone = np.array([logreg.bonafide_scores(model, x[i:i + 1])[0] for i in range(len(x))])
    assert metrics.roc_auc(labels, alone) > 0.7     # a real model, not a constant
    allowed = SCORE_RTOL * np.maximum(1.0, np.abs(alone))
    for size in BATCH_SIZES + (len(x),):
        for start in (0, 1):                        # and the same rows at other positions of a batch
            batched = np.full(len(x), np.nan)
            for first in range(start, len(x), size):
                batched[first:first + size] = logreg.bonafide_scores(model, x[first:first + size])
            batched[:start] = alone[:start]
            worst = np.max(np.abs(batched - alone) / allowed)
            assert worst <= 1.0, f"batches of {size} (from row {start}): {worst:.3g} x the tolerance"
    # fitting on the stored float32 features or on float64 copies of them is the same fit
    model64, _ = logreg.fit(x.astype(np.float64), labels, 1.0)
    np.testing.assert_array_equal(model64[-1].coef_, model[-1].coef_)
