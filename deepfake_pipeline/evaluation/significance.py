"""How sure are the metrics: clustered bootstrap CIs, DeLong's test, and the summary record.

Trials from one speaker are not independent, so confidence intervals resample clusters
(``groups``, e.g. speaker ids) with replacement and take all trials of each drawn cluster.
A resample is never materialised: each trial gets the multiplicity of its cluster as a weight,
and AUC and EER are computed from weighted cumulative sums over the scores sorted once
(``metrics.SortedTrials.auc_and_eer``), many resamples at a time.

Conventions are those of :mod:`deepfake_pipeline.evaluation.metrics` (labels 0 = bona fide,
1 = spoof; higher score = more bona fide).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_pipeline.evaluation.condition_tdcf import per_attack_tdcf
from deepfake_pipeline.evaluation.field_metrics import field_metrics
from deepfake_pipeline.evaluation.metrics import (
    BONAFIDE,
    EER,
    SortedTrials,
    _checked,
    eer,
    per_attack_metrics,
    roc_auc,
)
from deepfake_pipeline.evaluation.tdcf import official_eer

UNKNOWN_GROUP = "-"
# Sizes of the blocks worked on at once (elements of a resamples x clusters or a
# resamples x trials array): a few tens of MB at most, whatever the number of trials.
_DRAW_BLOCK = 2_000_000
_SWEEP_BLOCK = 1_000_000


class BootstrapResult(tuple):
    """A tuple of results (e.g. ``(lo, hi)``) that also records how the resampling went:
    ``n_boot`` resamples kept, ``n_clusters`` resampled units, ``n_redrawn`` resamples that
    lacked a class and were drawn again."""

    n_boot: int
    n_clusters: int
    n_redrawn: int

    def __new__(cls, values, n_boot: int, n_clusters: int, n_redrawn: int):
        self = super().__new__(cls, tuple(float(v) for v in values))
        self.n_boot, self.n_clusters, self.n_redrawn = n_boot, n_clusters, n_redrawn
        return self

    def __getnewargs__(self):
        return tuple(self), self.n_boot, self.n_clusters, self.n_redrawn


# ----------------------------------------------------------------------------- resampling


def cluster_codes(groups, n_trials: int) -> np.ndarray:
    """Integer cluster id per trial. ``groups=None``, the value ``"-"`` (unknown speaker) and
    missing values make a trial its own cluster."""
    if groups is None:
        return np.arange(n_trials)
    values = np.asarray(groups, dtype=object)
    if values.shape != (n_trials,):
        raise ValueError(f"groups must give one cluster id per trial ({n_trials}), got shape {values.shape}")
    names = values.astype(str)
    unknown = pd.isna(values) | (names == UNKNOWN_GROUP)
    known_names, known_codes = np.unique(names[~unknown], return_inverse=True)
    codes = np.empty(n_trials, dtype=np.int64)
    codes[~unknown] = known_codes
    codes[unknown] = known_names.size + np.arange(int(unknown.sum()))
    return codes


def _check_resampling(n_boot, alpha):
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 for a 95% interval), got {alpha!r}")


def _resample_multiplicities(codes, labels, n_boot: int, seed: int, redrawn: list):
    """Yield blocks of cluster multiplicities, shape (resamples, clusters), float64: in all
    ``n_boot`` resamples of the clusters drawn with replacement that contain both classes.

    Resamples lacking a class are drawn again; their number is appended to ``redrawn`` at the
    end. If more than half of the first ``n_boot`` draws lack a class, ValueError is raised.
    The draws depend only on ``seed`` and the number of clusters, so every statistic computed
    with the same seed sees the same resamples.
    """
    n_clusters = int(codes.max()) + 1
    bona_per_cluster = np.bincount(codes[labels == BONAFIDE], minlength=n_clusters).astype(float)
    spoof_per_cluster = np.bincount(codes[labels != BONAFIDE], minlength=n_clusters).astype(float)
    rng = np.random.default_rng(seed)
    rows_per_draw = max(1, min(n_boot, _DRAW_BLOCK // n_clusters))
    buffer = np.empty((rows_per_draw, n_clusters))
    n_kept = n_drawn = n_degenerate_early = n_degenerate = 0
    while n_kept < n_boot:
        counts = buffer[: min(rows_per_draw, n_boot - n_kept)]
        # One resample at a time keeps bincount's table in cache (faster than one big call),
        # and makes resample i the i-th draw whatever the block size.
        for row in counts:
            row[:] = np.bincount(rng.integers(0, n_clusters, size=n_clusters), minlength=n_clusters)
        valid = (counts @ bona_per_cluster > 0) & (counts @ spoof_per_cluster > 0)
        n_degenerate_early += int((~valid[: max(0, n_boot - n_drawn)]).sum())
        if n_degenerate_early > n_boot / 2:
            raise ValueError(
                f"more than half of the bootstrap resamples of the {n_clusters} clusters lack "
                "bona fide or spoof trials: too few clusters of one class for a cluster "
                "bootstrap (give finer groups, or none to resample single trials)"
            )
        n_drawn += counts.shape[0]
        n_degenerate += int((~valid).sum())
        n_kept += int(valid.sum())
        if valid.any():
            yield counts[valid]
    redrawn.append(n_degenerate)


def _codes_in_score_order(codes, trials: SortedTrials):
    """Renumber clusters by first appearance among the bona fide trials in score order, then
    the spoof trials. Clusters are exchangeable under resampling, so this changes no
    distribution; when every trial is its own cluster it turns the per-resample weight lookup
    into two slices instead of two scattered gathers."""
    in_order = codes[np.concatenate([trials.bona_order, trials.spoof_order])]
    _, first_seen = np.unique(in_order, return_index=True)
    new_code = np.empty(first_seen.size, dtype=np.int64)
    new_code[np.argsort(first_seen, kind="stable")] = np.arange(first_seen.size)
    return new_code[codes]


def _trial_weights(codes, order, multiplicities):
    """Weights of the trials ``order`` in each resample (rows of ``multiplicities``)."""
    wanted = codes[order]
    if wanted.size and wanted[-1] - wanted[0] == wanted.size - 1 and (np.diff(wanted) == 1).all():
        return multiplicities[:, wanted[0] : wanted[-1] + 1]
    return np.take(multiplicities, wanted, axis=1)


def _resampled_auc_and_eer(trials: SortedTrials, codes, multiplicities):
    """AUC and EER of each resample: every trial weighted by its cluster's multiplicity
    (rows of ``multiplicities``), in blocks that keep the arrays small."""
    step = max(1, _SWEEP_BLOCK // codes.size)
    aucs, eers = [], []
    for start in range(0, multiplicities.shape[0], step):
        block = multiplicities[start : start + step]
        auc, rate, _, _ = trials.auc_and_eer(
            _trial_weights(codes, trials.bona_order, block),
            _trial_weights(codes, trials.spoof_order, block),
        )
        aucs.append(auc)
        eers.append(rate)
    return np.concatenate(aucs), np.concatenate(eers)


def _percentile_interval(values, alpha):
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _bootstrap_auc_eer(trials, labels, codes, n_boot, seed):
    redrawn: list = []
    aucs, eers = [], []
    for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
        auc, rate = _resampled_auc_and_eer(trials, codes, block)
        aucs.append(auc)
        eers.append(rate)
    return np.concatenate(aucs), np.concatenate(eers), redrawn[0]


# ----------------------------------------------------------------------------- public API


def bootstrap_ci(labels, scores, groups, statistic, n_boot=1000, seed=0, alpha=0.05):
    """Percentile ``(lo, hi)`` interval of ``statistic(labels, scores)`` by cluster bootstrap.

    Clusters (``groups``; ``None`` or ``"-"`` = each trial its own cluster) are drawn with
    replacement, as many as there are, and each contributes all its trials. Resamples lacking a
    class are redrawn (ValueError if more than half of the first ``n_boot`` draws do). The
    interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's linear interpolation) of
    the ``n_boot`` resampled values.

    ``roc_auc`` and ``eer`` from :mod:`deepfake_pipeline.evaluation.metrics` are recognised and computed
    vectorised with cluster multiplicities as weights (seconds for 70,000 trials x 1000
    resamples). Any other callable gets each materialised resample, slowly; it may return a
    float or an :class:`EER`.

    Returns a :class:`BootstrapResult` ``(lo, hi)`` with ``n_boot``, ``n_clusters`` and
    ``n_redrawn`` attributes.
    """
    _check_resampling(n_boot, alpha)
    labels, scores = _checked(labels, scores)
    trials = SortedTrials(labels, scores)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials)
    if statistic is roc_auc or statistic is eer:
        aucs, eers, n_redrawn = _bootstrap_auc_eer(trials, labels, codes, n_boot, seed)
        values = aucs if statistic is roc_auc else eers
    else:
        redrawn: list = []
        values = []
        for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
            for multiplicity in block:
                chosen = np.repeat(np.arange(labels.size), multiplicity.astype(np.int64)[codes])
                value = statistic(labels[chosen], scores[chosen])
                values.append(value.eer if isinstance(value, EER) else float(value))
        n_redrawn = redrawn[0]
    return BootstrapResult(_percentile_interval(np.asarray(values), alpha), n_boot, int(codes.max()) + 1, n_redrawn)


def _known_speakers(groups) -> int:
    """Distinct speakers that are known, by the same rule as :func:`cluster_codes` (``"-"``,
    None and NaN are unknown: each such trial is a cluster of its own)."""
    if groups is None:
        return 0
    values = np.asarray(groups, dtype=object)
    names = values.astype(str)
    known = ~(pd.isna(values) | (names == UNKNOWN_GROUP))
    return int(np.unique(names[known]).size)


def summarize(
    labels, scores, groups, attacks=None, n_boot=1000, seed=0, alpha=0.05, asv=None, prior_log_odds=None
) -> dict:
    """Every number a results file reports about one set of scores, as plain floats and ints.

    Keys: ``auc``, ``auc_ci`` [lo, hi], ``eer`` (the official ASVspoof EER, a fraction, the
    number papers print), ``eer_interpolated`` (exactly where the DET curve crosses the diagonal;
    within half a step of the official one), ``eer_ci`` (bootstrap interval of the interpolated
    EER, which moves smoothly with the resample where the official one jumps by steps),
    ``eer_threshold`` (of the interpolated EER: accept ``score >= t``), ``n_trials``,
    ``n_bonafide``, ``n_spoof``, ``n_clusters``, ``n_speakers`` (known speakers: the clusters
    other than single trials of unknown speaker), ``n_boot``, ``ci_level``, ``bootstrap_redrawn``,
    the field metrics of :func:`deepfake_pipeline.evaluation.field_metrics.field_metrics`
    (``asv``, ``prior_log_odds`` go there), and ``per_attack`` when ``attacks`` is given. Both
    intervals come from the same cluster resamples as :func:`bootstrap_ci` with the same seed.
    ``n_boot=0`` skips the bootstrap: the intervals are then ``None``.
    """
    labels, scores = _checked(labels, scores)
    trials = SortedTrials(labels, scores)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials)
    point = eer(labels, scores)
    n_bona = int((labels == BONAFIDE).sum())
    extra = field_metrics(labels, scores, asv, prior_log_odds)
    out = {
        "auc": roc_auc(labels, scores),
        "auc_ci": None,
        "eer": extra.pop("eer_official"),
        "eer_interpolated": point.eer,
        "eer_ci": None,
        "eer_ci_of": "interpolated EER",
        "eer_threshold": point.threshold,
        "n_speakers": _known_speakers(groups),
        "n_trials": int(labels.size),
        "n_bonafide": n_bona,
        "n_spoof": int(labels.size - n_bona),
        "n_clusters": int(codes.max()) + 1,
        "n_boot": int(n_boot),
        "ci_level": 1 - alpha,
        "bootstrap_redrawn": 0,
    }
    if n_boot:
        _check_resampling(n_boot, alpha)
        aucs, eers, n_redrawn = _bootstrap_auc_eer(trials, labels, codes, n_boot, seed)
        out["auc_ci"] = list(_percentile_interval(aucs, alpha))
        out["eer_ci"] = list(_percentile_interval(eers, alpha))
        out["bootstrap_redrawn"] = int(n_redrawn)
    out.update(extra)
    if attacks is not None:
        out["per_attack"] = per_attack_metrics(labels, scores, attacks)
        attacks = np.asarray(attacks).astype(str)
        for attack, row in out["per_attack"].items():
            keep = (labels == BONAFIDE) | (attacks == attack)
            row["eer_interpolated"] = row["eer"]
            row["eer"] = official_eer(labels[keep], scores[keep]).eer
        if asv is not None:  # the attack's own ASV spoofs, as the 2021 package's pooled column
            for attack, fields in per_attack_tdcf(labels, scores, attacks, asv).items():
                out["per_attack"][attack].update(fields)
    return out
