"""What step 3 prints and writes once the numbers exist: the choice made on dev, per-attack
tables, the shortcut comparison, score files, ROC/DET/layer-sweep plots, metrics.json, and one
closing line per test split (printed last, so `tail` and `grep ROC-AUC` find them)."""

from dataclasses import dataclass, field

import numpy as np

from deepfake_pipeline.baseline import conditions
from deepfake_pipeline.baseline.choice import choice_tag, chosen_by, chosen_on_names, pct, selection_lines, view_name
from deepfake_pipeline.baseline.layer_sweep import layer_sweep
from deepfake_pipeline.baseline.shortcut import SILENCE_COLUMNS
from deepfake_pipeline.evaluation import closing, plots, recalibration, shortcut_rule, tandem
from deepfake_pipeline.evaluation.condition_tdcf import condition_grids, grid_lines
from deepfake_pipeline.evaluation.field_metrics import per_condition
from deepfake_pipeline.formats.score_files import silence_only_name


@dataclass
class TestResult:
    split: object  # SplitFeatures
    label: str  # name on the closing line, e.g. asvspoof2019_eval or dev(cv5)
    scores: np.ndarray
    summary: dict
    silence_scores: np.ndarray
    view_scores: dict = field(default_factory=dict)


def print_header(run, settings, fit_split, dev_split, tests, untrained, demo):
    """What is being run, printed before the long work starts."""
    model = fit_split.meta.get("model")
    features = settings.spec.describe() + (f" ({model})" if model and not settings.spec.model else "")
    lines = [f"[eval_logreg] run {run.name} -> {run.path}", f"[eval_logreg] features: {features}"]
    choose = "C and layer" if len(fit_split.views) > 1 else "C"
    if settings.protocol == "train_cv":
        lines.append(
            f"[eval_logreg] protocol: fit on {fit_split.split_id} ({len(fit_split):,} clips, "
            f"{len(np.unique(fit_split.speakers)):,} speakers), choose {choose} by {settings.folds}-fold "
            f"cross-validation on it grouped by speaker (no dev split: --dev cv), refit on all of it, test on "
            f"{', '.join(f'{t.split_id} ({len(t):,})' for t in tests)}"
        )
    elif dev_split is not None:
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
    if dev_split is None:
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


def _shortcut(result, settings):
    """Silence-only metrics on the same trials, and whether the model clearly beats them
    (evaluation/shortcut_rule.py, the rule steps 3 and 4 and fusions share)."""
    split = result.split
    return shortcut_rule.shortcut_record(
        split.labels,
        result.silence_scores,
        result.scores,
        split.speakers,
        n_boot=settings.n_boot,
        seed=settings.seed,
        top_db=settings.top_db,
        features=SILENCE_COLUMNS,
    )


def _shortcut_line(label, entry, caveat=""):
    return shortcut_rule.shortcut_line("[eval_logreg]", label, entry, "model", caveat)


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
    names: dict = chosen_on_names(chosen_on) if chosen_on is not None else {}
    where = names["where"] if names else f"{settings.folds}-fold grouped CV"
    caveat = closing.caveat_suffix(untrained, demo or any(r.split.demo for r in results))
    if cv_choices is not None:
        run.print(
            f"[eval_logreg] per fold, {'layer and ' if len(fit_split.views) > 1 else ''}C chosen by an "
            "inner grouped CV on the fitting part only:"
        )
        for choice in cv_choices:
            run.print(
                f"  fold {choice['fold']}: fit {choice['n_fit']:,} score {choice['n_score']:,} -> "
                f"{view_name(fit_split, choice['view'])}, C={choice['C']:g}"
            )
    run.print(*selection_lines(fit_split, selection, where, cv_choices is not None))
    payload = {
        "protocol": settings.protocol,
        "chosen_by": chosen_by(settings),
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
        run.write_scores(names["score_file"], chosen_on["split"].utt_ids, chosen_on["scores"])
        if chosen_on.get("cv_folds") is None:
            payload["dev"] = {"split": chosen_on["split"].split_id, **dev_summary}
        else:
            payload["train_cv"] = {"split": chosen_on["split"].split_id, "folds": chosen_on["cv_folds"], **dev_summary}
        payload["selection"]["silence_only_C"] = chosen_on["silence_C"]
        run.print(
            f"[eval_logreg] {names['line']}: ROC-AUC "
            f"{dev_summary['auc']:.4f} EER {pct(dev_summary['eer'])}{closing.caveat_suffix(untrained, demo)}"
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
            *closing.attack_table(
                summary.get("per_attack", {}), f"[eval_logreg] per attack, test={result.label}:{result_caveat}"
            )
        )
        asv = conditions.asv_of(split, summary)
        summary["per_condition"] = {
            column: per_condition(split.labels, result.scores, values, column, asv)
            for column, values in (split.conditions or {}).items()
        }
        for column, table in summary["per_condition"].items():
            run.print(
                *closing.attack_table(table, f"[eval_logreg] per {column}, test={result.label}:{result_caveat}", column)
            )
        grids = condition_grids(split.labels, result.scores, split.attacks, split.conditions or {}, asv)
        if grids:  # attack x condition, as the ASVspoof 2021 package's table
            summary["condition_grid"] = grids
        for column, grid in grids.items():
            title = f"[eval_logreg] attack x {column}, test={result.label} (EER %/min t-DCF):{result_caveat}"
            run.print(*grid_lines(grid, column, title))
        run.print(_shortcut_line(result.label, entry, result_caveat))
        score_file = run.write_split_scores(split.split_id, split, result.scores)
        # kept so that a fusion of this run can pair its own scores with these, trial by trial
        silence_file = run.write_scores(silence_only_name(split.split_id), split.utt_ids, result.silence_scores)
        entry["score_file"] = str(silence_file.relative_to(run.path))
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
            run.print(
                recalibration.calibration_line(
                    result.label, chosen_on["split"].split_id, cal, result_caveat, fitted_on=names["calibrated_on"]
                )
            )
            cal["fitted_on"] = names["calibrated_on"]
            summary["calibration"] = cal
        run.print(tandem.record_split(result.label, split, result.scores, summary, result_caveat, asv=asv))
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
            result.label,
            summary,
            entry["auc"],
            untrained,
            result_demo,
            left_out=split.left_out(),
            run=run.name,
            chosen=choice_tag(settings, fit_split),
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
    sweep = layer_sweep(run, fit_split, selection, results, chosen_on, where, caveat)
    if sweep is not None:
        payload["layer_sweep"] = sweep
    run.write_metrics(payload)
    run.print(
        f"[eval_logreg] wrote {run.path}: config.json, metrics.json, model.json + model.npz, scores/, plots, log.txt"
    )
    if cv_choices is not None:
        folds_chose = "/".join(view_name(fit_split, c["view"]).replace("layer ", "") for c in cv_choices)
        run.print(
            f"[eval_logreg] the result of this run is the nested {settings.folds}-fold estimate below: every score "
            "comes from a model that never saw that speaker, not even to choose C"
            + (f" (the folds chose layers {folds_chose})" if len(fit_split.views) > 1 else "")
            + "; the model kept for --score and the per-layer figures above are not estimates of it"
        )
    run.print(*closing_lines)
    return payload
