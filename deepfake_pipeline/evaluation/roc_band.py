"""A pointwise confidence band around a ROC curve, from the same speaker-clustered bootstrap as the
metrics' CIs (significance.py: clusters drawn with replacement, each trial weighted by its
cluster's multiplicity, never materialised).

At each false-acceptance rate of a fixed grid, the band holds the middle 95% of the resampled
curves' bona fide acceptance rates (vertical averaging). It is pointwise: it shows how far the
curve moves at a given operating point, not a simultaneous band nor a test of one system against
another (the verdict uses the paired bootstrap and DeLong's test for that)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfake_pipeline.evaluation.metrics import SortedTrials, _checked
from deepfake_pipeline.evaluation.significance import (
    _check_resampling,
    _codes_in_score_order,
    _resample_multiplicities,
    _trial_weights,
    cluster_codes,
)

# rows x trials elements handled at once
_BLOCK = 1_000_000


@dataclass(frozen=True)
class RocBand:
    far: np.ndarray  # the grid of false acceptance rates
    lower: np.ndarray  # bona fide acceptance rate, alpha/2 quantile over resamples
    upper: np.ndarray  # 1 - alpha/2 quantile
    n_boot: int
    n_clusters: int


def _accept_rates(trials: SortedTrials, bona_weight, spoof_weight):
    """(FAR, TPR) at every operating point for each row of trial weights, FAR ascending."""
    rows = bona_weight.shape[0]
    cum_bona = np.zeros((rows, bona_weight.shape[1] + 1))
    cum_spoof = np.zeros((rows, spoof_weight.shape[1] + 1))
    np.cumsum(bona_weight, axis=1, out=cum_bona[:, 1:])
    np.cumsum(spoof_weight, axis=1, out=cum_spoof[:, 1:])
    # operating point g accepts the trials scoring at or above distinct[g]; g ascending = FAR descending
    far = 1 - cum_spoof[:, trials.spoof_below_point] / cum_spoof[:, -1:]
    tpr = 1 - cum_bona[:, trials.bona_below_point] / cum_bona[:, -1:]
    return far[:, ::-1], tpr[:, ::-1]


def roc_band(
    labels, scores, groups, n_boot: int = 200, seed: int = 0, alpha: float = 0.05, grid: np.ndarray | None = None
) -> RocBand:
    """Pointwise ``1 - alpha`` band of the ROC curve (bona fide acceptance against spoof
    acceptance; labels 0 = bona fide, higher score = more bona fide) by cluster bootstrap over
    ``groups`` (speakers; None or "-" = each trial its own cluster). At a grid FAR ``f`` each
    resampled curve gives the highest acceptance of its operating points with FAR <= f, which is
    what its ROC staircase shows there."""
    _check_resampling(n_boot, alpha)
    labels, scores = _checked(labels, scores)
    grid = np.linspace(0.0, 1.0, 201) if grid is None else np.asarray(grid, dtype=float)
    trials = SortedTrials(labels, scores)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials)
    curves = []
    redrawn: list = []
    step = max(1, _BLOCK // labels.size)
    for block in _resample_multiplicities(codes, labels, n_boot, seed, redrawn):
        for start in range(0, block.shape[0], step):
            rows = block[start : start + step]
            far, tpr = _accept_rates(
                trials, _trial_weights(codes, trials.bona_order, rows), _trial_weights(codes, trials.spoof_order, rows)
            )
            for row_far, row_tpr in zip(far, tpr, strict=True):
                at = np.searchsorted(row_far, grid, side="right") - 1
                curves.append(row_tpr[np.clip(at, 0, None)])
    lower, upper = np.quantile(np.asarray(curves), [alpha / 2, 1 - alpha / 2], axis=0)
    return RocBand(far=grid, lower=lower, upper=upper, n_boot=n_boot, n_clusters=int(codes.max()) + 1)
