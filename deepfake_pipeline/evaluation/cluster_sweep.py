"""AUC and interpolated EER of cluster resamples from per-cluster count tables, for splits with
few clusters (e.g. 67 speakers): the numbers of significance's weighted sweep
(``metrics.SortedTrials.auc_and_eer`` on trial weights) to the last bit, in time that grows
with resamples x clusters^2 instead of resamples x trials.

Why the same numbers. Before its last few floating-point operations, ``auc_and_eer`` works
only with integers: the weight of each class below an operating point (cluster multiplicities
times trial counts, summed), the Mann-Whitney sum of bona fide weight times the spoof weight
below it plus below-or-tied, and the gap ``(FRR - FAR) B S``. float64 holds them exactly, and
sums them exactly in any order, while they stay below 2**53. Here they come from tables instead:
the weight below point ``g`` is ``m . table[g]`` (``m`` the resample's multiplicities,
``table[g, k]`` the trials of cluster ``k`` below the point), the Mann-Whitney sum is ``m^T Q m``
(``Q[j, k]``: over cluster ``j``'s bona fide trials, cluster ``k``'s spoof trials below plus
below-or-tied). Same integers, then the same last operations, so the same floats. The tables are
used only where the largest such integer, ``2 B S``, is below 2**53 for every possible resample
(``B`` at most clusters x the most bona fide trials of one cluster, ``S`` likewise) and the two
tables, (distinct scores + 1) x clusters, fit in ``_TABLE_ENTRIES``."""

from __future__ import annotations

import numpy as np

from deepfake_pipeline.evaluation.metrics import SortedTrials

_TABLE_ENTRIES = 8_000_000  # per class; int32, so 32 MB


def _below_table(group, cluster, n_points: int, n_clusters: int) -> np.ndarray:
    """``table[g, k]``: trials of cluster ``k`` scoring below ``distinct[g]`` (all at g = G);
    ``group`` is each trial's index in ``distinct``."""
    table = np.zeros((n_points, n_clusters), dtype=np.int32)
    np.add.at(table, (group + 1, cluster), 1)
    return np.cumsum(table, axis=0, out=table)


class ClusterSweep:
    """One system's AUC and EER for rows of cluster multiplicities; :meth:`fits` says whether
    the tables are exact and small enough for the split."""

    @staticmethod
    def fits(trials: SortedTrials, codes) -> bool:
        n_clusters = int(codes.max()) + 1
        most_bona = np.bincount(codes[trials.bona_order], minlength=n_clusters).max()
        most_spoof = np.bincount(codes[trials.spoof_order], minlength=n_clusters).max()
        largest = 2 * (n_clusters * int(most_bona)) * (n_clusters * int(most_spoof))
        return largest < 2**53 and (trials.distinct.size + 1) * n_clusters <= _TABLE_ENTRIES

    def __init__(self, trials: SortedTrials, scores, codes):
        n_clusters, n_points = int(codes.max()) + 1, trials.distinct.size + 1
        self.n_points = n_points
        bona_group = np.searchsorted(trials.distinct, scores[trials.bona_order])
        spoof_group = np.searchsorted(trials.distinct, scores[trials.spoof_order])
        bona_code, spoof_code = codes[trials.bona_order], codes[trials.spoof_order]
        self.bona_below = _below_table(bona_group, bona_code, n_points, n_clusters)
        self.spoof_below = _below_table(spoof_group, spoof_code, n_points, n_clusters)
        self.bona_per_cluster = self.bona_below[-1].astype(float)
        self.spoof_per_cluster = self.spoof_below[-1].astype(float)
        # Each bona fide trial beats the spoof trials below its score, and half those tied with it.
        beaten_twice = self.spoof_below[bona_group].astype(float) + self.spoof_below[bona_group + 1].astype(float)
        self.mann_whitney = np.zeros((n_clusters, n_clusters))
        np.add.at(self.mann_whitney, bona_code, beaten_twice)

    def auc_and_eer(self, multiplicities):
        """``(auc, eer)`` per row, as ``significance._resampled_auc_and_eer`` gives them."""
        m = multiplicities
        bona_total, spoof_total = m @ self.bona_per_cluster, m @ self.spoof_per_cluster
        auc = np.einsum("ij,ij->i", m @ self.mann_whitney, m) / (2 * bona_total * spoof_total)

        def bona_below(point):
            return np.einsum("ij,ij->i", m, self.bona_below[point])

        def crossing_gap(point):
            spoof_below = np.einsum("ij,ij->i", m, self.spoof_below[point])
            return bona_below(point) * spoof_total + spoof_below * bona_total - bona_total * spoof_total

        # The first point with FRR >= FAR, by the same bisection as SortedTrials.auc_and_eer.
        rows, n_distinct = m.shape[0], self.n_points - 1
        lower = np.zeros(rows, dtype=np.int64)
        upper = np.full(rows, n_distinct, dtype=np.int64)
        for _ in range(int(np.ceil(np.log2(n_distinct + 1))) + 1):
            middle = (lower + upper) // 2
            reached = crossing_gap(middle) >= 0
            upper = np.where(reached, middle, upper)
            lower = np.where(reached, lower, middle)
        gap_lower, gap_upper = crossing_gap(upper - 1), crossing_gap(upper)
        frac = -gap_lower / (gap_upper - gap_lower)
        eer = ((1 - frac) * bona_below(upper - 1) + frac * bona_below(upper)) / bona_total
        return auc, eer
