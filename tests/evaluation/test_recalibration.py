"""Issue 19: the affine calibration fitted on dev. Scores are LLRs of two unit-variance
Gaussians (means +-1: the true LLR of x is 2x) shifted and scaled; the fit must recover the map
back to the true LLRs, which a direct minimisation of the weighted cross-entropy confirms, and
make actDCF and Cllr fall to near their minima while minDCF and minCllr stay put."""

import math

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

from deepfake_pipeline.evaluation import recalibration
from deepfake_pipeline.evaluation.calibration import bayes_threshold


def _trials(n_bona, n_spoof, seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(1.0, 1.0, n_bona), rng.normal(-1.0, 1.0, n_spoof)])
    labels = np.array([0] * n_bona + [1] * n_spoof)
    return labels, x


def _miscalibrated(x):
    return 0.3 * (2 * x) + 4.0  # the true LLR 2x, scaled and shifted


def test_fit_matches_a_direct_minimisation_of_the_weighted_cross_entropy():
    labels, x = _trials(700, 1900, 0)
    s = _miscalibrated(x)
    pi = recalibration.effective_prior()
    assert math.isclose(-math.log(pi / (1 - pi)), bayes_threshold(), rel_tol=1e-12)
    bona, spoof = s[labels == 0], s[labels == 1]
    logit = math.log(pi / (1 - pi))

    def cost(p):
        a, b = p
        return pi * np.mean(np.logaddexp(0, -(a * bona + b + logit))) + (1 - pi) * np.mean(
            np.logaddexp(0, a * spoof + b + logit)
        )

    direct = minimize(
        cost, [1.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000}
    ).x
    cal = recalibration.fit(labels, s)
    assert np.allclose([cal.a, cal.b], direct, atol=1e-5)
    # and it undoes the miscalibration: a ~ 1/0.3, b ~ -4/0.3
    assert abs(cal.a - 1 / 0.3) < 0.3 and abs(cal.b + 4 / 0.3) < 1.5


def _act_dcf(labels, llr):
    """Independent: the ASVspoof 5 normalised cost at the Bayes threshold, written out."""
    t = math.log(0.05 * 10 / 0.95)
    p_miss = np.mean(llr[labels == 0] < t)
    p_fa = np.mean(llr[labels == 1] >= t)
    return (0.95 * p_miss + 0.5 * p_fa) / 0.5


def _cllr(labels, llr):
    return 0.5 * (np.mean(np.log2(1 + np.exp(-llr[labels == 0]))) + np.mean(np.log2(1 + np.exp(llr[labels == 1]))))


def _min_dcf(labels, scores):
    """Independent: brute force over every threshold between distinct scores."""
    best = 1.0
    for t in np.concatenate([np.unique(scores), [np.inf]]):
        p_miss = np.mean(scores[labels == 0] < t)
        p_fa = np.mean(scores[labels == 1] >= t)
        best = min(best, (0.95 * p_miss + 0.5 * p_fa) / 0.5)
    return best


def test_calibration_brings_actdcf_and_cllr_to_their_minima_and_leaves_the_minima_alone():
    dev_labels, dev_x = _trials(800, 2400, 1)
    labels, x = _trials(900, 2700, 2)
    speakers = np.array([f"spk{i % 60}" for i in range(labels.size)])
    record, llrs = recalibration.calibrate_split(
        dev_labels, _miscalibrated(dev_x), labels, _miscalibrated(x), speakers, n_boot=30
    )
    before, after = record["before"], record["after"]
    raw = _miscalibrated(x)
    assert math.isclose(before["act_dcf"], _act_dcf(labels, raw), rel_tol=1e-12)
    assert math.isclose(after["act_dcf"], _act_dcf(labels, llrs), rel_tol=1e-12)
    assert math.isclose(after["cllr"], _cllr(labels, llrs), rel_tol=1e-9)
    # minDCF: unchanged by the increasing affine map, and equal to a brute-force sweep
    assert math.isclose(before["min_dcf"], after["min_dcf"], rel_tol=1e-12)
    assert math.isclose(after["min_dcf"], _min_dcf(labels, llrs), rel_tol=1e-9)
    assert math.isclose(before["min_cllr"], after["min_cllr"], rel_tol=1e-9)
    # the true LLRs (2x) are the reference a perfect calibration reaches
    true_cllr = _cllr(labels, 2 * x)
    assert before["act_dcf"] > after["act_dcf"] + 0.2 and before["cllr"] > 2 * after["cllr"]
    assert after["cllr"] < true_cllr + 0.02 and after["cllr"] >= after["min_cllr"] - 1e-12
    assert after["act_dcf"] < after["min_dcf"] + 0.05
    # the population value of Cllr for LLR 2x with x ~ N(+-1, 1)
    grid = np.linspace(-10, 12, 200001)
    population = np.trapezoid(norm.pdf(grid, 1, 1) * np.log2(1 + np.exp(-2 * grid)), grid)
    assert abs(true_cllr - population) < 0.03
    for side in ("before", "after"):
        for lo, hi in record["ci"][side].values():
            assert lo <= hi
    assert record["ci"]["after"]["cllr"][0] <= after["cllr"] <= record["ci"]["after"]["cllr"][1]
