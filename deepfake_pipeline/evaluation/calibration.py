"""ASVspoof 5 metrics of a CM on its own: minDCF, actDCF, Cllr and minCllr.

minDCF and actDCF follow the organisers' ``calculate_modules.py`` (ASVspoof 5 evaluation
package) to the digit: the normalised detection cost

    DCF(t) = (Cmiss (1 - Pspoof) Pmiss(t) + Cfa Pspoof Pfa(t)) / min(Cmiss (1 - Pspoof), Cfa Pspoof)

with Pspoof = 0.05, Cmiss = 1, Cfa = 10, so that 1.0 is the cost of the better trivial system
(accept or reject everything). minDCF is its minimum over the official DET sweep
(:func:`deepfake_pipeline.evaluation.tdcf.official_det_curve`, which splits bona fide / spoof
ties, bona fide first). actDCF is its value at the Bayes threshold for scores that are natural-log
likelihood ratios, ``log(Pspoof Cfa / ((1 - Pspoof) Cmiss))`` = log(0.5 / 0.95) = -0.642: a trial
is accepted as bona fide when its LLR is at least this, as in the package (``-log(beta)``).

Cllr (Brummer and du Preez, 2006) measures scores as LLRs, in bits:

    Cllr = (mean over bona fide of log2(1 + e^-s) + mean over spoof of log2(1 + e^s)) / 2

It is 1 bit for the uninformative LLR 0 and tends to 0 for confident, correct LLRs. minCllr is
the Cllr after the best monotone recalibration: the pool-adjacent-violators (PAV) fit of the
bona fide posterior (tied scores pooled), turned into LLRs by removing the empirical prior log
odds log(N_bonafide / N_spoof). Cllr - minCllr is the calibration loss.

Labels and scores follow :mod:`deepfake_pipeline.evaluation.metrics`: 0 = bona fide, 1 = spoof;
higher = more bona fide.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from sklearn.isotonic import isotonic_regression

from deepfake_pipeline.evaluation.metrics import check_labels, check_scores
from deepfake_pipeline.evaluation.tdcf import P_SPOOF, official_det_curve
from deepfake_pipeline.formats.labels import BONAFIDE

C_MISS = 1.0  # ASVspoof 5: cost of rejecting a bona fide trial
C_FA = 10.0  # ASVspoof 5: cost of accepting a spoof trial


class DCF(NamedTuple):
    """Normalised detection cost and the threshold it is reached at: for minDCF the organisers'
    threshold (the highest rejected score), for actDCF the Bayes threshold (accept ``>=``)."""

    dcf: float
    threshold: float


def _split(labels, scores):
    labels = check_labels(labels)
    scores = check_scores(scores, labels.size)
    is_bona = labels == BONAFIDE
    return scores[is_bona], scores[~is_bona]


def _check_costs(p_spoof: float, c_miss: float, c_fa: float) -> None:
    if not 0 < p_spoof < 1:
        raise ValueError(f"p_spoof must lie strictly between 0 and 1, got {p_spoof}")
    if not (c_miss > 0 and c_fa > 0):
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")


def bayes_threshold(p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> float:
    """The LLR above which accepting as bona fide costs less than rejecting:
    ``log(p_spoof c_fa / ((1 - p_spoof) c_miss))``, computed as the package does."""
    _check_costs(p_spoof, c_miss, c_fa)
    beta = c_miss * (1 - p_spoof) / (c_fa * p_spoof)
    return float(-np.log(beta))


def min_dcf(labels, scores, p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> DCF:
    """Minimum normalised DCF over the official DET sweep (``compute_mindcf``); the first
    minimum wins, as there."""
    _check_costs(p_spoof, c_miss, c_fa)
    frr, far, thresholds = official_det_curve(*_split(labels, scores))
    p_target = 1 - p_spoof
    cost = c_miss * frr * p_target + c_fa * far * (1 - p_target)
    k = int(np.argmin(cost))
    normaliser = min(c_miss * p_target, c_fa * (1 - p_target))
    return DCF(dcf=float(cost[k] / normaliser), threshold=float(thresholds[k]))


def act_dcf(labels, scores, p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> DCF:
    """Normalised DCF of the decisions ``score >= bayes_threshold(...)`` (``compute_actDCF``).
    Meaningful only for scores calibrated as natural-log likelihood ratios."""
    bona, spoof = _split(labels, scores)
    threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    rate_miss = int(np.sum(bona < threshold)) / bona.size
    rate_fa = int(np.sum(spoof >= threshold)) / spoof.size
    cost = c_miss * (1 - p_spoof) * rate_miss + c_fa * p_spoof * rate_fa
    return DCF(dcf=float(cost / min(c_fa * p_spoof, c_miss * (1 - p_spoof))), threshold=threshold)


def _cllr_bits(bona_llr: np.ndarray, spoof_llr: np.ndarray) -> float:
    # log(1 + e^-x) as logaddexp(0, -x): exact for x = +-inf and no overflow for large |x|.
    bona_cost = np.mean(np.logaddexp(0.0, -bona_llr))
    spoof_cost = np.mean(np.logaddexp(0.0, spoof_llr))
    return float(0.5 * (bona_cost + spoof_cost) / math.log(2))


def cllr(labels, scores) -> float:
    """Log-likelihood-ratio cost in bits, reading ``scores`` as natural-log LLRs of bona fide
    vs spoof (``calculate_CLLR``)."""
    bona, spoof = _split(labels, scores)
    return _cllr_bits(bona, spoof)


def pav_llrs(labels, scores) -> np.ndarray:
    """Optimally calibrated LLR of each trial: PAV posterior of bona fide over the scores
    (trials with equal scores share one value), minus the empirical prior log odds. Values are
    +-inf where a pooled block holds one class only."""
    labels = check_labels(labels)
    scores = check_scores(scores, labels.size)
    is_bona = labels == BONAFIDE
    distinct, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    bona_share = np.bincount(inverse, weights=is_bona, minlength=distinct.size) / counts
    posterior = isotonic_regression(
        bona_share, sample_weight=counts.astype(np.float64), y_min=0.0, y_max=1.0, increasing=True
    )[inverse]
    prior_log_odds = math.log(is_bona.sum() / (~is_bona).sum())
    with np.errstate(divide="ignore"):
        return np.log(posterior) - np.log1p(-posterior) - prior_log_odds


def min_cllr(labels, scores) -> float:
    """Cllr after the best monotone (PAV) recalibration, in bits; 0 <= minCllr <= Cllr and
    minCllr <= 1."""
    labels = check_labels(labels)
    llr = pav_llrs(labels, scores)
    is_bona = labels == BONAFIDE
    return _cllr_bits(llr[is_bona], llr[~is_bona])
