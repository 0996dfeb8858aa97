"""The fusion's fit (fusion/fit.py) against independent computations: scikit-learn's weighted
logistic regression written out here, and the prior-weighted cross-entropy minimised by scipy;
a system fused with a noisy copy of itself; dev trials a line separates are refused."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from deepfake_pipeline.fusion.fit import FusionError, fit, separable

# The bona fide prior whose Bayes threshold is the ASVspoof 5 cost model's (Pspoof 0.05, Cmiss 1,
# Cfa 10): 0.95 * 1 / (0.95 * 1 + 0.05 * 10).
TARGET_PRIOR = 0.95 / 1.45


def _systems(n_bona, n_spoof, seed, n_systems=3):
    """Scores of correlated systems, higher = more bona fide, on imbalanced classes, with
    different offsets and scales (as step-3 log odds of different features have)."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * n_bona + [1] * n_spoof)
    signal = np.where(labels == 0, 1.0, -1.0)
    shared = rng.normal(0, 1, labels.size)
    columns = [
        scale * (strength * signal + 0.5 * shared + rng.normal(0, 1, labels.size)) + offset
        for strength, scale, offset in [(1.0, 1.0, 0.0), (0.6, 40.0, -15.0), (0.3, 0.05, 2.0)][:n_systems]
    ]
    return labels, np.column_stack(columns)


def _sklearn_fusion(labels, matrix, prior):
    """The prior-weighted logistic regression, written out: bona fide trials weigh prior / N_bona,
    spoof ones (1 - prior) / N_spoof; no penalty; LLR = log odds - logit(prior)."""
    is_bona = labels == 0
    weights = np.where(is_bona, prior / is_bona.sum(), (1 - prior) / (~is_bona).sum())
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000)
    model.fit(matrix, is_bona.astype(int), sample_weight=weights * labels.size)
    return lambda x: model.decision_function(x) - math.log(prior / (1 - prior))


def test_fused_llrs_equal_an_independent_weighted_logistic_fit():
    labels, dev = _systems(150, 450, seed=1)
    _, test = _systems(200, 500, seed=2)
    model = fit(labels, dev, ["a", "b", "c"])
    expected = _sklearn_fusion(labels, dev, TARGET_PRIOR)(test)
    assert model.target_prior == pytest.approx(TARGET_PRIOR)
    assert model.converged
    assert np.allclose(model.apply(test), expected, rtol=1e-5, atol=1e-5)
    assert (model.n_trials, model.n_bonafide, model.n_spoof) == (600, 150, 450)


def test_fit_minimises_the_prior_weighted_cross_entropy():
    """C(w, b) = pi * mean_bona log(1 + e^-(llr + logit pi)) + (1 - pi) * mean_spoof log(1 + e^(llr + logit pi))
    minimised by BFGS from zero: the same weights and bias."""
    labels, dev = _systems(150, 600, seed=3, n_systems=2)
    logit = math.log(TARGET_PRIOR / (1 - TARGET_PRIOR))
    bona, spoof = dev[labels == 0], dev[labels == 1]

    def cost(params):
        w, b = params[:-1], params[-1]
        return TARGET_PRIOR * np.mean(np.logaddexp(0, -(bona @ w + b + logit))) + (1 - TARGET_PRIOR) * np.mean(
            np.logaddexp(0, spoof @ w + b + logit)
        )

    # scipy's own start and tolerances; the second column is scaled by 40 so BFGS gets a fair start
    scale = np.array([1.0, 40.0])
    best = minimize(lambda p: cost(np.append(p[:-1] / scale, p[-1])), np.zeros(3), method="BFGS", tol=1e-12)
    expected_w, expected_b = best.x[:-1] / scale, best.x[-1]
    model = fit(labels, dev, ["a", "b"])
    assert np.allclose(model.weights, expected_w, rtol=1e-4)
    assert model.bias == pytest.approx(expected_b, rel=1e-4, abs=1e-6)


def test_a_system_fused_with_a_noisy_copy_of_itself_keeps_the_clean_one():
    """s2 = s1 + noise that knows nothing of the labels: the best linear fusion puts (almost) all
    its weight on s1, and the fused scores are s1's own calibration (a one-system fit)."""
    rng = np.random.default_rng(4)
    labels, dev = _systems(2000, 2000, seed=5, n_systems=1)
    noisy = dev[:, 0] + rng.normal(0, 3, labels.size)
    model = fit(labels, np.column_stack([dev[:, 0], noisy]), ["clean", "noisy"])
    assert abs(model.weights[1]) < 0.05 * abs(model.weights[0])
    alone = _sklearn_fusion(labels, dev, TARGET_PRIOR)
    _, test = _systems(500, 500, seed=6, n_systems=1)
    test_noisy = test[:, 0] + rng.normal(0, 3, test.shape[0])
    fused = model.apply(np.column_stack([test[:, 0], test_noisy]))
    assert np.corrcoef(fused, alone(test))[0, 1] > 0.999


def test_fusing_a_copy_doubles_nothing():
    """Two identical columns: the weights split the one-system slope between them (their sum is
    the calibration slope), so the fused LLRs are the one-system ones."""
    labels, dev = _systems(400, 400, seed=7, n_systems=1)
    model = fit(labels, np.column_stack([dev[:, 0], dev[:, 0]]), ["a", "a_copy"])
    alone = _sklearn_fusion(labels, dev, TARGET_PRIOR)
    assert np.allclose(model.apply(np.column_stack([dev[:, 0], dev[:, 0]])), alone(dev), rtol=1e-5, atol=1e-5)


def test_separable_dev_trials_are_refused():
    labels = np.array([0] * 20 + [1] * 20)
    rng = np.random.default_rng(0)
    # classes apart along a + b, not along either alone
    a = rng.normal(0, 1, 40)
    b = np.where(labels == 0, 3.0, -3.0) - a + rng.normal(0, 0.1, 40)
    matrix = np.column_stack([a, b])
    assert separable(labels, matrix)
    with pytest.raises(FusionError, match="separate bona fide from spoof perfectly"):
        fit(labels, matrix, ["a", "b"])
    # one trial across the line makes them overlap: fitted, finite weights
    overlapping = matrix.copy()
    overlapping[0] = [0.0, -5.0]
    assert not separable(labels, overlapping)
    assert np.all(np.isfinite(fit(labels, overlapping, ["a", "b"]).weights))


def test_one_class_and_bad_shapes_are_refused():
    with pytest.raises(FusionError, match="bona fide and spoof"):
        fit(np.zeros(10, dtype=int), np.ones((10, 2)), ["a", "b"])
    with pytest.raises(FusionError, match="score matrix"):
        fit(np.array([0, 1]), np.ones((2, 3)), ["a", "b"])
