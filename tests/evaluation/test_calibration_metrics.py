"""ASVspoof 5 metrics (minDCF, actDCF) and Cllr / minCllr, checked against values worked out by
hand and against naive computations written here (threshold loops, a plain PAV), never the
module's own helpers."""

import math

import numpy as np
import pytest

from deepfake_pipeline.evaluation.calibration import (
    act_dcf,
    bayes_threshold,
    cllr,
    min_cllr,
    min_dcf,
    pav_llrs,
)

# ASVspoof 5: Pspoof 0.05, Cmiss 1, Cfa 10. Normaliser min(1 * 0.95, 10 * 0.05) = 0.5, so
# DCF = (0.95 Pmiss + 0.5 Pfa) / 0.5 = 1.9 Pmiss + Pfa.


def trials(bona, spoof):
    return np.r_[np.zeros(len(bona), int), np.ones(len(spoof), int)], np.r_[bona, spoof].astype(float)


def naive_min_dcf(labels, scores, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """Every threshold t (each distinct score, and above all), accepting score >= t."""
    bona = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    spoof = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    best = math.inf
    for t in sorted(set(scores.tolist())) + [math.inf]:
        p_miss = sum(s < t for s in bona) / len(bona)
        p_fa = sum(s >= t for s in spoof) / len(spoof)
        best = min(best, c_miss * (1 - p_spoof) * p_miss + c_fa * p_spoof * p_fa)
    return best / min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def naive_cllr(labels, llrs):
    bona = [math.log2(1 + math.exp(-s)) for s, y in zip(llrs, labels, strict=True) if y == 0]
    spoof = [math.log2(1 + math.exp(s)) for s, y in zip(llrs, labels, strict=True) if y == 1]
    return (sum(bona) / len(bona) + sum(spoof) / len(spoof)) / 2


def naive_pav(values, weights):
    """Pool adjacent violators: a list of blocks [mean, weight, size], merged while decreasing."""
    blocks = []
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [b[0] for b in blocks for _ in range(b[2])]


def naive_min_cllr(labels, scores):
    """PAV over the distinct scores (ties pooled first), posterior -> LLR minus prior log odds,
    then the Cllr sum trial by trial with infinite LLRs handled by hand."""
    distinct = sorted(set(scores.tolist()))
    share = [np.mean(labels[scores == d] == 0) for d in distinct]
    counts = [int(np.sum(scores == d)) for d in distinct]
    posterior = dict(zip(distinct, naive_pav(share, counts), strict=True))
    n_bona, n_spoof = int(np.sum(labels == 0)), int(np.sum(labels == 1))
    total = {0: 0.0, 1: 0.0}
    for s, y in zip(scores.tolist(), labels.tolist(), strict=True):
        p = posterior[s]
        # log2(1 + e^-llr) for bona fide with e^-llr = (1-p)/p * Nb/Ns; log2(1 + e^llr) for spoof.
        odds_against = (1 - p) / p * n_bona / n_spoof if p > 0 else math.inf
        total[y] += math.log2(1 + odds_against) if y == 0 else math.log2(1 + 1 / odds_against)
    return (total[0] / n_bona + total[1] / n_spoof) / 2


# ----------------------------------------------------------------------------- minDCF, actDCF


def test_min_dcf_hand_worked():
    # bona fide 0.5, 3, 4, 5; spoof 0, 1, 2, 2.5. Sorted: 0s .5b 1s 2s 2.5s 3b 4b 5b; rejecting
    # k = 0..8: Pmiss 0,0,1/4,1/4,1/4,1/4,1/2,3/4,1; Pfa 1,3/4,3/4,1/2,1/4,0,0,0,0.
    # DCF = 1.9 Pmiss + Pfa: 1, .75, 1.225, .975, .725, .475, .95, 1.425, 1.9.
    # Minimum 1.9 / 4 = 0.475 at k=5, whose threshold (highest rejected score) is 2.5.
    labels, scores = trials([0.5, 3, 4, 5], [0, 1, 2, 2.5])
    assert min_dcf(labels, scores) == (pytest.approx(0.475, rel=1e-12), 2.5)


def test_act_dcf_hand_worked():
    # Bayes threshold log(0.05 * 10 / (0.95 * 1)) = log(0.5 / 0.95) = -0.64185.
    # bona fide LLRs 2, -1, 0.5: only -1 is below -> Pmiss 1/3.
    # spoof LLRs -3, -0.5, 1: -0.5 and 1 are at or above -> Pfa 2/3.
    # DCF = (0.95 / 3 + 0.5 * 2 / 3) / 0.5 = (0.316667 + 0.333333) / 0.5 = 1.3.
    labels, scores = trials([2, -1, 0.5], [-3, -0.5, 1])
    result = act_dcf(labels, scores)
    assert result.dcf == pytest.approx(1.3, rel=1e-12)
    assert result.threshold == pytest.approx(math.log(0.5 / 0.95), rel=1e-12)
    assert bayes_threshold() == pytest.approx(-0.6418538861723947, rel=1e-12)


def test_act_dcf_accepts_a_score_equal_to_the_threshold():
    # The package computes the threshold as -log(beta), beta = 1 * 0.95 / (10 * 0.05) = 1.9;
    # log(0.5 / 0.95) is the same number but one ulp lower in floating point.
    t = -math.log(1.9)
    labels, scores = trials([t, 5.0], [t, -5.0])
    # The bona fide at t is accepted (no miss); the spoof at t is accepted too: Pfa 1/2,
    # DCF = 0.5 * 0.5 / 0.5 = 0.5.
    assert act_dcf(labels, scores).dcf == pytest.approx(0.5, rel=1e-9)


def test_act_dcf_sees_miscalibration_that_min_dcf_ignores():
    rng = np.random.default_rng(0)
    labels, scores = trials(rng.normal(2, 1, 300), rng.normal(-2, 1, 300))
    shifted = scores + 5.0  # same ranking, every spoof now looks bona fide to the Bayes threshold
    assert min_dcf(labels, shifted).dcf == pytest.approx(min_dcf(labels, scores).dcf, abs=1e-12)
    assert act_dcf(labels, shifted).dcf > act_dcf(labels, scores).dcf + 0.5
    # actDCF can never beat minDCF: the Bayes threshold is one of the thresholds minDCF tries.
    for s in (scores, shifted):
        assert act_dcf(labels, s).dcf >= min_dcf(labels, s).dcf - 1e-12


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_min_dcf_agrees_with_brute_force_over_every_threshold(seed, decimals):
    rng = np.random.default_rng(seed)
    bona, spoof = rng.normal(1.0, 1, 30 + seed), rng.normal(-0.5, 1.3, 70 - seed)
    if decimals is not None:  # ties between the classes
        bona, spoof = np.round(bona, decimals), np.round(spoof, decimals)
    labels, scores = trials(bona, spoof)
    expected = naive_min_dcf(labels, scores)
    result = min_dcf(labels, scores)
    assert result.dcf == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # Rejecting score <= returned threshold reaches that cost.
    p_miss = np.mean(bona <= result.threshold)
    p_fa = np.mean(spoof > result.threshold)
    assert 1.9 * p_miss + p_fa == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # Other costs: Pspoof 0.2, Cmiss 2, Cfa 1 -> normaliser min(1.6, 0.2).
    assert min_dcf(labels, scores, 0.2, 2.0, 1.0).dcf == pytest.approx(
        naive_min_dcf(labels, scores, 0.2, 2.0, 1.0), rel=1e-12, abs=1e-15
    )


# ----------------------------------------------------------------------------- Cllr


def test_cllr_of_uninformative_llrs_is_one_bit():
    # log2(1 + e^0) = log2(2) = 1 for every trial.
    labels, scores = trials(np.zeros(7), np.zeros(3))
    assert cllr(labels, scores) == 1.0


def test_cllr_hand_worked():
    # bona fide LLRs 0 and log 3: log2(1 + 1) = 1 and log2(1 + 1/3) = log2(4/3) = 0.415037;
    # mean 0.707519. spoof LLR log 3: log2(1 + 3) = 2. Cllr = (0.707519 + 2) / 2 = 1.353759.
    labels, scores = trials([0.0, math.log(3)], [math.log(3)])
    expected = ((1 + math.log2(4 / 3)) / 2 + 2) / 2
    assert cllr(labels, scores) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.353759, abs=1e-6)


def test_cllr_of_confident_correct_llrs_is_near_zero_and_wrong_ones_large():
    labels, scores = trials(np.full(5, 50.0), np.full(5, -50.0))
    assert cllr(labels, scores) < 1e-20  # log2(1 + e^-50) = 2.8e-22
    assert cllr(labels, -scores) == pytest.approx(50 / math.log(2), rel=1e-12)  # ~ 72.1 bits
    # Far beyond exp's range: no overflow, exactly the linear asymptote.
    assert cllr(labels, -scores * 100) == pytest.approx(5000 / math.log(2), rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_cllr_agrees_with_a_trial_by_trial_sum(seed):
    rng = np.random.default_rng(seed)
    labels, scores = trials(rng.normal(1.5, 2, 40), rng.normal(-1, 2, 60))
    assert cllr(labels, scores) == pytest.approx(naive_cllr(labels, scores), rel=1e-12)


# ----------------------------------------------------------------------------- minCllr


def test_min_cllr_hand_worked():
    # Scores: bona fide 1, 3, 4; spoof 0, 2. Sorted 0s 1b 2s 3b 4b, bona fide indicator
    # 0 1 0 1 1; PAV pools 1b,2s into 1/2: posteriors 0, .5, .5, 1, 1.
    # LLR = logit(p) - log(3/2): -inf, -0.405465, -0.405465, +inf, +inf.
    # bona fide: log2(1 + e^0.405465) = log2(2.5) = 1.321928 for score 1, 0 for 3 and 4 -> mean 0.440643.
    # spoof: 0 for score 0, log2(1 + e^-0.405465) = log2(5/3) = 0.736966 for score 2 -> mean 0.368483.
    # minCllr = (0.440643 + 0.368483) / 2 = 0.404563.
    labels, scores = trials([1, 3, 4], [0, 2])
    expected = (math.log2(2.5) / 3 + math.log2(5 / 3) / 2) / 2
    assert min_cllr(labels, scores) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.404563, abs=1e-6)
    np.testing.assert_allclose(
        pav_llrs(labels, scores), [math.log(2 / 3), math.inf, math.inf, -math.inf, math.log(2 / 3)]
    )


def test_min_cllr_extremes():
    # Balanced, interleaved: bona fide 1, 3; spoof 0, 2. PAV 0, .5, .5, 1 with prior odds 1:
    # one bona fide and one spoof cost 1 bit each, the others 0 -> (1/2 + 1/2) / 2 = 0.5.
    assert min_cllr(*trials([1, 3], [0, 2])) == pytest.approx(0.5, rel=1e-12)
    # Perfect separation: every block pure, minCllr 0 whatever the margin.
    assert min_cllr(*trials([0.001, 0.002], [0.0, -7.0])) == 0.0
    # One shared score: one block at the prior, LLR 0, 1 bit.
    assert min_cllr(*trials([2.0, 2.0, 2.0], [2.0])) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [None, 1])
def test_min_cllr_agrees_with_a_plain_pav_and_bounds_cllr(seed, decimals):
    rng = np.random.default_rng(seed)
    bona, spoof = rng.normal(1.0, 1.5, 35 + seed), rng.normal(-0.5, 1.0, 55)
    if decimals is not None:
        bona, spoof = np.round(bona, decimals), np.round(spoof, decimals)
    labels, scores = trials(bona, spoof)
    value = min_cllr(labels, scores)
    assert value == pytest.approx(naive_min_cllr(labels, scores), rel=1e-10, abs=1e-12)
    assert 0 <= value <= 1 + 1e-12
    assert value <= cllr(labels, scores) + 1e-12
    # No affine recalibration a s + b (a > 0) beats the PAV.
    for a in (0.25, 0.5, 1.0, 2.0, 4.0):
        for b in np.linspace(-3, 3, 13):
            assert value <= naive_cllr(labels, a * scores + b) + 1e-12
    # Only the order of the scores matters.
    assert min_cllr(labels, np.exp(scores / 3)) == pytest.approx(value, rel=1e-12)
