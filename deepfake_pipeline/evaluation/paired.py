"""Paired speaker-clustered bootstrap of the change in EER and in min t-DCF between two systems
scored on the same trials: the same cluster resamples as the AUC difference of the verdict
(`significance.paired_bootstrap_auc_diff`, same seed), so the three intervals describe the same
resamples.

The EER interval is that of the interpolated EER difference (computed without materialising a
resample, like every EER interval here); the point estimate printed beside it is the difference
of the official EERs, which can differ by up to half a step per system. min t-DCF needs each
resample's trials, so those are materialised (repeated by their cluster's multiplicity) against
the fixed ASV scores."""

import numpy as np

from deepfake_pipeline.evaluation import tdcf
from deepfake_pipeline.evaluation.metrics import SortedTrials, _checked, check_scores
from deepfake_pipeline.evaluation.significance import (
    _check_resampling,
    _codes_in_score_order,
    _percentile_interval,
    _resample_multiplicities,
    _resampled_auc_and_eer,
    cluster_codes,
)
from deepfake_pipeline.formats.labels import BONAFIDE


def _min_tdcf(labels, scores, asv):
    asv_scores, version = asv
    compute = tdcf.min_tdcf_2019 if version == "2019" else tdcf.min_tdcf_2021
    return compute(scores[labels == BONAFIDE], scores[labels != BONAFIDE], asv_scores.target,
                   asv_scores.nontarget, asv_scores.spoof).min_tdcf


def paired_eer_tdcf_diffs(labels, scores_a, scores_b, groups, n_boot=1000, seed=0, alpha=0.05, asv=None) -> dict:
    """{"eer": (diff, lo, hi), "min_tdcf": (diff, lo, hi) or None}: b minus a, official EERs and
    min t-DCFs on all trials, percentile intervals over the resamples (None without asv)."""
    _check_resampling(n_boot, alpha)
    labels, scores_a = _checked(labels, scores_a)
    scores_b = check_scores(scores_b, labels.size, name="scores_b")
    trials_a, trials_b = SortedTrials(labels, scores_a), SortedTrials(labels, scores_b)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials_a)
    eer_diffs, tdcf_diffs, redrawn = [], [], []
    for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
        eer_diffs.append(_resampled_auc_and_eer(trials_b, codes, block)[1]
                         - _resampled_auc_and_eer(trials_a, codes, block)[1])
        if asv is not None:
            for multiplicities in block:
                index = np.repeat(np.arange(labels.size), multiplicities[codes].astype(np.int64))
                tdcf_diffs.append(_min_tdcf(labels[index], scores_b[index], asv)
                                  - _min_tdcf(labels[index], scores_a[index], asv))
    eer_diff = tdcf.official_eer(labels, scores_b).eer - tdcf.official_eer(labels, scores_a).eer
    out = {"eer": (eer_diff, *_percentile_interval(np.concatenate(eer_diffs), alpha)), "min_tdcf": None}
    if asv is not None:
        tdcf_diff = _min_tdcf(labels, scores_b, asv) - _min_tdcf(labels, scores_a, asv)
        out["min_tdcf"] = (tdcf_diff, *_percentile_interval(np.asarray(tdcf_diffs), alpha))
    return out
