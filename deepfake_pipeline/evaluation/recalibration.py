"""Affine calibration of scores into log-likelihood ratios, fitted on dev, applied to test.

The usual prior-weighted logistic-regression calibration (BOSARIS, psrcal, WeDefense):
``llr = a * s + b`` with (a, b) minimising the prior-weighted cross-entropy on dev

    C(a, b) = pi * mean_bona log(1 + e^-(a s + b + logit pi))
              + (1 - pi) * mean_spoof log(1 + e^(a s + b + logit pi))

at the target prior ``pi`` of bona fide. It is fitted with scikit-learn's LogisticRegression,
unregularised (``C=inf``, what ``penalty=None`` was before scikit-learn 1.8), with sample weights
``pi / N_bona`` on bona fide trials and ``(1 - pi) / N_spoof`` on spoof ones, so that each class
carries the target prior's weight whatever the dev split's class balance; the fitted log odds
less ``logit pi`` are the LLRs.
The default target prior is the effective prior of the ASVspoof 5 cost model (Pspoof 0.05,
Cmiss 1, Cfa 10): the prior whose Bayes threshold actDCF applies.

An increasing affine map (a > 0) changes no ranking, so minDCF and minCllr are the same before
and after; actDCF and Cllr move towards them when the map removes a shift and scale.

Labels: 0 = bona fide, 1 = spoof; higher = more bona fide (evaluation/metrics.py)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from deepfake_pipeline.evaluation import calibration
from deepfake_pipeline.evaluation.metrics import check_labels, check_scores
from deepfake_pipeline.evaluation.significance import _percentile_interval, cluster_codes
from deepfake_pipeline.evaluation.tdcf import P_SPOOF
from deepfake_pipeline.formats.labels import BONAFIDE

METRICS = ("min_dcf", "act_dcf", "cllr", "min_cllr")


def effective_prior(
    p_spoof: float = P_SPOOF, c_miss: float = calibration.C_MISS, c_fa: float = calibration.C_FA
) -> float:
    """Bona fide prior whose Bayes threshold on LLRs is the cost model's: -logit of it is
    ``calibration.bayes_threshold``."""
    bona = (1 - p_spoof) * c_miss
    return bona / (bona + p_spoof * c_fa)


class Calibration(NamedTuple):
    a: float
    b: float
    target_prior: float
    n_trials: int

    def apply(self, scores) -> np.ndarray:
        return self.a * np.asarray(scores, dtype=np.float64) + self.b


def fit(labels, scores, target_prior: float | None = None) -> Calibration:
    """The affine map from `scores` to LLRs fitted on these (dev) trials."""
    labels = check_labels(labels)
    scores = check_scores(scores, labels.size)
    pi = effective_prior() if target_prior is None else float(target_prior)
    if not 0 < pi < 1:
        raise ValueError(f"target prior must lie strictly between 0 and 1, got {pi}")
    is_bona = labels == BONAFIDE
    n_bona, n_spoof = int(is_bona.sum()), int((~is_bona).sum())
    if n_bona == 0 or n_spoof == 0:
        raise ValueError("calibration needs bona fide and spoof trials")
    # Weights summing to the number of trials keep lbfgs's tolerances at their usual scale.
    weights = np.where(is_bona, pi / n_bona, (1 - pi) / n_spoof) * labels.size
    # C=inf is no regularisation (penalty=None, deprecated in scikit-learn 1.8).
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    model.fit(scores[:, None], is_bona.astype(int), sample_weight=weights)
    logit = math.log(pi / (1 - pi))
    return Calibration(
        a=float(model.coef_[0, 0]), b=float(model.intercept_[0] - logit), target_prior=pi, n_trials=int(labels.size)
    )


def metrics(labels, llrs) -> dict:
    return {
        "min_dcf": calibration.min_dcf(labels, llrs).dcf,
        "act_dcf": calibration.act_dcf(labels, llrs).dcf,
        "cllr": calibration.cllr(labels, llrs),
        "min_cllr": calibration.min_cllr(labels, llrs),
    }


def _bootstrap(labels, before, after, groups, n_boot: int, seed: int, alpha: float) -> dict:
    """Percentile intervals over speaker clusters (significance.cluster_codes: unknown speakers
    are single-trial clusters) of every metric before and after; resamples lacking a class are
    drawn again."""
    codes = cluster_codes(groups, labels.size)
    members = [np.flatnonzero(codes == c) for c in range(int(codes.max()) + 1)]
    rng = np.random.default_rng(seed)
    values: dict = {side: {m: [] for m in METRICS} for side in ("before", "after")}
    attempts = 0
    while len(values["after"]["cllr"]) < n_boot and attempts < 10 * n_boot:
        attempts += 1
        idx = np.concatenate([members[c] for c in rng.integers(0, len(members), len(members))])
        if np.unique(labels[idx]).size < 2:
            continue
        for side, scores in (("before", before), ("after", after)):
            for name, value in metrics(labels[idx], scores[idx]).items():
                values[side][name].append(value)
    return {
        side: {m: list(_percentile_interval(v, alpha)) if v else None for m, v in per.items()}
        for side, per in values.items()
    }


def calibrate_split(
    dev_labels,
    dev_scores,
    labels,
    scores,
    groups=None,
    prior_log_odds=None,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[dict, np.ndarray]:
    """Fit on dev, apply to a test split: (the record metrics.json keeps, the test LLRs).
    "before" reads the raw scores as LLRs the way step 3 does (less the training prior's log
    odds, when known)."""
    labels = check_labels(labels)
    scores = check_scores(scores, labels.size)
    cal = fit(dev_labels, dev_scores)
    before = scores - (prior_log_odds or 0.0)
    llrs = cal.apply(scores)
    record = {
        "fitted_on_trials": cal.n_trials,
        "a": cal.a,
        "b": cal.b,
        "target_prior": cal.target_prior,
        "before": metrics(labels, before),
        "after": metrics(labels, llrs),
        "ci": _bootstrap(labels, before, llrs, groups, n_boot, seed, alpha),
    }
    return record, llrs


def calibration_line(label: str, dev_split: str, record: dict, caveat: str = "", fitted_on: str | None = None) -> str:
    """`fitted_on` names the scores the map was fitted on when they are not a dev split's."""
    b, a = record["before"], record["after"]
    return (
        f"[eval_logreg] calibration test={label} (fitted on {fitted_on or f'dev {dev_split}'}, "
        f"{record['fitted_on_trials']} "
        f"trials): actDCF {b['act_dcf']:.4f} -> {a['act_dcf']:.4f}, Cllr {b['cllr']:.4f} -> {a['cllr']:.4f}, "
        f"minDCF {a['min_dcf']:.4f} minCllr {a['min_cllr']:.4f} (unchanged by an affine map){caveat}"
    )
