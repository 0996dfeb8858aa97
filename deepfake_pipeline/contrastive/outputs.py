"""What a contrastive run prints and writes once the numbers exist: training summaries, per-attack
tables, the silence-only shortcut check, score files, ROC/DET plots beside the baseline's curves,
metrics.json, then the closing lines: the step-3-style ROC-AUC line per test split (and seed),
and the verdict against the baseline. Both carry the untrained / demo caveats.

With several seeds every seed is scored and judged on its own (a seed-averaged score would be an
ensemble, a different system from the one the question asks about); a last line per test split
gives the mean and standard deviation over seeds and how many seeds meet the 1-point rule. Each
seed is also held against the silence-only shortcut by step 3's rule (evaluation/shortcut_rule.py:
the paired speaker-clustered interval of the AUC difference above 0), on a line of its own."""

import numpy as np

from deepfake_pipeline.baseline.protocols import asv_scores_for
from deepfake_pipeline.evaluation import closing, metrics, plots, shortcut_rule, significance, tandem
from deepfake_pipeline.evaluation.field_metrics import prior_log_odds
from deepfake_pipeline.evaluation.verdict import ONE_POINT_RULE, compare
from deepfake_pipeline.formats.run_dir import safe_run_name

PREFIX = "[train_contrastive]"


def header_lines(run, experiment, settings) -> list:
    baseline = experiment.baseline
    rep = settings.representation
    lines = [
        f"{PREFIX} run {run.name} -> {run.path}",
        f"{PREFIX} compared with the step-3 run {baseline.path} ({baseline.protocol})",
        f"{PREFIX} features: {baseline.model_spec}, {rep.describe()}; head {settings.hidden_dim}-unit MLP -> "
        f"L2-normalised {settings.out_dim}-d, SupCon over "
        f"{'bona fide + one class per attack' if settings.attack_classes else 'bona fide / spoof'}, "
        f"temperature {settings.train.temperature:g}; seeds {list(settings.seeds)}",
    ]
    return lines


def note_lines(experiment) -> list:
    """The caveats the run states before training (standard error, with the other notes)."""
    lines = []
    if experiment.untrained:
        lines.append(
            f"{PREFIX} NOTE: the embeddings come from an UNTRAINED model: these numbers are a smoke test "
            "of the pipeline, not a detection result"
        )
    if experiment.demo:
        lines.append(
            f"{PREFIX} NOTE: the demo corpus is generated audio: these numbers say nothing about real spoofing attacks"
        )
    return lines


def _training_lines(seed_result) -> list:
    lines = []
    for record in seed_result.training:
        where = f" fold {record['fold']}" if "fold" in record else ""
        lines.append(
            f"{PREFIX} seed {seed_result.seed}{where}: best epoch {record['best_epoch']} of {record['epochs_run']} "
            f"(dev centroid ROC-AUC {record['best_dev_centroid_auc']:.4f}"
            f"{', stopped early' if record['stopped_early'] else ''}); logistic regression C={record['logreg_C']:g}"
            + ("" if record["logreg_converged"] else " (did not converge)")
            + (
                ""
                if record["layer_weights"] is None
                else "; layer weights " + " ".join(f"{w:.2f}" for w in record["layer_weights"])
            )
        )
    return lines


def _choice_tag(baseline) -> str:
    """How the closing lines say the epoch and C were chosen (closing.closing_line's `chosen`)."""
    if baseline.protocol == "cv":
        return f"nested cv{baseline.folds} estimate: epoch and C chosen inside each fold"
    return f"epoch and C chosen on dev {baseline.dev}"


def _score_name(split_id: str, seed: int, n_seeds: int) -> str:
    """As step 3 names them (by split id), with the seed when there are several."""
    return split_id if n_seeds == 1 else f"{split_id}.seed{seed}"


def report_experiment(run, experiment, settings, config_summary: dict) -> dict:
    """Print, plot and write everything about a finished run; returns the metrics.json payload."""
    baseline, untrained, demo = experiment.baseline, experiment.untrained, experiment.demo
    caveat = closing.caveat_suffix(untrained, demo)
    n_seeds, n_boot, boot_seed = len(experiment.seeds), settings.n_boot, baseline.seed
    for seed_result in experiment.seeds:
        run.print(*_training_lines(seed_result))
    payload = {
        **config_summary,
        "untrained": untrained,
        "demo": demo,
        "baseline_run": str(baseline.path),
        "protocol": baseline.protocol,
        "seeds": list(settings.seeds),
        "one_point_rule": ONE_POINT_RULE,
        "training": {str(s.seed): s.training for s in experiment.seeds},
        "dev": {},
        "tests": {},
    }
    closing_lines, verdict_lines = [], []
    for seed_result in experiment.seeds:
        if seed_result.dev_scores is not None:
            dev = experiment.splits[baseline.dev]
            dev_auc = metrics.roc_auc(dev.labels, seed_result.dev_scores)
            payload["dev"][str(seed_result.seed)] = {"split": dev.split_id, "auc": dev_auc}
            run.print(
                f"{PREFIX} dev={dev.split_id} seed {seed_result.seed} (used for early stopping and C, not a "
                f"test): ROC-AUC {dev_auc:.4f}{caveat}"
            )
    fit_labels = experiment.splits[baseline.train if baseline.protocol == "holdout" else baseline.tests[0]].labels
    for split_id in baseline.tests:
        split, label = experiment.splits[split_id], baseline.test_labels[split_id]
        base, silence = experiment.baseline_scores[split_id], experiment.silence_scores[split_id]
        asv = asv_scores_for(split)
        silence_auc = metrics.roc_auc(split.labels, silence)
        entry = {
            "split": split_id,
            "baseline_auc": metrics.roc_auc(split.labels, base),
            "silence_only_auc": silence_auc,
            "per_seed": {},
        }
        curves = {"baseline (step 3)": (split.labels, base), "silence-only": (split.labels, silence)}
        for seed_result in experiment.seeds:
            seed, scores = seed_result.seed, seed_result.test_scores[split_id]
            summary = significance.summarize(
                split.labels,
                scores,
                split.speakers,
                attacks=split.attacks,
                n_boot=n_boot,
                seed=boot_seed,
                asv=asv,
                prior_log_odds=prior_log_odds(fit_labels),
            )
            verdict = compare(label, split.labels, split.speakers, base, scores, n_boot, boot_seed, asv=asv)
            score_file = run.write_split_scores(_score_name(split_id, seed, n_seeds), split, scores)
            run.print(
                *closing.attack_table(
                    summary.get("per_attack", {}), f"{PREFIX} per attack, test={label}, seed {seed}:{caveat}"
                )
            )
            where = label if n_seeds == 1 else f"{label} seed {seed}"
            run.print(tandem.record_split(where, split, scores, summary, caveat, PREFIX, asv))
            shortcut = shortcut_rule.shortcut_record(
                split.labels, silence, scores, split.speakers, n_boot, boot_seed, top_db=baseline.top_db
            )
            run.print(shortcut_rule.shortcut_line(PREFIX, where, shortcut, "contrastive system", caveat))
            line = closing.closing_line_of(
                label,
                summary,
                silence_auc,
                untrained,
                demo,
                left_out=split.left_out(),
                run=run.name,
                chosen=_choice_tag(baseline),
            )
            closing_lines.append(line)
            verdict_lines.append(
                verdict.line(untrained, demo, run=run.name)
                if n_seeds == 1
                else verdict.line(untrained, demo, name=f"contrastive seed {seed}", run=run.name)
            )
            entry["per_seed"][str(seed)] = {
                **summary,
                "silence_only": shortcut,
                "verdict": verdict.to_json(),
                "closing_line": line,
                "verdict_line": verdict_lines[-1],
                "score_file": str(score_file.relative_to(run.path)),
            }
            curves[f"contrastive{'' if n_seeds == 1 else f' seed {seed}'}"] = (split.labels, scores)
        safe = safe_run_name(split_id)
        # bands around the two systems the verdict compares (with several seeds, the baseline's only)
        bands = ("baseline (step 3)", "contrastive")
        plots.plot_roc(
            curves,
            run.path / f"roc_{safe}.png",
            f"ROC test={label}",
            caveat,
            speakers=split.speakers,
            bands=bands,
            n_boot=min(n_boot, plots.BAND_BOOT),
            seed=boot_seed,
        )
        plots.plot_det(curves, run.path / f"det_{safe}.png", f"DET test={label}", caveat)
        if n_seeds > 1:
            aucs = [s["auc"] for s in entry["per_seed"].values()]
            eers = [s["eer"] for s in entry["per_seed"].values()]
            diffs = [s["verdict"]["diff"] for s in entry["per_seed"].values()]
            meeting = sum(s["verdict"]["meets_rule"] for s in entry["per_seed"].values())
            entry.update(
                auc_mean=float(np.mean(aucs)),
                auc_std=float(np.std(aucs, ddof=1)),
                eer_mean=float(np.mean(eers)),
                eer_std=float(np.std(eers, ddof=1)),
                diff_mean=float(np.mean(diffs)),
                diff_std=float(np.std(diffs, ddof=1)),
                seeds_meeting_rule=meeting,
            )
            closing_lines.append(closing.seeds_closing_line(label, n_seeds, aucs, eers, run.name, untrained, demo))
            verdict_lines.append(
                f"contrastive vs baseline test={label} over {n_seeds} seeds: {entry['baseline_auc']:.4f} -> mean "
                f"{entry['auc_mean']:.4f}, {100 * entry['diff_mean']:+.2f} points (sd {100 * entry['diff_std']:.2f}); "
                f"{meeting}/{n_seeds} seeds meet the 1-point rule run={run.name}" + caveat
            )
        payload["tests"][label] = entry
    run.write_metrics(payload)
    run.print(f"{PREFIX} wrote {run.path}: config.json, metrics.json, seed_*/ checkpoints, scores/, plots, log.txt")
    run.print(*closing_lines, *verdict_lines)
    return payload
