"""min t-DCF of many cluster resamples at once, never materialising one: every trial weighted by
its cluster's multiplicity, cumulative weights over the scores sorted once, and the ASV rates and
t-DCF constants computed once per split. The numbers are those of :mod:`.tdcf`'s official sweep
on the materialised resample, to the last bit.

Why the same numbers. The official sweep (``tdcf.official_det_curve``) sorts the resample's CM
scores, bona fide first among ties, and has one operating point per rejected trial; each
point's cost is ``TDCFWeights.normalised(b / B, (S - s) / S)`` with ``b``, ``s`` the bona fide
and spoof trials rejected and ``B``, ``S`` the totals, all integers, so ``b / B`` and
``(S - s) / S`` are single correctly rounded divisions of exact values. That cost never
decreases as ``b`` grows and never increases as ``s`` grows, in floating point too (weights
>= 0, every operation rounds monotonically). Hence:

1. Inside a run of tied scores the sweep first adds misses (cost up), then removes false alarms
   (cost down): every point inside costs at least as much as one of the run's two ends, and the
   ends are the points after each distinct score ("group") of the full set. A group absent from
   the resample repeats the previous point. So the minimum is over the G + 1 group boundaries
   ``g = 0 .. G`` (``g`` rejects the groups below ``distinct[g]``), with ``b`` and ``s`` the
   multiplicity-weighted counts there: exact integers however they are summed.
2. Stepping over a group of bona fide trials only cannot lower the cost, and stepping over a
   group of spoof trials only cannot raise it (in every resample, as a group's classes do not
   depend on it). So boundary ``g`` is dropped when the group before it is bona fide only (its
   left neighbour costs no more) or the group after it spoof only (its right neighbour costs no
   more); the minimum over the remaining points is the same float. Scores that separate the
   classes well leave few points: one per place where a spoof group is followed by a bona fide
   one, at most one per bona fide trial.

The weighted counts at the kept points are integers in float64, exact far beyond any corpus
(below 2**53): with few clusters, the multiplicities times a clusters x points table of each
cluster's trials below each point; otherwise the cumulative sum of the trial weights, read at
the points (as significance's sweep does). The official refusal of CM scores with fewer than 3
distinct values is kept, resample by resample (``tdcf.require_soft_scores``)."""

from __future__ import annotations

import numpy as np

from deepfake_pipeline.evaluation import tdcf
from deepfake_pipeline.evaluation.metrics import SortedTrials
from deepfake_pipeline.evaluation.significance import _trial_weights

# Elements of a resamples x points (or x trials) array worked on at once (16 MB); the largest
# clusters x points table, and how many of its entries per trial and point it may have: a
# multiply-add per entry in a matrix product costs about 1/32 of a pass over a trial or point.
_BLOCK = 2_000_000
_TABLE = 4_000_000
_TABLE_PER_ELEMENT = 32
# Clusters looked at first when checking that a resample's scores take 3 distinct values.
_WITNESSES = 64


def split_weights(asv) -> tdcf.TDCFWeights:
    """The t-DCF constants of a split, from ``asv = (ASVScores, version)``: the ASV error rates
    at its EER threshold and the 2019 (``version == "2019"``) or 2021 cost model, as
    ``tdcf.min_tdcf_2019`` / ``min_tdcf_2021`` compute them with their default costs."""
    asv_scores, version = asv
    rates = tdcf.asv_error_rates(asv_scores.target, asv_scores.nontarget, asv_scores.spoof)
    return tdcf.tdcf_weights_2019(rates) if version == "2019" else tdcf.tdcf_weights_2021(rates)


def kept_points(trials: SortedTrials) -> np.ndarray:
    """The group boundaries (0 .. G) where a resample's minimum cost can lie (docstring, 2)."""
    bona_in_group = np.diff(trials.bona_below_point)
    spoof_in_group = np.diff(trials.spoof_below_point)
    keep = np.ones(trials.distinct.size + 1, dtype=bool)
    keep[1:] &= spoof_in_group > 0
    keep[:-1] &= bona_in_group > 0
    return np.flatnonzero(keep)


class _WeightBelow:
    """One class's resampled weight below each kept point: ``below_point[c]`` trials of the
    class (in score order ``order``) lie below point ``c``."""

    def __init__(self, codes, order, below_point, n_clusters: int, strategy: str | None = None):
        self.codes, self.order, self.below_point = codes, order, below_point
        entries = n_clusters * below_point.size
        self.by_table = strategy == "table" or (
            strategy is None and entries <= min(_TABLE, _TABLE_PER_ELEMENT * (order.size + below_point.size))
        )
        self.width = below_point.size if self.by_table else order.size + 1
        if self.by_table:
            # table[k, c]: trials of cluster k below point c, i.e. at a sorted position p <
            # below_point[c]; p's first such point is #{c: below_point[c] <= p}.
            first = np.searchsorted(below_point, np.arange(order.size), side="right")
            inside = first < below_point.size
            self.table = np.zeros((n_clusters, below_point.size))
            np.add.at(self.table, (codes[order][inside], first[inside]), 1.0)
            np.cumsum(self.table, axis=1, out=self.table)

    def __call__(self, multiplicities) -> np.ndarray:
        if self.by_table:
            return multiplicities @ self.table
        cumulative = np.zeros((multiplicities.shape[0], self.order.size + 1))
        np.cumsum(_trial_weights(self.codes, self.order, multiplicities), axis=1, out=cumulative[:, 1:])
        return cumulative[:, self.below_point]


class _SoftScores:
    """Refuses, as the official sweep does, a resample whose CM scores take fewer than 3
    distinct values. With each cluster's lowest and highest score and its number of distinct
    ones: a resample has 3 or more exactly when a drawn cluster has 3, or a drawn cluster's
    lowest or highest score lies strictly between the resample's lowest and highest."""

    def __init__(self, trials: SortedTrials, scores, codes, n_clusters: int):
        group = np.searchsorted(trials.distinct, scores)
        order = np.lexsort((group, codes))
        code, group = codes[order], group[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (code[1:] != code[:-1]) | (group[1:] != group[:-1])
        self.n_distinct = np.bincount(code[new], minlength=n_clusters)
        self.lowest = np.full(n_clusters, trials.distinct.size)
        self.highest = np.full(n_clusters, -1)
        np.minimum.at(self.lowest, code, group)
        np.maximum.at(self.highest, code, group)
        self.scores, self.codes = scores, codes

    def _enough(self, multiplicities, columns) -> np.ndarray:
        drawn = multiplicities[:, columns] > 0
        lowest, highest = self.lowest[columns], self.highest[columns]
        low = np.where(drawn, lowest, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
        high = np.where(drawn, highest, -1).max(axis=1, keepdims=True)
        inside = ((lowest > low) & (lowest < high)) | ((highest > low) & (highest < high))
        return (drawn & (inside | (self.n_distinct[columns] >= 3))).any(axis=1)

    def check(self, multiplicities) -> None:
        # A few clusters first (their distinct scores are a lower bound), then all of them.
        unsure = np.flatnonzero(~self._enough(multiplicities, slice(0, _WITNESSES)))
        for row in unsure[~self._enough(multiplicities[unsure], slice(None))]:
            tdcf.require_soft_scores(np.unique(self.scores[multiplicities[row][self.codes] > 0]).size)


class ResampledMinTDCF:
    """One system's min t-DCF for rows of cluster multiplicities (``(resamples, clusters)``, as
    ``significance._resample_multiplicities`` yields them); ``codes`` the trials' clusters.
    ``strategy`` ("table" or "trials") forces how the weights below the points are summed."""

    def __init__(self, trials: SortedTrials, scores, codes, weights: tdcf.TDCFWeights, strategy: str | None = None):
        self.weights = weights
        n_clusters = int(codes.max()) + 1
        points = kept_points(trials)
        self.bona = _WeightBelow(codes, trials.bona_order, trials.bona_below_point[points], n_clusters, strategy)
        self.spoof = _WeightBelow(codes, trials.spoof_order, trials.spoof_below_point[points], n_clusters, strategy)
        self.bona_per_cluster = np.bincount(codes[trials.bona_order], minlength=n_clusters).astype(float)
        self.spoof_per_cluster = np.bincount(codes[trials.spoof_order], minlength=n_clusters).astype(float)
        self.soft = _SoftScores(trials, scores, codes, n_clusters)

    def __call__(self, multiplicities) -> np.ndarray:
        self.soft.check(multiplicities)
        step = max(1, _BLOCK // max(self.bona.width, self.spoof.width))
        out = np.empty(multiplicities.shape[0])
        for start in range(0, multiplicities.shape[0], step):
            block = multiplicities[start : start + step]
            bona_total = (block @ self.bona_per_cluster)[:, None]
            spoof_total = (block @ self.spoof_per_cluster)[:, None]
            pmiss = self.bona(block) / bona_total
            pfa = (spoof_total - self.spoof(block)) / spoof_total
            out[start : start + step] = self.weights.normalised(pmiss, pfa).min(axis=1)
        return out
