"""The one rule by which steps 3 and 4 and a fusion judge the silence-only shortcut, and the line
each prints about it.

The shortcut is a logistic regression on three numbers per clip (duration, leading and trailing
silence; baseline/shortcut.py). A system clearly beats it when the 95% speaker-clustered paired
bootstrap interval of AUC(system) - AUC(silence-only), both scored on the same trials and
resampled by the same clusters, lies above 0 (lower bound > 0). Without resamples (n_boot 0)
there is no interval: the plain difference is recorded and the rule says neither yes nor no."""

from deepfake_pipeline.evaluation import paired
from deepfake_pipeline.evaluation.metrics import roc_auc
from deepfake_pipeline.evaluation.significance import summarize

SILENCE_FEATURES = ("duration_s", "leading_silence_s", "trailing_silence_s")
WARNING = "WARNING: the {system} does not clearly beat the silence-only shortcut"


def shortcut_record(
    labels, silence_scores, system_scores, groups, n_boot: int, seed: int, top_db, features=SILENCE_FEATURES
) -> dict:
    """{auc, eer, top_db, features, model_minus_silence_auc, model_minus_silence_auc_ci,
    clearly_beaten}: the silence-only scores' own ROC-AUC and official EER, and the system against
    them on the same trials. `model_minus_silence_auc_ci` is [lo, hi] and `clearly_beaten` is
    lo > 0; both are None when n_boot is 0."""
    silence = summarize(labels, silence_scores, groups, n_boot=0)
    entry = {
        "auc": silence["auc"],
        "eer": silence["eer"],
        "top_db": top_db,
        "features": list(features),
    }
    if n_boot:
        diff, lo, hi = paired.paired_bootstrap_auc_diff(
            labels, silence_scores, system_scores, groups, n_boot=n_boot, seed=seed
        )
        entry.update(model_minus_silence_auc=diff, model_minus_silence_auc_ci=[lo, hi], clearly_beaten=bool(lo > 0))
    else:
        diff = roc_auc(labels, system_scores) - silence["auc"]
        entry.update(model_minus_silence_auc=diff, model_minus_silence_auc_ci=None, clearly_beaten=None)
    return entry


def _pct(x) -> str:
    return "nan" if x is None else f"{100 * x:.2f}%"


def shortcut_line(prefix: str, label: str, entry: dict, system: str = "model", caveat: str = "", source="") -> str:
    """`<prefix> shortcut check test=<label>: silence-only (...) ROC-AUC .. EER ..; <system> -
    silence-only ROC-AUC +d (95% CI lo to hi)`, then ` -- WARNING: ...` when the system does not
    clearly beat the shortcut, then `caveat` (closing.caveat_suffix). `source`: where the
    silence-only scores came from, when not from this run (a fusion names the input run)."""
    ci = entry["model_minus_silence_auc_ci"]
    diff = f"{system} - silence-only ROC-AUC {entry['model_minus_silence_auc']:+.4f}"
    if ci is not None:
        diff += f" (95% CI {ci[0]:+.4f} to {ci[1]:+.4f})"
    top_db = entry.get("top_db")
    setting = "" if top_db is None else f", top_db {top_db:g}"
    line = (
        f"{prefix} shortcut check test={label}: silence-only (duration + leading/trailing silence{setting}"
        f"{f', {source}' if source else ''}) ROC-AUC {entry['auc']:.4f} EER {_pct(entry.get('eer'))}; {diff}"
    )
    if entry["clearly_beaten"] is False:
        line += " -- " + WARNING.format(system=system)
    return line + caveat
