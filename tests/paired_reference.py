"""Step 4's paired bootstrap as it was first computed, kept as the reference that the weighted
sweeps must equal to the last bit (tests/evaluation/test_paired_resampling.py, bench/bench_verdict.py):
each resample materialised, every trial repeated by its cluster's multiplicity (``np.repeat``),
its min t-DCF by the official sweep of evaluation/tdcf.py with the ASV rates computed again for
every resample; AUC and EER by significance's sweep over trial weights; the AUC interval and the
EER / t-DCF intervals from two passes over the same draws, as ``verdict.compare`` made them."""

import numpy as np

from deepfake_pipeline.evaluation import paired, tdcf
from deepfake_pipeline.evaluation.metrics import SortedTrials
from deepfake_pipeline.evaluation.significance import (
    _codes_in_score_order,
    _percentile_interval,
    _resample_multiplicities,
    _resampled_auc_and_eer,
    cluster_codes,
)
from deepfake_pipeline.evaluation.verdict import ALPHA, Verdict


def reference_min_tdcf(labels, scores, asv):
    """The official min t-DCF of one materialised set of trials, ASV rates recomputed."""
    asv_scores, version = asv
    compute = tdcf.min_tdcf_2019 if version == "2019" else tdcf.min_tdcf_2021
    return compute(
        scores[labels == 0], scores[labels != 0], asv_scores.target, asv_scores.nontarget, asv_scores.spoof
    ).min_tdcf


def reference_paired(labels, scores_a, scores_b, groups, n_boot, seed, asv):
    """Per resample (b minus a): AUC, interpolated EER, min t-DCF (None without asv), and each
    system's min t-DCF; the clusters' codes and the resamples drawn again."""
    labels = np.asarray(labels, dtype=np.int8)
    scores_a, scores_b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    trials_a, trials_b = SortedTrials(labels, scores_a), SortedTrials(labels, scores_b)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials_a)
    aucs, eers, tdcf_a, tdcf_b, redrawn = [], [], [], [], []
    for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
        auc_a, eer_a = _resampled_auc_and_eer(trials_a, codes, block)
        auc_b, eer_b = _resampled_auc_and_eer(trials_b, codes, block)
        aucs.append(auc_b - auc_a)
        eers.append(eer_b - eer_a)
        if asv is not None:
            for multiplicities in block:
                index = np.repeat(np.arange(labels.size), multiplicities[codes].astype(np.int64))
                tdcf_a.append(reference_min_tdcf(labels[index], scores_a[index], asv))
                tdcf_b.append(reference_min_tdcf(labels[index], scores_b[index], asv))
    tdcf_a, tdcf_b = np.array(tdcf_a), np.array(tdcf_b)
    return dict(
        auc=np.concatenate(aucs),
        eer=np.concatenate(eers),
        min_tdcf=tdcf_b - tdcf_a if asv else None,
        tdcf_a=tdcf_a,
        tdcf_b=tdcf_b,
        codes=codes,
        n_redrawn=redrawn[0],
    )


def reference_compare(split, labels, groups, baseline_scores, contrastive_scores, n_boot=1000, seed=0, asv=None):
    """``verdict.compare`` as it was: a pass for the AUC interval, another for EER and t-DCF."""
    labels = np.asarray(labels, dtype=np.int8)
    base, new = np.asarray(baseline_scores, dtype=float), np.asarray(contrastive_scores, dtype=float)
    delong = paired.delong_test(labels, base, new)
    ci, eer_ci, tdcf_ci = None, (None, None), (None, None)
    if n_boot:
        ci = _percentile_interval(reference_paired(labels, base, new, groups, n_boot, seed, None)["auc"], ALPHA)
        resampled = reference_paired(labels, base, new, groups, n_boot, seed, asv)
        eer_ci = _percentile_interval(resampled["eer"], ALPHA)
        if asv is not None:
            tdcf_ci = _percentile_interval(resampled["min_tdcf"], ALPHA)
    eers = (tdcf.official_eer(labels, base).eer, tdcf.official_eer(labels, new).eer)
    tdcfs = None if asv is None else (reference_min_tdcf(labels, base, asv), reference_min_tdcf(labels, new, asv))
    return Verdict(
        split=split,
        baseline_auc=delong.auc_a,
        contrastive_auc=delong.auc_b,
        diff=delong.diff,
        ci=ci,
        delong_p=delong.p_value,
        n_trials=len(labels),
        eer=(*eers, eers[1] - eers[0], *eer_ci),
        min_tdcf=None if tdcfs is None else (*tdcfs, tdcfs[1] - tdcfs[0], *tdcf_ci),
    )
