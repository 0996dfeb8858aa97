"""The field's own numbers for one set of CM scores, beside ROC-AUC: the official ASVspoof EER,
min t-DCF where the organisers' ASV scores exist, and the ASVspoof 5 metrics (minDCF, actDCF,
Cllr, minCllr). Where a number cannot be computed the result says why instead of holding one.

actDCF and Cllr judge scores as log-likelihood ratios. The logistic regressions of steps 3 and 4
output log posterior odds of bona fide under their training data's class balance; subtracting
that prior's log odds (`prior_log_odds`) gives the LLR. Without it these two are not reported."""

import numpy as np

from deepfake_pipeline.evaluation import calibration, tdcf
from deepfake_pipeline.formats.labels import BONAFIDE

NO_ASV = "no ASV scores for this corpus split"
# Conditions the evaluation packages break results down by. A spoof-only condition (the vocoder
# family that made a spoof) scores its spoofs against every bona fide trial; the others (codec,
# channel) hold for both classes, so each value is scored on its own trials only.
SPOOF_ONLY_CONDITIONS = ("vocoder", "attack_tag")
NOT_LLR = "scores are not log-likelihood ratios (training prior unknown)"


def prior_log_odds(training_labels) -> float:
    """log(P(bona fide) / P(spoof)) of a training split: what a logistic regression fitted on it
    adds to every score."""
    labels = np.asarray(training_labels)
    n_bona, n_spoof = int(np.sum(labels == BONAFIDE)), int(np.sum(labels != BONAFIDE))
    return float(np.log(n_bona / n_spoof))


def per_condition(labels, scores, values, column: str, asv=None) -> dict:
    """{value: {"n_bonafide", "n_spoof", "auc", "eer"}} of one condition column (official EER);
    a value lacking one of the classes gets None for both metrics. With `asv` (as for
    field_metrics) each row also gets "min_tdcf" and "min_tdcf_note", from the value's own ASV
    trials (condition_tdcf)."""
    from deepfake_pipeline.evaluation.condition_tdcf import per_condition_tdcf
    from deepfake_pipeline.evaluation.metrics import roc_auc

    labels, scores, values = np.asarray(labels), np.asarray(scores, dtype=np.float64), np.asarray(values).astype(str)
    is_bona = labels == BONAFIDE
    table = {}
    for value in sorted(set(values[~is_bona] if column in SPOOF_ONLY_CONDITIONS else values)):
        keep = (is_bona | (values == value)) if column in SPOOF_ONLY_CONDITIONS else values == value
        n_bona, n_spoof = int(np.sum(keep & is_bona)), int(np.sum(keep & ~is_bona))
        both = n_bona > 0 and n_spoof > 0
        table[value] = {
            "n_bonafide": n_bona,
            "n_spoof": n_spoof,
            "auc": roc_auc(labels[keep], scores[keep]) if both else None,
            "eer": tdcf.official_eer(labels[keep], scores[keep]).eer if both else None,
        }
    if asv is not None:
        for value, fields in per_condition_tdcf(labels, scores, values, column, asv).items():
            table[value].update(fields)
    return table


def field_metrics(labels, scores, asv=None, prior_log_odds=None) -> dict:
    """`asv`: (ASVScores, "2019" | "2021") from formats.asv_scores.load_asv_scores, or None."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    bona, spoof = scores[labels == BONAFIDE], scores[labels != BONAFIDE]
    official = tdcf.official_eer(labels, scores)
    out: dict = {
        "eer_official": official.eer,
        "eer_official_threshold": official.threshold,
        "min_dcf": calibration.min_dcf(labels, scores).dcf,
    }
    if asv is None:
        out.update(min_tdcf=None, min_tdcf_version=None, min_tdcf_note=NO_ASV)
    else:
        asv_scores, version = asv
        compute = tdcf.min_tdcf_2019 if version == "2019" else tdcf.min_tdcf_2021
        result = compute(bona, spoof, asv_scores.target, asv_scores.nontarget, asv_scores.spoof)
        out.update(min_tdcf=result.min_tdcf, min_tdcf_version=version, min_tdcf_note=None)
    if prior_log_odds is None:
        out.update(act_dcf=None, cllr=None, calibration_note=NOT_LLR)
    else:
        llr = scores - prior_log_odds
        out.update(
            act_dcf=calibration.act_dcf(labels, llr).dcf,
            cllr=calibration.cllr(labels, llr),
            calibration_note=None,
            prior_log_odds=prior_log_odds,
        )
    out["min_cllr"] = calibration.min_cllr(labels, scores)
    return out
