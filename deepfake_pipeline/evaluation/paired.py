"""Two systems scored on the same trials: DeLong's test of their AUCs, and paired
speaker-clustered bootstraps of the change in AUC, EER and min t-DCF. All three intervals come
from the same cluster resamples (same seed), so they describe the same resamples.

The EER interval is that of the interpolated EER difference; the point estimate printed beside
it is the difference of the official EERs, which can differ by up to half a step per system. No
resample is materialised: each system's trials are sorted once and weighted by their cluster's
multiplicity, AUC and EER by per-cluster tables where clusters are few (:mod:`.cluster_sweep`)
or significance's sweep over trial weights, min t-DCF by :mod:`.resampled_tdcf` against ASV rates
computed once per split; both give, bit for bit, the numbers of the materialised resamples
(tests/paired_reference.py keeps that way of computing them as the reference)."""

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from deepfake_pipeline.evaluation import resampled_tdcf, tdcf
from deepfake_pipeline.evaluation.cluster_sweep import ClusterSweep
from deepfake_pipeline.evaluation.metrics import SortedTrials, _checked, check_scores, roc_auc
from deepfake_pipeline.evaluation.significance import (
    BootstrapResult,
    _check_resampling,
    _codes_in_score_order,
    _percentile_interval,
    _resample_multiplicities,
    _resampled_auc_and_eer,
    cluster_codes,
)
from deepfake_pipeline.formats.labels import BONAFIDE


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated AUCs; ``diff = auc_b - auc_a``, two-sided ``p_value``."""

    auc_a: float
    auc_b: float
    diff: float
    z: float
    p_value: float


def paired_bootstrap_auc_diff(labels, scores_a, scores_b, groups, n_boot=1000, seed=0, alpha=0.05):
    """``(diff, lo, hi)``: ``diff = AUC_b - AUC_a`` on all trials, and its percentile interval
    from the same cluster resamples applied to both systems (see :func:`bootstrap_ci`).

    Returns a :class:`BootstrapResult` with ``n_boot``, ``n_clusters`` and ``n_redrawn``.
    """
    _check_resampling(n_boot, alpha)
    labels, scores_a = _checked(labels, scores_a)
    scores_b = check_scores(scores_b, labels.size, name="scores_b")
    resamples = paired_resamples(labels, scores_a, scores_b, groups, n_boot, seed)
    diff = roc_auc(labels, scores_b) - roc_auc(labels, scores_a)
    lo, hi = _percentile_interval(resamples.auc, alpha)
    return BootstrapResult((diff, lo, hi), n_boot, resamples.n_clusters, resamples.n_redrawn)


def delong_test(labels, scores_a, scores_b) -> DeLongResult:
    """DeLong's test that two systems scored on the same trials have equal AUC.

    Fast DeLong (Sun & Xu, IEEE SPL 2014): the structural components come from midranks
    (within each class and pooled), their covariances use ddof=1 as in DeLong et al. (1988),
    ``z = (auc_b - auc_a) / sqrt(var)`` and ``p = 2 * (1 - Phi(|z|))``. When the variance is 0
    (e.g. identical systems), z = 0 and p = 1 if the AUCs are equal, else z = +-inf and p = 0.
    Needs at least two trials of each class.
    """
    labels, scores_a = _checked(labels, scores_a)
    scores_b = check_scores(scores_b, labels.size, name="scores_b")
    is_bona = labels == BONAFIDE
    n_bona, n_spoof = int(is_bona.sum()), int((~is_bona).sum())
    if min(n_bona, n_spoof) < 2:
        raise ValueError("DeLong's test needs at least two bona fide and two spoof trials")
    systems = np.vstack([scores_a, scores_b])
    bona, spoof = systems[:, is_bona], systems[:, ~is_bona]
    rank_bona = rankdata(bona, axis=1)
    rank_spoof = rankdata(spoof, axis=1)
    rank_all = rankdata(np.hstack([bona, spoof]), axis=1)
    aucs = (rank_all[:, :n_bona].sum(axis=1) / n_bona - (n_bona + 1) / 2) / n_spoof
    # Per bona fide trial: share of spoof trials it beats; per spoof trial: share of bona fide
    # trials that beat it (ties count half in both).
    bona_components = (rank_all[:, :n_bona] - rank_bona) / n_spoof
    spoof_components = 1.0 - (rank_all[:, n_bona:] - rank_spoof) / n_bona
    covariance = np.cov(bona_components) / n_bona + np.cov(spoof_components) / n_spoof
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    diff = aucs[1] - aucs[0]
    if variance > 0:
        z = diff / np.sqrt(variance)
    else:
        z = 0.0 if diff == 0 else np.copysign(np.inf, diff)
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        diff=float(diff),
        z=float(z),
        p_value=float(2 * norm.sf(abs(z))),
    )


def _min_tdcf(labels, scores, asv):
    asv_scores, version = asv
    compute = tdcf.min_tdcf_2019 if version == "2019" else tdcf.min_tdcf_2021
    return compute(
        scores[labels == BONAFIDE],
        scores[labels != BONAFIDE],
        asv_scores.target,
        asv_scores.nontarget,
        asv_scores.spoof,
    ).min_tdcf


@dataclass(frozen=True)
class PairedResamples:
    """Per resample, system b minus system a: AUC, interpolated EER and (with ASV scores) min
    t-DCF, all over the same cluster draws; how many clusters, and resamples drawn again."""

    auc: np.ndarray
    eer: np.ndarray
    min_tdcf: np.ndarray | None
    n_clusters: int
    n_redrawn: int


def _auc_and_eer_sweep(trials, scores, codes):
    """Per-resample AUC and EER of one system: from per-cluster tables where clusters are few
    (:mod:`.cluster_sweep`, the same numbers), else significance's sweep over trial weights."""
    if ClusterSweep.fits(trials, codes):
        return ClusterSweep(trials, scores, codes).auc_and_eer
    return lambda block: _resampled_auc_and_eer(trials, codes, block)


def paired_resamples(labels, scores_a, scores_b, groups, n_boot=1000, seed=0, asv=None) -> PairedResamples:
    """The resampled differences behind every paired interval: each system's trials sorted once,
    each resample a row of cluster multiplicities weighting them (:func:`_auc_and_eer_sweep` for
    AUC and EER, :mod:`.resampled_tdcf` for min t-DCF against the split's fixed ASV rates)."""
    labels, scores_a = _checked(labels, scores_a)
    scores_b = check_scores(scores_b, labels.size, name="scores_b")
    trials_a, trials_b = SortedTrials(labels, scores_a), SortedTrials(labels, scores_b)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials_a)
    sweep_a, sweep_b = _auc_and_eer_sweep(trials_a, scores_a, codes), _auc_and_eer_sweep(trials_b, scores_b, codes)
    aucs, eers, tdcfs, systems = [], [], [], None
    redrawn: list = []
    for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
        auc_a, eer_a = sweep_a(block)
        auc_b, eer_b = sweep_b(block)
        aucs.append(auc_b - auc_a)
        eers.append(eer_b - eer_a)
        if asv is not None:
            if systems is None:  # built once per split, after the draws' own checks
                weights = resampled_tdcf.split_weights(asv)
                systems = [
                    resampled_tdcf.ResampledMinTDCF(t, s, codes, weights)
                    for t, s in ((trials_a, scores_a), (trials_b, scores_b))
                ]
            tdcfs.append(systems[1](block) - systems[0](block))
    return PairedResamples(
        np.concatenate(aucs),
        np.concatenate(eers),
        np.concatenate(tdcfs) if asv is not None else None,
        int(codes.max()) + 1,
        redrawn[0],
    )


def paired_bootstrap(labels, scores_a, scores_b, groups, n_boot=1000, seed=0, alpha=0.05, asv=None) -> dict:
    """All three paired changes, b minus a, from one set of resamples: ``{"auc": BootstrapResult
    (diff, lo, hi), "eer": (diff, lo, hi), "min_tdcf": (diff, lo, hi) or None}`` as
    :func:`paired_bootstrap_auc_diff` and :func:`paired_eer_tdcf_diffs` give them."""
    _check_resampling(n_boot, alpha)
    labels, scores_a = _checked(labels, scores_a)
    scores_b = check_scores(scores_b, labels.size, name="scores_b")
    resamples = paired_resamples(labels, scores_a, scores_b, groups, n_boot, seed, asv)
    auc_diff = roc_auc(labels, scores_b) - roc_auc(labels, scores_a)
    eer_diff = tdcf.official_eer(labels, scores_b).eer - tdcf.official_eer(labels, scores_a).eer
    out = {
        "auc": BootstrapResult(
            (auc_diff, *_percentile_interval(resamples.auc, alpha)), n_boot, resamples.n_clusters, resamples.n_redrawn
        ),
        "eer": (eer_diff, *_percentile_interval(resamples.eer, alpha)),
        "min_tdcf": None,
    }
    if asv is not None:
        tdcf_diff = _min_tdcf(labels, scores_b, asv) - _min_tdcf(labels, scores_a, asv)
        out["min_tdcf"] = (tdcf_diff, *_percentile_interval(resamples.min_tdcf, alpha))
    return out


def paired_eer_tdcf_diffs(labels, scores_a, scores_b, groups, n_boot=1000, seed=0, alpha=0.05, asv=None) -> dict:
    """{"eer": (diff, lo, hi), "min_tdcf": (diff, lo, hi) or None}: b minus a, official EERs and
    min t-DCFs on all trials, percentile intervals over the resamples (None without asv)."""
    out = paired_bootstrap(labels, scores_a, scores_b, groups, n_boot, seed, alpha, asv)
    return {"eer": out["eer"], "min_tdcf": out["min_tdcf"]}
