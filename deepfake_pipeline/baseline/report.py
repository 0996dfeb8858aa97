"""What step 3 prints and writes once the numbers exist: the choice made on dev, per-attack
tables, the shortcut comparison, score files, ROC/DET/layer-sweep plots, metrics.json, and one
closing line per test split (printed last, so `tail` and `grep ROC-AUC` find them)."""

from dataclasses import dataclass, field

import numpy as np

from deepfake_pipeline.baseline import conditions
from deepfake_pipeline.evaluation import closing, metrics, paired, plots, recalibration, significance
from deepfake_pipeline.evaluation.field_metrics import per_condition
from deepfake_pipeline.evaluation.tdcf import official_eer


@dataclass
class TestResult:
    split: object  # SplitFeatures
    label: str  # name on the closing line, e.g. asvspoof2019_eval or dev(cv5)
    scores: np.ndarray
    summary: dict
    silence_scores: np.ndarray
    view_scores: dict = field(default_factory=dict)


def _pct(x):
    return "nan" if x is None else f"{100 * x:.2f}%"


def _view_name(split, key) -> str:
    layers = split.view_layers.get(key) or []
    if not layers:
        return key
    return f"layer {layers[0]}" if len(layers) == 1 else f"layers {'+'.join(map(str, layers))}"


def print_header(run, settings, fit_split, dev_split, tests, untrained, demo):
    """What is being run, printed before the long work starts."""
    model = fit_split.meta.get("model")
    features = settings.spec.describe() + (f" ({model})" if model and not settings.spec.model else "")
    lines = [f"[eval_logreg] run {run.name} -> {run.path}", f"[eval_logreg] features: {features}"]
    choose = "C and layer" if len(fit_split.views) > 1 else "C"
    if dev_split is not None:
        lines.append(
            f"[eval_logreg] protocol: fit on {fit_split.split_id} ({len(fit_split):,} clips), choose {choose} "
            f"on {dev_split.split_id} ({len(dev_split):,}), test on "
            f"{', '.join(f'{t.split_id} ({len(t):,})' for t in tests)}"
        )
    else:
        lines.append(
            f"[eval_logreg] protocol: {settings.folds}-fold cross-validation on {fit_split.split_id} "
            f"({len(fit_split):,} clips, {len(np.unique(fit_split.speakers)):,} speakers), grouped by "
            f"speaker; {choose} chosen by an inner grouped CV inside each fold's fitting part"
        )
        unknown = int(np.sum(fit_split.speakers == "-"))
        if unknown:
            lines.append(
                f"[eval_logreg] {unknown:,} clips have no speaker ('-'): they are kept together as one "
                "group, so they are never split between fitting and scoring"
            )
    run.print(*lines)
    notes = []
    if untrained:
        notes.append(
            "[eval_logreg] NOTE: the embeddings come from an UNTRAINED model: these numbers are a smoke "
            "test of the pipeline, not a detection result"
        )
    if demo:
        notes.append(
            "[eval_logreg] NOTE: the demo corpus is generated audio: these numbers say nothing about "
            "real spoofing attacks"
        )
    run.note(*notes)  # standard error, with the other notes


def _selection_lines(fit_split, selection, where, cv: bool):
    metric = "ROC-AUC" if selection.select_by == "auc" else "EER"
    if cv:
        heading = (
            f"[eval_logreg] model kept for --score: chosen by {where} on all of {fit_split.split_id} "
            f"(pooled out-of-fold {metric}):"
        )
    else:
        heading = f"[eval_logreg] selection on {where} ({metric}), fitted on {fit_split.split_id}:"
    lines = [heading]
    for key, C in selection.best_C.items():
        row = selection.row(key, C)
        flag = "  <- chosen" if key == selection.key else ""
        note = "" if row["converged"] else " (did not converge)"
        lines.append(
            f"  {_view_name(fit_split, key):<14} best C {C:<8g} ROC-AUC {row['auc']:.4f} "
            f"EER {_pct(row['eer'])}{note}{flag}"
        )
    chosen = selection.row(selection.key, selection.C)
    lines.append(
        f"[eval_logreg] chosen on {where}: {_view_name(fit_split, selection.key)}, C={selection.C:g} "
        f"({where} ROC-AUC {chosen['auc']:.4f}, EER {_pct(chosen['eer'])})"
    )
    return lines


def _shortcut(result, settings):
    """Silence-only metrics on the same trials, and whether the model clearly beats them:
    the cluster-bootstrap interval of AUC(model) - AUC(silence-only) lies above 0."""
    split = result.split
    silence = significance.summarize(split.labels, result.silence_scores, split.speakers, n_boot=0)
    entry = {
        "auc": silence["auc"],
        "eer": silence["eer"],
        "top_db": settings.top_db,
        "features": ["duration_s", "leading_silence_s", "trailing_silence_s"],
    }
    if settings.n_boot:
        diff, lo, hi = paired.paired_bootstrap_auc_diff(
            split.labels,
            result.silence_scores,
            result.scores,
            split.speakers,
            n_boot=settings.n_boot,
            seed=settings.seed,
        )
        entry.update(model_minus_silence_auc=diff, model_minus_silence_auc_ci=[lo, hi], clearly_beaten=bool(lo > 0))
    else:
        diff = result.summary["auc"] - silence["auc"]
        entry.update(model_minus_silence_auc=diff, model_minus_silence_auc_ci=None, clearly_beaten=None)
    return entry


def _shortcut_line(label, entry):
    ci = entry["model_minus_silence_auc_ci"]
    diff = f"model - silence-only ROC-AUC {entry['model_minus_silence_auc']:+.4f}"
    if ci is not None:
        diff += f" (95% CI {ci[0]:+.4f} to {ci[1]:+.4f})"
    line = (
        f"[eval_logreg] shortcut check test={label}: silence-only (duration + leading/trailing silence, "
        f"top_db {entry['top_db']:g}) ROC-AUC {entry['auc']:.4f} EER {_pct(entry['eer'])}; {diff}"
    )
    if entry["clearly_beaten"] is False:
        line += " -- WARNING: the model does not clearly beat the silence-only shortcut"
    return line


def _sweep(run, fit_split, selection, results, chosen_on, where, caveat):
    """Per-layer held-out metrics (each layer at its own best C) and the plot; None unless every
    view is a single layer and there are several."""
    keys = list(fit_split.views)
    if len(keys) < 2 or any(len(fit_split.view_layers[k]) != 1 for k in keys):
        return None
    layers = [fit_split.view_layers[k][0] for k in keys]
    rows: list = []
    series: dict = {}
    if chosen_on is not None:
        series[f"dev={chosen_on['split'].split_id}"] = {"auc": [], "eer": []}
    for result in results:
        series[f"test={result.label}"] = {"auc": [], "eer": []}
    for key, layer in zip(keys, layers, strict=True):
        row = {"layer": layer, "C": selection.best_C[key], "tests": {}}
        if chosen_on is not None:
            dev = chosen_on["split"]
            row["dev_auc"] = metrics.roc_auc(dev.labels, chosen_on["view_scores"][key])
            row["dev_eer"] = official_eer(dev.labels, chosen_on["view_scores"][key]).eer
            series[f"dev={dev.split_id}"]["auc"].append(row["dev_auc"])
            series[f"dev={dev.split_id}"]["eer"].append(row["dev_eer"])
        for result in results:
            scores = result.view_scores[key]
            auc, rate = metrics.roc_auc(result.split.labels, scores), official_eer(result.split.labels, scores).eer
            row["tests"][result.label] = {"auc": auc, "eer": rate}
            series[f"test={result.label}"]["auc"].append(auc)
            series[f"test={result.label}"]["eer"].append(rate)
        rows.append(row)
    chosen_layer = fit_split.view_layers[selection.key][0]
    silence = {
        f"test={r.label}": {
            "auc": metrics.roc_auc(r.split.labels, r.silence_scores),
            "eer": official_eer(r.split.labels, r.silence_scores).eer,
        }
        for r in results
    }
    plots.plot_layer_sweep(
        layers,
        series,
        chosen_layer,
        run.path / "layer_sweep.png",
        f"layer sweep, layer chosen on {where}: {chosen_layer}",
        caveat,
        references=silence,
        chosen_on=where,
    )
    return rows


def report_run(
    run,
    settings,
    fit_split,
    selection,
    results,
    untrained,
    demo,
    chosen_on=None,
    cv_choices=None,
    cv_fold_sizes=None,
    overlap=None,
) -> dict:
    """Print, plot and write everything about a finished run; returns the metrics.json payload.
    `demo`: whether the data the model was fitted or chosen on is the demo corpus; a test split
    that is itself demo data gets the caveat too."""
    where = "dev" if chosen_on is not None else f"{settings.folds}-fold grouped CV"
    caveat = closing.caveat_suffix(untrained, demo or any(r.split.demo for r in results))
    if cv_choices is not None:
        run.print(
            f"[eval_logreg] per fold, {'layer and ' if len(fit_split.views) > 1 else ''}C chosen by an "
            "inner grouped CV on the fitting part only:"
        )
        for choice in cv_choices:
            run.print(
                f"  fold {choice['fold']}: fit {choice['n_fit']:,} score {choice['n_score']:,} -> "
                f"{_view_name(fit_split, choice['view'])}, C={choice['C']:g}"
            )
    run.print(*_selection_lines(fit_split, selection, where, cv_choices is not None))
    payload = {
        "protocol": settings.protocol,
        "features": settings.spec.describe(),
        "feature_spec": {
            "kind": settings.spec.kind,
            "model": settings.spec.model,
            "layer": settings.spec.layer,
            "layers": settings.spec.layers,
            "sweep": settings.spec.sweep,
        },
        "untrained": untrained,
        "demo": demo or any(r.split.demo for r in results),
        "selection": {
            "by": selection.select_by,
            "on": where,
            "view": selection.key,
            "layers": fit_split.view_layers[selection.key],
            "C": selection.C,
            "table": selection.table,
        },
        "tests": {},
        "overlap": overlap,
    }
    if chosen_on is not None:
        dev_summary = chosen_on["summary"]
        run.write_scores(f"{chosen_on['split'].split_id}.dev", chosen_on["split"].utt_ids, chosen_on["scores"])
        payload["dev"] = {"split": chosen_on["split"].split_id, **dev_summary}
        payload["selection"]["silence_only_C"] = chosen_on["silence_C"]
        run.print(
            f"[eval_logreg] dev={chosen_on['split'].split_id} (used for the choice, not a test): ROC-AUC "
            f"{dev_summary['auc']:.4f} EER {_pct(dev_summary['eer'])}{closing.caveat_suffix(untrained, demo)}"
        )
    if cv_choices is not None:
        payload["cv"] = {"folds": settings.folds, "fold_sizes": cv_fold_sizes, "choices": cv_choices}

    closing_lines = []
    for result in results:
        split, summary = result.split, result.summary
        result_demo = demo or split.demo
        result_caveat = closing.caveat_suffix(untrained, result_demo)
        entry = _shortcut(result, settings)
        run.print(
            *closing.attack_table(summary.get("per_attack", {}), f"[eval_logreg] per attack, test={result.label}:")
        )
        summary["per_condition"] = {
            column: per_condition(split.labels, result.scores, values, column)
            for column, values in (split.conditions or {}).items()
        }
        for column, table in summary["per_condition"].items():
            run.print(*closing.attack_table(table, f"[eval_logreg] per {column}, test={result.label}:", column))
        run.print(_shortcut_line(result.label, entry))
        score_file = run.write_split_scores(split.split_id, split, result.scores)
        if chosen_on is not None and split.has_labels:  # affine calibration fitted on dev (issue 19)
            cal, llrs = recalibration.calibrate_split(
                chosen_on["split"].labels,
                chosen_on["scores"],
                split.labels,
                result.scores,
                split.speakers,
                summary.get("prior_log_odds"),
                seed=settings.seed,
            )
            run.write_scores(f"{split.split_id}.llr", split.utt_ids, llrs)
            run.print(recalibration.calibration_line(result.label, chosen_on["split"].split_id, cal, result_caveat))
            summary["calibration"] = cal
        curves = {"model": (split.labels, result.scores), "silence-only": (split.labels, result.silence_scores)}
        safe = score_file.stem
        plots.plot_roc(
            curves,
            run.path / f"roc_{safe}.png",
            f"ROC test={result.label}",
            result_caveat,
            speakers=split.speakers,
            bands=("model",),
            n_boot=min(settings.n_boot, plots.BAND_BOOT),
            seed=settings.seed,
        )
        plots.plot_det(curves, run.path / f"det_{safe}.png", f"DET test={result.label}", result_caveat)
        line = closing.closing_line_of(
            result.label, summary, entry["auc"], untrained, result_demo, left_out=split.left_out()
        )
        closing_lines.append(line)
        payload["tests"][result.label] = {
            "split": split.split_id,
            "untrained": untrained,
            "demo": result_demo,
            **summary,
            "silence_only": entry,
            "score_file": str(score_file.relative_to(run.path)),
            "closing_line": line,
        }
    degraded = conditions.condition_tables(results)  # test splits beside their derived copies
    if degraded:
        payload["conditions"] = degraded
        run.print(*conditions.table_lines(degraded, caveat))
    sweep = _sweep(run, fit_split, selection, results, chosen_on, where, caveat)
    if sweep is not None:
        payload["layer_sweep"] = sweep
    run.write_metrics(payload)
    run.print(
        f"[eval_logreg] wrote {run.path}: config.json, metrics.json, model.json + model.npz, scores/, plots, log.txt"
    )
    run.print(*closing_lines)
    return payload
