"""Detection metrics for bona fide vs spoof scores: ROC-AUC, EER, DET curve, per-attack breakdown.

Conventions used throughout (as in docs/DESIGN.md and the ASVspoof evaluation packages):

- ``labels``: 0 = bona fide, 1 = spoof, as integers. Anything else raises ValueError, and so does
  a set of trials lacking either class.
- ``scores``: higher = more bona fide. A trial is accepted as bona fide when ``score >= t``, so at
  threshold ``t`` the miss rate (false rejection, FRR) is the share of bona fide trials with
  ``score < t`` and the false-alarm rate (false acceptance, FAR) the share of spoof trials with
  ``score >= t``.

Bootstrap confidence intervals, DeLong's test and :func:`summarize` live in
:mod:`deepfake_pipeline.evaluation.significance`, which builds on this module (never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from deepfake_pipeline.formats.labels import BONAFIDE, SPOOF


@dataclass(frozen=True)
class EER:
    """Equal error rate as a fraction in [0, 1], and the score threshold where it is reached
    (trials with ``score >= threshold`` are accepted as bona fide)."""

    eer: float
    threshold: float


# ----------------------------------------------------------------------------- input checks


def check_labels(labels) -> np.ndarray:
    """Return ``labels`` as a 1-D int8 array, or raise ValueError.

    Only the numbers 0 (bona fide) and 1 (spoof) are accepted (integers, or floats equal to
    them), and both classes must occur. Booleans are refused because ``True`` could mean
    either class; so is -1 (unlabelled clip).
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("labels are empty: metrics need bona fide (0) and spoof (1) trials")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(
            f"labels must be integers 0 (bona fide) or 1 (spoof), got dtype {arr.dtype}; "
            "map text labels ('bonafide'/'spoof') to 0/1 first"
        )
    bad = ~np.isin(arr, (BONAFIDE, SPOOF))
    if bad.any():
        examples = sorted({str(v) for v in arr[bad][:1000]})[:5]
        raise ValueError(
            f"labels must be 0 (bona fide) or 1 (spoof); {int(bad.sum())} trial(s) have other "
            f"values, e.g. {', '.join(examples)} (drop unlabelled trials, label -1, before scoring)"
        )
    out = arr.astype(np.int8)
    n_spoof = int(out.sum())
    if n_spoof == 0 or n_spoof == out.size:
        missing = "spoof (1)" if n_spoof == 0 else "bona fide (0)"
        raise ValueError(f"labels contain no {missing} trials: AUC and EER need both classes")
    return out


def check_scores(scores, n_trials: int, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a 1-D float64 array of length ``n_trials``, or raise ValueError."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers: {exc}") from exc
    if arr.ndim != 1 or arr.size != n_trials:
        raise ValueError(f"{name} must be one-dimensional with one score per label ({n_trials}), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
    return arr


def _checked(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = check_labels(labels)
    return labels, check_scores(scores, labels.size)


# ----------------------------------------------------------------------------- shared sweep


class SortedTrials:
    """One system's trials sorted by score once, with the index arithmetic that the weighted
    sweep needs; a bootstrap reuses it for every resample.

    Operating point ``g`` (0 <= g <= G, G = number of distinct scores) is the threshold
    ``distinct[g]``, and ``g = G`` is a threshold above every score. Because thresholds sit at
    distinct scores, trials tied at a score are always on the same side of a threshold.
    """

    def __init__(self, labels, scores):
        is_bona = labels == BONAFIDE
        self.bona_order = np.flatnonzero(is_bona)[np.argsort(scores[is_bona], kind="stable")]
        self.spoof_order = np.flatnonzero(~is_bona)[np.argsort(scores[~is_bona], kind="stable")]
        bona_sorted = scores[self.bona_order]
        spoof_sorted = scores[self.spoof_order]
        self.distinct = np.unique(scores)
        # Per operating point: how many trials of each class score strictly below it.
        self.bona_below_point = np.append(np.searchsorted(bona_sorted, self.distinct, side="left"), bona_sorted.size)
        self.spoof_below_point = np.append(np.searchsorted(spoof_sorted, self.distinct, side="left"), spoof_sorted.size)
        # Per bona fide trial (in bona_order): spoof trials below it, and below or tied with it.
        self.spoof_below_bona = np.searchsorted(spoof_sorted, bona_sorted, side="left")
        self.spoof_upto_bona = np.searchsorted(spoof_sorted, bona_sorted, side="right")

    @property
    def thresholds(self) -> np.ndarray:
        """Threshold of each operating point; the last is just above the highest score."""
        return np.append(self.distinct, np.nextafter(self.distinct[-1], np.inf))

    def auc_and_eer(self, bona_weight, spoof_weight):
        """AUC and EER for each row of trial weights (e.g. one row per bootstrap resample).

        ``bona_weight`` has shape (rows, bona fide trials) in ``bona_order``, ``spoof_weight``
        likewise; weights are trial multiplicities (integers, so the sums below are exact).
        Returns ``(auc, eer, upper_point, frac)``: the EER lies on the segment from operating
        point ``upper_point - 1`` to ``upper_point``, at fraction ``frac`` of the way.
        """
        rows = bona_weight.shape[0]
        cum_bona = np.zeros((rows, bona_weight.shape[1] + 1))
        cum_spoof = np.zeros((rows, spoof_weight.shape[1] + 1))
        np.cumsum(bona_weight, axis=1, out=cum_bona[:, 1:])
        np.cumsum(spoof_weight, axis=1, out=cum_spoof[:, 1:])
        bona_total, spoof_total = cum_bona[:, -1], cum_spoof[:, -1]
        # Mann-Whitney: each bona fide trial beats the spoof weight below it and half the ties.
        beaten_twice = cum_spoof[:, self.spoof_below_bona] + cum_spoof[:, self.spoof_upto_bona]
        auc = np.einsum("ij,ij->i", bona_weight, beaten_twice) / (2 * bona_total * spoof_total)

        row = np.arange(rows)

        def bona_below(point):
            return cum_bona[row, self.bona_below_point[point]]

        def crossing_gap(point):
            # (FRR - FAR) * bona_total * spoof_total, exact in integers: FRR = bona below / total,
            # FAR = 1 - spoof below / total. It rises from -bt*st at point 0 to +bt*st at G.
            spoof_below = cum_spoof[row, self.spoof_below_point[point]]
            return bona_below(point) * spoof_total + spoof_below * bona_total - bona_total * spoof_total

        # Vectorised bisection for the first point with FRR >= FAR (the gap never decreases).
        lower = np.zeros(rows, dtype=np.int64)
        upper = np.full(rows, self.distinct.size, dtype=np.int64)
        for _ in range(int(np.ceil(np.log2(self.distinct.size + 1))) + 1):
            middle = (lower + upper) // 2
            reached = crossing_gap(middle) >= 0
            upper = np.where(reached, middle, upper)
            lower = np.where(reached, lower, middle)
        gap_lower, gap_upper = crossing_gap(upper - 1), crossing_gap(upper)
        frac = -gap_lower / (gap_upper - gap_lower)
        # A weighted mean, so that frac == 1 gives the upper operating point's rate exactly.
        eer = ((1 - frac) * bona_below(upper - 1) + frac * bona_below(upper)) / bona_total
        return auc, eer, upper, frac


# ----------------------------------------------------------------------------- public metrics


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve for detecting bona fide trials:
    P(score of a bona fide trial > score of a spoof trial) + 0.5 * P(tie).

    Computed by ``sklearn.metrics.roc_auc_score`` with bona fide as the positive class.
    """
    labels, scores = _checked(labels, scores)
    return float(roc_auc_score(labels == BONAFIDE, scores))


def det_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operating points ``(far, frr, thresholds)`` for plotting a DET curve.

    One point per distinct score ``t`` (FAR = spoof share with ``score >= t``, FRR = bona fide
    share with ``score < t``), ascending in ``t``, plus a last point above every score
    (FAR 0, FRR 1). The first point is always FAR 1, FRR 0. On probit axes, clip the rates
    away from 0 and 1 before transforming.
    """
    labels, scores = _checked(labels, scores)
    trials = SortedTrials(labels, scores)
    n_bona, n_spoof = trials.bona_order.size, trials.spoof_order.size
    frr = trials.bona_below_point / n_bona
    far = (n_spoof - trials.spoof_below_point) / n_spoof
    return far, frr, trials.thresholds


def eer(labels, scores) -> EER:
    """Equal error rate, exactly where the miss and false-alarm curves cross.

    Both rates are evaluated at every distinct score ``t`` (FRR = bona fide share with
    ``score < t``, FAR = spoof share with ``score >= t``) and above the highest score. Along
    these points FRR - FAR rises from -1 to +1, strictly. If it is 0 at a point, the EER is the
    common rate there. Otherwise the EER is where the straight segment between the last point
    with FRR < FAR and the first with FRR > FAR meets the diagonal FRR = FAR (linear
    interpolation in the rates); ``threshold`` is interpolated between the two points'
    thresholds with the same weight. No deterministic threshold reaches an interpolated EER
    (any ``t`` between the two scores gives the upper point's rates): it is the rate of the
    randomised rule that mixes the two neighbouring operating points, and the reported
    threshold is nominal.

    Ties: trials with equal scores are always on the same side of a threshold, so a tie of
    bona fide and spoof trials is one step of the curve, never split in an arbitrary order.

    Relation to the ASVspoof reference (``compute_eer`` / ``compute_det_curve`` in the official
    evaluation packages of 2019, 2021 and ASVspoof 5): the reference sorts all scores (stable,
    bona fide first among ties), takes FRR/FAR after rejecting the first k sorted trials, picks
    the point with the smallest |FRR - FAR| and returns the mean of the two rates there,
    with threshold = k-th sorted score (rejecting ``score <= t``). Where an operating point has
    FRR == FAR exactly, both give the same EER. Otherwise the reference lands on one of the two
    points next to the crossing and the results differ by at most half a step: without ties,
    at most max(1/n_bonafide, 1/n_spoof) / 2. Deliberate differences: (1) interpolation instead
    of the nearest point, so the value does not jump with sample size; (2) tied scores of
    both classes are not split, where the reference's within-tie points depend on the order of
    its inputs; (3) our threshold accepts ``score >= t``.
    """
    labels, scores = _checked(labels, scores)
    trials = SortedTrials(labels, scores)
    _, rate, upper, frac = trials.auc_and_eer(
        np.ones((1, trials.bona_order.size)), np.ones((1, trials.spoof_order.size))
    )
    thresholds = trials.thresholds
    k, f = int(upper[0]), float(frac[0])
    threshold = (1 - f) * thresholds[k - 1] + f * thresholds[k]
    return EER(eer=float(rate[0]), threshold=float(threshold))


def per_attack_metrics(labels, scores, attacks) -> dict[str, dict]:
    """AUC and EER of each attack's spoof trials against all bona fide trials.

    ``attacks`` gives one attack name per trial (e.g. ``A07``); the names of bona fide trials
    are ignored. Returns ``{attack: {"auc", "eer", "n_spoof", "n_bonafide"}}`` sorted by attack
    name, with plain floats and ints.
    """
    labels, scores = _checked(labels, scores)
    attacks = np.asarray(attacks).astype(str)
    if attacks.shape != labels.shape:
        raise ValueError(f"attacks must give one name per trial ({labels.size}), got shape {attacks.shape}")
    is_bona = labels == BONAFIDE
    result = {}
    for attack in sorted(set(attacks[~is_bona])):
        keep = is_bona | (attacks == attack)
        result[attack] = {
            "auc": roc_auc(labels[keep], scores[keep]),
            "eer": eer(labels[keep], scores[keep]).eer,
            "n_spoof": int(keep.sum() - is_bona.sum()),
            "n_bonafide": int(is_bona.sum()),
        }
    return result
