"""What `eval_logreg.py --score` says around its per-clip lines (issue 19, "honest --score"):
once at the top, what the run knows about its own model (untrained, demo corpus, its test
results, a shortcut it did not beat), what a score means and where the threshold came from (on
how many clips); at the end, how many clips were called which way; and, with `--out`, the
same as a CSV."""

import json
from pathlib import Path

import pandas as pd

from deepfake_pipeline.common import atomic

PREFIX = "[eval_logreg --score]"
CSV_COLUMNS = ["path", "score", "verdict", "threshold", "rejected"]


def _run_metrics(run_path: Path) -> dict:
    """The run's metrics.json, or {} (a run folder handed on without it still scores)."""
    try:
        return json.loads((Path(run_path) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def _threshold_clips(metrics: dict, bundle: dict) -> str:
    """How many bona fide / spoof clips the threshold rests on, from the run's own record."""
    protocol = metrics.get("protocol")
    record = metrics.get("dev") if protocol == "holdout" else metrics.get("train_cv")
    if protocol == "cv":
        record = next(iter(metrics.get("tests", {}).values()), None)
    if not record or "n_bonafide" not in record:
        return "on how many clips is not recorded"
    n_bona, n_spoof = int(record["n_bonafide"]), int(record["n_spoof"])
    few = " -- few: the threshold is rough" if min(n_bona, n_spoof) < 30 else ""
    return f"set on {n_bona + n_spoof:,} clips ({n_bona:,} bona fide, {n_spoof:,} spoof){few}"


def header_lines(run_path, bundle: dict) -> list:
    """The caveats and the meaning of the numbers, once, before the per-clip lines."""
    run_path = Path(run_path)
    metrics = _run_metrics(run_path)
    layers = bundle.get("layers") or []
    view = f"layer {layers[0]}" if len(layers) == 1 else (f"layers {'+'.join(map(str, layers))}" if layers else "")
    what = bundle["feature_spec"]["kind"] + (f" {bundle['feature_meta'].get('model')} {view}" if view else "")
    lines = [f"{PREFIX} model of run {run_path.name}: {what}, C={bundle['C']:g}, fitted on {bundle['fitted_on']}"]
    if bundle.get("untrained"):
        lines.append(
            f"{PREFIX} NOTE: the embeddings come from an UNTRAINED model: these scores are a smoke test of the "
            "pipeline, not detections"
        )
    if bundle.get("demo"):
        lines.append(
            f"{PREFIX} NOTE: the model was fitted on the demo corpus (generated audio): its scores say nothing "
            "about real spoofing attacks"
        )
    for label, test in (metrics.get("tests") or {}).items():
        auc = test.get("auc")
        lines.append(f"{PREFIX} that run's result on test={label}: ROC-AUC {'n/a' if auc is None else f'{auc:.4f}'}")
        silence = test.get("silence_only") or {}
        if silence.get("clearly_beaten") is False:
            lines.append(
                f"{PREFIX} WARNING: on test={label} the model did not clearly beat the silence-only shortcut "
                f"(silence-only ROC-AUC {silence.get('auc', float('nan')):.4f}): its scores may follow duration "
                "and silence, not spoofing"
            )
    lines.append(
        f"{PREFIX} score = the model's log-odds that a clip is bona fide (higher = more bona fide; not a "
        f"calibrated probability); -> bonafide when score >= {float(bundle['threshold']):.6f}, the "
        f"{bundle['threshold_source']}, {_threshold_clips(metrics, bundle)}"
    )
    return lines


def summary_line(rows: list) -> str:
    """`rows`: dicts with CSV_COLUMNS, scored clips and rejected ones."""
    scored = [r for r in rows if not r["rejected"]]
    bona = sum(r["verdict"] == "bonafide" for r in scored)
    rejected = len(rows) - len(scored)
    return f"{PREFIX} {len(scored):,} clips scored: {bona:,} -> bonafide, {len(scored) - bona:,} -> spoof" + (
        f"; {rejected:,} rejected (listed above)" if rejected else ""
    )


def write_csv(rows: list, path) -> Path:
    """The per-clip results as CSV, atomically (a killed run leaves no half-written file)."""
    return atomic.write_csv(pd.DataFrame(rows, columns=CSV_COLUMNS), Path(path))
