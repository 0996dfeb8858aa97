"""The ASVspoof organisers' own EER and tandem detection cost (t-DCF), to the digit.

Everything here reproduces the official evaluation packages (``eval_metrics.py`` of ASVspoof
2019 and 2021, ``calculate_modules.py`` of ASVspoof 5), including their quirks, so that a number
computed here can stand beside the published ones in a table:

- The DET sweep sorts all scores of both classes together with a stable sort, bona fide
  (target) scores first, and takes one operating point per rejected trial: point ``k`` rejects
  the ``k`` lowest sorted trials (``k = 0 .. n``). Tied scores of the two classes are therefore
  split, bona fide first, so a point inside a tie is not reachable by any threshold. This moves
  the EER (:func:`deepfake_pipeline.evaluation.metrics.eer` keeps ties together and
  interpolates; use it for analysis, and :func:`official_eer` for numbers that must match the
  official tools), but never a minimum cost: inside a tie the sweep first adds misses, then
  removes false alarms, so every point inside costs more than one of the tie's two ends, which
  are reachable. min t-DCF and minDCF are therefore the minima over real thresholds.
- Thresholds are theirs: ``threshold[k]`` is the ``k``-th lowest score (the highest rejected
  one; ``threshold[0]`` is the lowest score minus 0.001), so point ``k`` rejects ``score <=
  threshold[k]`` when there are no ties.
- The ASV operating point is the threshold of the official EER of target vs nontarget, and the
  ASV error rates are then taken accepting ``score >= threshold``, which also accepts the highest
  rejected trial of the sweep (``obtain_asv_error_rates``). This is reproduced as well.

Scores: higher = more bona fide (CM) or more target (ASV), as everywhere in this package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from deepfake_pipeline.evaluation.metrics import check_labels, check_scores
from deepfake_pipeline.formats.labels import BONAFIDE

P_SPOOF = 0.05  # the organisers' prior of a spoofing attack, 2019 to ASVspoof 5


class OfficialEER(NamedTuple):
    """EER as a fraction, and the organisers' threshold (the highest rejected score)."""

    eer: float
    threshold: float


class MinTDCF(NamedTuple):
    """Minimum normalised t-DCF over the CM operating points, and its CM threshold in the
    organisers' convention (the highest rejected CM score)."""

    min_tdcf: float
    threshold: float


@dataclass(frozen=True)
class ASVErrorRates:
    """Error rates of the ASV system at its fixed operating point, as fractions.

    ``pmiss_spoof`` and ``pfa_spoof`` are the shares of spoof trials the ASV rejects and accepts
    (they sum to 1; both are kept because the 2019 and 2021 formulas use one each, and
    ``1 - a`` is not always ``b`` to the last bit). ``threshold`` and ``eer`` are NaN for rates
    given by hand (e.g. the fixed ASVspoof 5 rates).
    """

    pfa: float
    pmiss: float
    pmiss_spoof: float
    pfa_spoof: float
    threshold: float = math.nan
    eer: float = math.nan


@dataclass(frozen=True)
class CostsTDCF2019:
    """The ASVspoof 2019 t-DCF cost model (Odyssey 2018 formulation; "legacy" in 2021)."""

    p_spoof: float = P_SPOOF
    p_tar: float = (1 - P_SPOOF) * 0.99
    p_non: float = (1 - P_SPOOF) * 0.01
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0


@dataclass(frozen=True)
class CostsTDCF2021:
    """The ASVspoof 2021 t-DCF cost model (revised t-DCF, Kinnunen et al., IEEE/ACM TASLP 2020)."""

    p_spoof: float = P_SPOOF
    p_tar: float = (1 - P_SPOOF) * 0.99
    p_non: float = (1 - P_SPOOF) * 0.01
    c_miss: float = 1.0
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0


# ----------------------------------------------------------------------------- official sweep


def class_scores(values, name: str) -> np.ndarray:
    """One class's scores as a non-empty, finite, 1-D float64 array, or ValueError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} are empty")
    return check_scores(arr, arr.size, name)


def official_det_curve(positive_scores, negative_scores):
    """``(frr, far, thresholds)`` of ``compute_det_curve``: one point per rejected trial.

    ``positive_scores``: bona fide (CM) or target (ASV) trials; ``negative_scores``: spoof or
    nontarget. Point ``k`` rejects the ``k`` lowest of all trials in a stable sort of the
    positives followed by the negatives. ``frr[0] = 0, far[0] = 1``; ``frr[n] = 1, far[n] = 0``.
    """
    pos = class_scores(positive_scores, "positive (bona fide / target) scores")
    neg = class_scores(negative_scores, "negative (spoof / nontarget) scores")
    all_scores = np.concatenate([pos, neg])
    order = np.argsort(all_scores, kind="mergesort")
    is_pos = order < pos.size
    pos_rejected = np.cumsum(is_pos)
    neg_accepted = neg.size - (np.arange(1, all_scores.size + 1) - pos_rejected)
    frr = np.concatenate([[0.0], pos_rejected / pos.size])
    far = np.concatenate([[1.0], neg_accepted / neg.size])
    sorted_scores = all_scores[order]
    thresholds = np.concatenate([[sorted_scores[0] - 0.001], sorted_scores])
    return frr, far, thresholds


def official_eer_from_classes(positive_scores, negative_scores) -> OfficialEER:
    """``compute_eer``: at the first point with the smallest ``|frr - far|``, their mean."""
    frr, far, thresholds = official_det_curve(positive_scores, negative_scores)
    k = int(np.argmin(np.abs(frr - far)))
    return OfficialEER(eer=float(np.mean((frr[k], far[k]))), threshold=float(thresholds[k]))


def official_eer(labels, scores) -> OfficialEER:
    """The official ASVspoof EER of labelled trials (0 = bona fide, 1 = spoof).

    Differs from :func:`deepfake_pipeline.evaluation.metrics.eer` by up to half a step (no
    interpolation) and where bona fide and spoof scores tie (see the module docstring).
    """
    labels = check_labels(labels)
    scores = check_scores(scores, labels.size)
    is_bona = labels == BONAFIDE
    return official_eer_from_classes(scores[is_bona], scores[~is_bona])


def asv_error_rates(target, nontarget, spoof) -> ASVErrorRates:
    """ASV rates at the official EER threshold of ``target`` vs ``nontarget`` scores, accepting
    ``score >= threshold`` as ``obtain_asv_error_rates`` does."""
    target = class_scores(target, "ASV target scores")
    nontarget = class_scores(nontarget, "ASV nontarget scores")
    spoof = class_scores(spoof, "ASV spoof scores")
    eer_asv, threshold = official_eer_from_classes(target, nontarget)
    return ASVErrorRates(
        pfa=int(np.sum(nontarget >= threshold)) / nontarget.size,
        pmiss=int(np.sum(target < threshold)) / target.size,
        pmiss_spoof=int(np.sum(spoof < threshold)) / spoof.size,
        pfa_spoof=int(np.sum(spoof >= threshold)) / spoof.size,
        threshold=threshold,
        eer=eer_asv,
    )


# ----------------------------------------------------------------------------- t-DCF


def _check_priors(costs) -> None:
    priors = (costs.p_tar, costs.p_non, costs.p_spoof)
    if min(priors) < 0 or abs(sum(priors) - 1) > 1e-10:
        raise ValueError(f"priors p_tar, p_non, p_spoof must be >= 0 and sum to 1, got {priors}")


def require_soft_scores(n_distinct: int) -> None:
    """ValueError unless the CM scores take at least 3 distinct values."""
    if n_distinct < 3:
        raise ValueError(
            "the CM scores take fewer than 3 distinct values: t-DCF needs soft scores, not "
            "decisions (the official packages refuse them too)"
        )


def _cm_curve(bonafide_cm, spoof_cm):
    frr, far, thresholds = official_det_curve(bonafide_cm, spoof_cm)
    require_soft_scores(np.unique(thresholds[1:]).size)
    return frr, far, thresholds


@dataclass(frozen=True)
class TDCFWeights:
    """The constants of one normalised t-DCF curve, fixed by the ASV rates and the costs:
    ``(C1 Pmiss_cm + C2 Pfa_cm) / norm`` (2019, ``c0`` None) or ``(C0 + C1 Pmiss_cm + C2 Pfa_cm)
    / norm`` (2021). :meth:`normalised` is the one place either is evaluated."""

    c1: float
    c2: float
    norm: float
    c0: float | None = None

    def normalised(self, pmiss_cm, pfa_cm):
        """The normalised t-DCF at CM miss and false-alarm rates (floats or arrays), with the
        official packages' order of operations. It never decreases when ``pmiss_cm`` grows or
        ``pfa_cm`` shrinks, in floating point too (every weight is >= 0 and each operation
        rounds monotonically), which :mod:`.resampled_tdcf` relies on."""
        if self.c0 is None:
            return (self.c1 * pmiss_cm + self.c2 * pfa_cm) / self.norm
        return (self.c0 + self.c1 * pmiss_cm + self.c2 * pfa_cm) / self.norm


def tdcf_weights_2019(asv: ASVErrorRates, costs=CostsTDCF2019()) -> TDCFWeights:
    """C1, C2 and the normaliser min(C1, C2) of :func:`tdcf_curve_2019`, or ValueError."""
    _check_priors(costs)
    c1 = costs.p_tar * (costs.c_miss_cm - costs.c_miss_asv * asv.pmiss) - (costs.p_non * costs.c_fa_asv * asv.pfa)
    c2 = costs.c_fa_cm * costs.p_spoof * (1 - asv.pmiss_spoof)
    if c1 < 0 or c2 < 0:
        raise ValueError(f"t-DCF weights must not be negative (C1={c1}, C2={c2}): check the ASV rates")
    if min(c1, c2) == 0:
        raise ValueError(f"t-DCF normaliser min(C1, C2) is 0 (C1={c1}, C2={c2}): the t-DCF is undefined")
    return TDCFWeights(c1=c1, c2=c2, norm=min(c1, c2))


def tdcf_weights_2021(asv: ASVErrorRates, costs=CostsTDCF2021()) -> TDCFWeights:
    """C0, C1, C2 and the normaliser C0 + min(C1, C2) of :func:`tdcf_curve_2021`, or ValueError."""
    _check_priors(costs)
    c0 = costs.p_tar * costs.c_miss * asv.pmiss + costs.p_non * costs.c_fa * asv.pfa
    c1 = costs.p_tar * costs.c_miss - c0
    c2 = costs.p_spoof * costs.c_fa_spoof * asv.pfa_spoof
    if c0 < 0 or c1 < 0 or c2 < 0:
        raise ValueError(f"t-DCF weights must not be negative (C0={c0}, C1={c1}, C2={c2})")
    default = c0 + min(c1, c2)
    if default == 0:
        raise ValueError("t-DCF normaliser C0 + min(C1, C2) is 0: the t-DCF is undefined")
    return TDCFWeights(c1=c1, c2=c2, norm=default, c0=c0)


def tdcf_curve_2019(bonafide_cm, spoof_cm, asv: ASVErrorRates, costs=CostsTDCF2019()):
    """Normalised ASVspoof 2019 t-DCF at every official CM operating point: ``(tdcf, thresholds)``.

    ``t-DCF(s) = C1 Pmiss_cm(s) + C2 Pfa_cm(s)``, divided by ``min(C1, C2)`` (the cost of the
    better of the two trivial CMs that accept or reject everything), with
    ``C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv`` and
    ``C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)``. A perfect CM scores 0.
    """
    weights = tdcf_weights_2019(asv, costs)
    pmiss_cm, pfa_cm, thresholds = _cm_curve(bonafide_cm, spoof_cm)
    return weights.normalised(pmiss_cm, pfa_cm), thresholds


def tdcf_curve_2021(bonafide_cm, spoof_cm, asv: ASVErrorRates, costs=CostsTDCF2021()):
    """Normalised revised (ASVspoof 2021) t-DCF at every official CM operating point.

    ``t-DCF(s) = C0 + C1 Pmiss_cm(s) + C2 Pfa_cm(s)``, divided by ``C0 + min(C1, C2)`` (the
    t-DCF of the better trivial CM), with ``C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv``,
    ``C1 = Ptar Cmiss - C0`` and ``C2 = Pspoof Cfa_spoof Pfa_spoof_asv``. A perfect CM scores
    ``C0 / (C0 + min(C1, C2))``, the cost the ASV alone cannot avoid.
    """
    weights = tdcf_weights_2021(asv, costs)
    pmiss_cm, pfa_cm, thresholds = _cm_curve(bonafide_cm, spoof_cm)
    return weights.normalised(pmiss_cm, pfa_cm), thresholds


def _minimum(curve, thresholds) -> MinTDCF:
    k = int(np.argmin(curve))
    return MinTDCF(min_tdcf=float(curve[k]), threshold=float(thresholds[k]))


def min_tdcf_2019(bonafide_cm, spoof_cm, asv_target, asv_nontarget, asv_spoof, costs=CostsTDCF2019()) -> MinTDCF:
    """ASVspoof 2019 min t-DCF of a CM in tandem with an ASV given by its scores
    (``evaluate_tDCF_asvspoof19.py``; ``compute_tDCF_legacy`` in the 2021 package)."""
    asv = asv_error_rates(asv_target, asv_nontarget, asv_spoof)
    return _minimum(*tdcf_curve_2019(bonafide_cm, spoof_cm, asv, costs))


def min_tdcf_2021(bonafide_cm, spoof_cm, asv_target, asv_nontarget, asv_spoof, costs=CostsTDCF2021()) -> MinTDCF:
    """ASVspoof 2021 (revised) min t-DCF of a CM in tandem with an ASV given by its scores
    (``compute_tDCF`` of the 2021 package, as its ``evaluate.py`` calls it)."""
    asv = asv_error_rates(asv_target, asv_nontarget, asv_spoof)
    return _minimum(*tdcf_curve_2021(bonafide_cm, spoof_cm, asv, costs))
