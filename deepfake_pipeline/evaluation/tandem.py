"""Spoofing-aware verification: a CM and an ASV system judged together on the same trials, by
t-EER (Kinnunen et al., IEEE TPAMI 2023) and min a-DCF (Shim et al., Odyssey 2024), as the
ASVspoof 5 evaluation package computes them (asvspoof-challenge/asvspoof5, evaluation-package:
``calculate_aDCF_tdcf_tEER`` in calculate_metrics.py, ``compute_teer`` and
``compute_teer_accelerated`` in calculate_modules.py, a_dcf.py), quirks included.

Inputs: ASV trials, each with its key (target / nontarget / spoof), its ASV score and the CM
score of its test utterance. Only ASVspoof 2021 LA gives ASV trials with ids
(``ASVScores.trials``), so only there can each trial be joined to a CM score; the 2019 LA score
files carry no trial ids (no join, no guess), and the ASVspoof 5 reader is track 1 only.

- t-EER: the concurrent t-EER, the one operating point (ASV threshold, CM threshold) where the
  tandem's miss rate and both false-alarm rates (nontarget, spoof) are equal. The package sweeps
  every ASV threshold; for each it takes the CM threshold whose tandem miss and false alarm
  (spoof prior 0.5) are closest, keeps ASV thresholds with P_miss < mean(P_fa_non, P_fa_spoof),
  and reports P_fa_spoof_ASV * P_fa_CM at the one where P_fa_non_ASV / P_fa_spoof_ASV is closest
  to P_fa_CM / (1 - P_miss_CM). With 3000 or more points on both curves it first searches a
  decimated grid, then the 1600 points either side (``compute_teer_accelerated``, what it
  reports); ``accelerated=False`` searches every pair. The CM curve's bona fide class is the CM
  scores of the target and nontarget trials.
- a-DCF: the package takes ONE spoofing-aware (SASV) score per trial and sweeps one threshold.
  Its recipe for a CM + ASV pair (Tool-score-fusion) calibrates both on labelled dev tandem
  trials, which 2021 LA lacks (its dev set is 2019 LA's, whose ASV trials cannot be joined), so
  we form the package's linear fusion ``fuse_llr_linear``, score sum CM + ASV, uncalibrated:
  shifting either score leaves min a-DCF unchanged, rescaling one does not.
  Costs: those ``calculate_aDCF_tdcf_tEER`` uses (p_tar 0.95 * 0.99, p_non 0.95 * 0.01, p_spoof
  0.05, C_miss 1, C_fa_non 10, C_fa_spoof 10), not a_dcf.CostModel's paper defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.evaluation.field_metrics import NO_ASV
from deepfake_pipeline.evaluation.tdcf import P_SPOOF, class_scores, official_det_curve
from deepfake_pipeline.formats.asv_scores import load_asv_scores

KEYS = ("target", "nontarget", "spoof")
DECIMATED_SIZE = 3000  # compute_teer_accelerated's size_decimated
FINE_HALF_WIDTH = 1600  # its bin_width
_CHUNK = 4_000_000  # cells of the ASV x CM grid held at once
NO_TRIAL_IDS = (
    "the ASV scores of this split carry no trial ids (ASVspoof 2019 LA), so no trial can be joined to its CM score"
)
RHO = 0.5  # spoof prior of the tandem false alarm; any value gives the same concurrent t-EER


class TandemError(PipelineError, ValueError):
    """The trials cannot give a t-EER or a-DCF: ids that do not join, a missing class."""


@dataclass(frozen=True)
class CostsADCF:
    p_tar: float = (1 - P_SPOOF) * 0.99
    p_non: float = (1 - P_SPOOF) * 0.01
    p_spoof: float = P_SPOOF
    c_miss: float = 1
    c_fa_non: float = 10
    c_fa_spoof: float = 10


class MinADCF(NamedTuple):
    """Minimum normalised a-DCF and its SASV threshold (the highest rejected score)."""

    min_a_dcf: float
    threshold: float


class TEER(NamedTuple):
    """Concurrent t-EER as a fraction, and its ASV and CM thresholds (highest rejected)."""

    t_eer: float
    asv_threshold: float
    cm_threshold: float


@dataclass(frozen=True)
class TandemTrials:
    """ASV trials joined to CM scores, in ASV file order."""

    key: np.ndarray
    asv: np.ndarray
    cm: np.ndarray
    n_asv_trials: int  # ASV trials before the join
    n_without_cm: int  # of those, trials whose utterance had no CM score (left out)

    def of(self, key: str, which: str) -> np.ndarray:
        return getattr(self, which)[self.key == key]


def _classes(target, nontarget, spoof, what: str):
    return tuple(class_scores(v, f"{what} {k} scores") for v, k in zip((target, nontarget, spoof), KEYS, strict=True))


def min_a_dcf(sasv_target, sasv_nontarget, sasv_spoof, costs: CostsADCF = CostsADCF()) -> MinADCF:
    """``_calculate_a_dcf``: every sorted trial is a threshold, ties split in the order target,
    nontarget, spoof (a stable sort), normalised by the cheaper of accept-all and reject-all."""
    tar, non, spf = _classes(sasv_target, sasv_nontarget, sasv_spoof, "SASV")
    all_scores = np.concatenate([tar, non, spf])
    order = np.argsort(all_scores, kind="mergesort")
    cls = np.concatenate([np.zeros(tar.size, int), np.ones(non.size, int), np.full(spf.size, 2)])[order]
    frr = np.concatenate([[0.0], np.cumsum(cls == 0) / tar.size])
    far_non = np.concatenate([[1.0], (non.size - np.cumsum(cls == 1)) / non.size])
    far_spf = np.concatenate([[1.0], (spf.size - np.cumsum(cls == 2)) / spf.size])
    curve = (costs.c_miss * costs.p_tar) * frr + (costs.c_fa_non * costs.p_non) * far_non
    curve = curve + (costs.c_fa_spoof * costs.p_spoof) * far_spf
    curve = curve / min(costs.c_fa_non * costs.p_non + costs.c_fa_spoof * costs.p_spoof, costs.c_miss * costs.p_tar)
    thresholds = np.concatenate([[float(all_scores[order[0]]) - 1e-8], all_scores[order]])
    best = int(np.argmin(curve))
    return MinADCF(float(curve[best]), float(thresholds[best]))


def asv_curves(target, nontarget, spoof):
    """``compute_Pmiss_Pfa_Pspoof_curves``: (P_miss, P_fa_non, P_fa_spoof, thresholds)."""
    tar, non, spf = _classes(target, nontarget, spoof, "ASV")
    all_scores = np.concatenate([tar, non, spf])
    order = np.argsort(all_scores, kind="mergesort")
    cls = np.concatenate([np.zeros(tar.size, int), np.ones(non.size, int), np.full(spf.size, 2)])[order]
    pmiss = np.concatenate([[0.0], np.cumsum(cls == 0) / tar.size])
    pfa_non = np.concatenate([[1.0], 1 - np.cumsum(cls == 1) / non.size])
    pfa_spf = np.concatenate([[1.0], 1 - np.cumsum(cls == 2) / spf.size])
    thresholds = np.concatenate([[all_scores[order[0]] - 0.001], all_scores[order]])
    return pmiss, pfa_non, pfa_spf, thresholds


def _crossing(pmiss_cm, pfa_cm, pmiss_asv, pfa_non, pfa_spf):
    """``compute_teer`` on curve arrays: (t-EER fraction, ASV index, CM index), or None where
    no ASV threshold qualifies (the package then fails on an unset name)."""
    one_minus = 1 - pmiss_cm
    half_accept, half_fa = (1 - RHO) * one_minus, RHO * pfa_cm
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_cm = pfa_cm / one_minus
    best, found = np.inf, None
    rows = max(1, _CHUNK // pmiss_cm.size)
    for start in range(0, pmiss_asv.size, rows):
        sl = slice(start, start + rows)
        a, n, s = pmiss_asv[sl, None], pfa_non[sl, None], pfa_spf[sl, None]
        gap = (pmiss_cm + one_minus * a) - (half_accept * n + half_fa * s)
        cm_idx = np.argmin(np.abs(gap), axis=1)
        allowed = pmiss_asv[sl] < (1 - RHO) * pfa_non[sl] + RHO * pfa_spf[sl]
        with np.errstate(divide="ignore", invalid="ignore"):
            crit = np.abs(pfa_non[sl] / pfa_spf[sl] - ratio_cm[cm_idx])
        crit = np.where(allowed & ~np.isnan(crit), crit, np.inf)
        row = int(np.argmin(crit))
        if crit[row] < best:  # strict: the first row of the lowest criterion wins, as there
            best, found = crit[row], (start + row, int(cm_idx[row]))
    if found is None:
        return None
    i, j = found
    return float(pfa_spf[i] * pfa_cm[j]), i, j


def t_eer(cm_target, cm_nontarget, cm_spoof, asv_target, asv_nontarget, asv_spoof, accelerated: bool = True) -> TEER:
    """Concurrent t-EER of trials whose CM and ASV scores are given class by class, in the
    same trial order (the CM curve treats target and nontarget trials as bona fide)."""
    cm_tar, cm_non, cm_spf = _classes(cm_target, cm_nontarget, cm_spoof, "CM")
    pmiss_asv, pfa_non, pfa_spf, tau_asv = asv_curves(asv_target, asv_nontarget, asv_spoof)
    sizes = [np.size(v) for v in (asv_target, asv_nontarget, asv_spoof)]
    if sizes != [cm_tar.size, cm_non.size, cm_spf.size]:
        raise TandemError(
            f"CM and ASV scores must be of the same trials: CM has {cm_tar.size, cm_non.size, cm_spf.size}, "
            f"ASV {tuple(sizes)} (target, nontarget, spoof)"
        )
    pmiss_cm, pfa_cm, tau_cm = official_det_curve(np.concatenate([cm_tar, cm_non]), cm_spf)
    asv_range, cm_range = slice(None), slice(None)
    ds_asv, ds_cm = tau_asv.size // DECIMATED_SIZE, tau_cm.size // DECIMATED_SIZE
    if accelerated and ds_asv > 0 and ds_cm > 0:
        coarse = _crossing(
            pmiss_cm[::ds_cm], pfa_cm[::ds_cm], pmiss_asv[::ds_asv], pfa_non[::ds_asv], pfa_spf[::ds_asv]
        )
        if coarse is None:
            raise TandemError("no t-EER: no ASV threshold with fewer misses than false alarms")
        cen_asv, cen_cm = coarse[1] * ds_asv, coarse[2] * ds_cm
        asv_range = slice(max(cen_asv - FINE_HALF_WIDTH, 0), min(cen_asv + FINE_HALF_WIDTH, tau_asv.size))
        cm_range = slice(max(cen_cm - FINE_HALF_WIDTH, 0), min(cen_cm + FINE_HALF_WIDTH, tau_cm.size))
    found = _crossing(
        pmiss_cm[cm_range], pfa_cm[cm_range], pmiss_asv[asv_range], pfa_non[asv_range], pfa_spf[asv_range]
    )
    if found is None:
        raise TandemError("no t-EER: no ASV threshold with fewer misses than false alarms")
    value, i, j = found
    return TEER(value, float(tau_asv[asv_range][i]), float(tau_cm[cm_range][j]))


def sasv_score(cm, asv) -> np.ndarray:
    """The single SASV score of a CM + ASV trial: their sum (see the module docstring)."""
    return np.asarray(cm, dtype=np.float64) + np.asarray(asv, dtype=np.float64)


def join_trials(utt_ids, cm_scores, trials) -> TandemTrials:
    """Join ASV trials (an ``ASVScores.trials`` frame: columns trial, key, score) to a split's CM
    scores by utt_id. Refuses when no trial id is one of the split's utt_ids, when utt_ids
    repeat, or when a key class is left empty; ASV trials without a CM score are left out and
    counted in ``n_without_cm``."""
    utt_ids = np.asarray(utt_ids).astype(str)
    cm_scores = np.asarray(cm_scores, dtype=np.float64)
    if utt_ids.shape != cm_scores.shape:
        raise TandemError(f"{utt_ids.size} utt_ids but {cm_scores.size} CM scores")
    ids, counts = np.unique(utt_ids, return_counts=True)
    if np.any(counts > 1):
        raise TandemError(
            f"utt_ids repeat (e.g. {str(ids[counts > 1][0])!r}): an ASV trial could not name one CM score"
        )
    trial_ids = trials["trial"].to_numpy().astype(str)
    position = {utt: i for i, utt in enumerate(utt_ids)}
    index = np.array([position.get(t, -1) for t in trial_ids], dtype=np.int64)
    found = index >= 0
    if not found.any():
        raise TandemError(
            f"none of the {trial_ids.size:,} ASV trial ids (e.g. {str(trial_ids[0]) if trial_ids.size else '-'!r}) "
            f"is an utt_id of the split (e.g. {str(utt_ids[0]) if utt_ids.size else '-'!r}): these ASV scores are "
            "not of this split's utterances"
        )
    keys = trials["key"].to_numpy().astype(str)[found]
    missing = [k for k in KEYS if not np.any(keys == k)]
    if missing:
        raise TandemError(f"after the join no {' or '.join(missing)} trials are left: the tandem needs all three")
    return TandemTrials(
        key=keys,
        asv=trials["score"].to_numpy(dtype=np.float64)[found],
        cm=cm_scores[index[found]],
        n_asv_trials=int(trial_ids.size),
        n_without_cm=int(np.sum(~found)),
    )


def tandem_metrics(joined: TandemTrials, accelerated: bool = True) -> dict:
    """t-EER and min a-DCF of joined trials, with what they rest on."""
    (cm_tar, cm_non, cm_spf), (asv_tar, asv_non, asv_spf) = ([joined.of(k, w) for k in KEYS] for w in ("cm", "asv"))
    teer = t_eer(cm_tar, cm_non, cm_spf, asv_tar, asv_non, asv_spf, accelerated=accelerated)
    adcf = min_a_dcf(sasv_score(cm_tar, asv_tar), sasv_score(cm_non, asv_non), sasv_score(cm_spf, asv_spf))
    return {
        "t_eer": teer.t_eer,
        "min_a_dcf": adcf.min_a_dcf,
        "n_trials": int(joined.key.size),
        "n_without_cm": joined.n_without_cm,
        "sasv_score": "CM score + ASV score (uncalibrated sum)",
    }


def record_split(label: str, split, scores, summary: dict, caveat: str, prefix: str = "[eval_logreg]", asv=None) -> str:
    """The tandem numbers of one test split (``split``: anything with the split's ``utt_ids`` and
    ``info``), set in ``summary`` (``t_eer``, ``min_a_dcf``, ``tandem``: what they rest on, or None
    and ``tandem_note`` saying why), and its printed line, led by ``prefix`` (the script's tag).
    A split whose ASV trials do not join is noted, not fatal: the rest of the run stands. `asv`:
    the split's (ASVScores, version) when the caller has loaded them already (the 2021 keys hold
    about a million lines; step 4 asks once per seed); None reads them from info.json."""
    source = split.info.get("asv_scores")
    summary.update(t_eer=None, min_a_dcf=None, tandem=None, tandem_note=None)
    try:
        loaded = asv if asv is not None else load_asv_scores(source)
        if loaded is None:
            summary["tandem_note"] = NO_ASV
        elif loaded[0].trials is None:
            summary["tandem_note"] = NO_TRIAL_IDS
        else:
            metrics = tandem_metrics(join_trials(split.utt_ids, scores, loaded[0].trials))
            metrics["asv"] = {**source, "scores": "organisers'"}
            summary.update(t_eer=metrics.pop("t_eer"), min_a_dcf=metrics.pop("min_a_dcf"), tandem=metrics)
    except (FileNotFoundError, TandemError) as error:
        summary["tandem_note"] = str(error)
    if summary["tandem"] is None:
        return f"{prefix} tandem test={label}: no t-EER or a-DCF: {summary['tandem_note']}"
    tandem = summary["tandem"]
    left_out = f"; {tandem['n_without_cm']:,} ASV trials had no CM score, left out" if tandem["n_without_cm"] else ""
    return (
        f"{prefix} tandem test={label}: t-EER {100 * summary['t_eer']:.2f}% min a-DCF "
        f"{summary['min_a_dcf']:.4f} (ASV: organisers' scores, {tandem['n_trials']:,} trials{left_out}){caveat}"
    )
