"""The silence-only shortcut check of a fusion, by the rule steps 3 and 4 apply
(evaluation/shortcut_rule.py): the paired speaker-clustered interval of AUC(fusion) -
AUC(silence-only) on the fused trials, against the per-trial silence-only scores an input run kept
(scores/<split>.silence_only.txt). With several such inputs the strongest shortcut (highest
silence-only AUC) is the one held against the fusion; its scores are copied into the fusion's
folder, so a fusion of this fusion finds them too.

Runs written before those files existed keep the shortcut's AUC only: then the fusion is held
against the highest recorded AUC without an interval (a plain loss counts, nothing else), and
the line says so."""

from __future__ import annotations

from deepfake_pipeline.evaluation.shortcut_rule import SILENCE_FEATURES, shortcut_line, shortcut_record
from deepfake_pipeline.formats.score_files import silence_only_name
from deepfake_pipeline.fusion.inputs import aligned

PREFIX = "[fuse_runs]"
PAIRED = "paired"
AUC_COMPARISON = "auc_comparison"


def _recorded(run, label: str) -> dict:
    return run.metrics["tests"][label].get("silence_only") or {}


def silence_only(run, split, runs: list, fused_auc: float, n_boot: int, seed: int) -> dict:
    """The record of the fusion against the strongest silence-only shortcut of its inputs on
    this split (`rule`: paired or auc_comparison; `from_run`: the input it came from)."""
    trials, label = split.trials, split.label
    kept = [r for r in runs if label in r.silence_scores and _recorded(r, label).get("auc") is not None]
    if kept:
        source = max(kept, key=lambda r: _recorded(r, label)["auc"])
        recorded = _recorded(source, label)
        silence = aligned(source.silence_scores[label], trials.utt_ids)
        entry = shortcut_record(
            trials.labels,
            silence,
            split.fused,
            trials.speakers,
            n_boot,
            seed,
            top_db=recorded.get("top_db"),
            features=recorded.get("features") or SILENCE_FEATURES,
        )
        path = run.write_scores(silence_only_name(trials.split_id), trials.utt_ids, silence)
        return {**entry, "from_run": source.name, "rule": PAIRED, "score_file": str(path.relative_to(run.path))}
    recorded_runs = [r for r in runs if _recorded(r, label).get("auc") is not None]
    if not recorded_runs:
        return {"auc": None, "from_run": None, "clearly_beaten": None, "model_minus_silence_auc": None, "rule": None}
    source = max(recorded_runs, key=lambda r: _recorded(r, label)["auc"])
    recorded = _recorded(source, label)
    return {
        "auc": recorded["auc"],
        "eer": recorded.get("eer"),
        "top_db": recorded.get("top_db"),
        "features": recorded.get("features"),
        "from_run": source.name,
        "model_minus_silence_auc": fused_auc - recorded["auc"],
        "model_minus_silence_auc_ci": None,
        "clearly_beaten": False if fused_auc <= recorded["auc"] else None,
        "rule": AUC_COMPARISON,
    }


def line(label: str, entry: dict, warned_inputs: list, caveat: str) -> str:
    """The fusion's `shortcut check` line, as step 3 prints it, then every input's own warning."""
    if entry["auc"] is None:
        text = f"{PREFIX} shortcut check test={label}: no input run recorded a silence-only AUC"
    elif entry["rule"] == PAIRED:
        text = shortcut_line(PREFIX, label, entry, "fusion", source=f"scores of {entry['from_run']}")
    else:
        text = (
            f"{PREFIX} shortcut check test={label}: silence-only ROC-AUC {entry['auc']:.4f} (measured by "
            f"{entry['from_run']}; no input run kept per-trial silence-only scores, runs older than "
            f"scores/<split>.silence_only.txt, so AUC comparison only, no paired interval); fusion - silence-only "
            f"ROC-AUC {entry['model_minus_silence_auc']:+.4f}"
        )
        if entry["clearly_beaten"] is False:
            text += " -- WARNING: the fusion does not beat the silence-only shortcut"
    if warned_inputs:
        text += f" -- WARNING: {', '.join(warned_inputs)} did not clearly beat the silence-only shortcut"
    return text + caveat
