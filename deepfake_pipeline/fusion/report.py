"""What a fusion prints and writes, in the shapes of step 3's runs: per-attack and per-condition
tables, the shortcut and calibration lines, score files in every format step 3 writes, ROC/DET
plots beside the inputs' curves, fusion.json (the weights), metrics.json (a step-3 run's metric
keys per test split), then the closing lines and the verdict of the fusion against each input run
on each test split (step 4's paired speaker-clustered bootstrap and DeLong test).

The fused scores are LLRs by construction, so actDCF and Cllr read them as they are (prior log
odds 0); the calibration line refits an affine calibration on the same dev trials, which finds
(nearly) the identity, and says so in numbers.

The silence-only shortcut is judged by step 3's paired rule against the per-trial silence-only
scores an input kept (fusion/shortcut.py; an AUC comparison for older inputs), and every input's
own shortcut warning is repeated."""

from __future__ import annotations

import hashlib

from deepfake_pipeline.evaluation import closing, plots, recalibration, significance, tandem
from deepfake_pipeline.evaluation.condition_tdcf import condition_grids, grid_lines
from deepfake_pipeline.evaluation.field_metrics import per_condition
from deepfake_pipeline.evaluation.verdict import ALPHA, ONE_POINT, compare
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.run_dir import write_json
from deepfake_pipeline.fusion import shortcut

PREFIX = "[fuse_runs]"
VERDICT_RULE = (
    f"AUC(fusion) - AUC(input run) >= +{100 * ONE_POINT:.2f} point on the same trials, its 95% paired "
    f"speaker-clustered bootstrap CI above 0, and DeLong p < {ALPHA:g}"
)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pct(x) -> str:
    return "nan" if x is None else f"{100 * x:.2f}%"


def input_records(fusion) -> list:
    return [
        {
            "name": run.name,
            "path": str(run.path),
            "kind": run.kind,
            "config_sha256": _sha256(run.path / "config.json"),
            "metrics_sha256": _sha256(run.path / "metrics.json"),
        }
        for run in fusion.runs
    ]


def config_features(fusion) -> dict:
    """config.json's record per split, in the shape step 3 writes the parts a fusion reads back
    (manifest_sha256), so that a fusion can itself be fused."""
    out = {}
    for split in (fusion.dev, *fusion.tests):
        trials = split.trials
        out[trials.split_id] = {
            "split_id": trials.split_id,
            "num_clips": len(trials.utt_ids),
            "num_bonafide": int((trials.labels == 0).sum()),
            "num_spoof": int((trials.labels == 1).sum()),
            "manifest_sha256": fusion.runs[0].manifests[trials.split_id],
            "untrained": fusion.untrained,
            "demo": fusion.demo or trials.demo,
            "split_info": trials.info,
        }
    return out


def header_lines(run, fusion) -> tuple:
    """(what is being run, for standard output; the caveats, notes for standard error)."""
    model = fusion.model
    lines = [
        f"{PREFIX} run {run.name} -> {run.path}",
        f"{PREFIX} fusing {', '.join(f'{r.name} ({r.kind})' for r in fusion.runs)}: fitted on dev="
        f"{fusion.dev.trials.split_id} ({model.n_trials:,} trials: {model.n_bonafide:,} bona fide, "
        f"{model.n_spoof:,} spoof), applied to {', '.join(f'{s.label} ({len(s.fused):,})' for s in fusion.tests)}",
    ]
    notes = []
    if fusion.untrained:
        names = ", ".join(r.name for r in fusion.runs if r.untrained)
        notes.append(
            f"{PREFIX} NOTE: {names} {'rests' if ', ' not in names else 'rest'} on an UNTRAINED model: the "
            "fusion's numbers are a smoke test of the pipeline, not a detection result"
        )
    if fusion.demo:
        notes.append(
            f"{PREFIX} NOTE: the demo corpus is generated audio: these numbers say nothing about real spoofing attacks"
        )
    return lines, notes


def weights_line(fusion, caveat: str) -> str:
    model = fusion.model
    terms = " ".join(f"{w:+.6g} * {name}" for name, w in zip(model.systems, model.weights, strict=True))
    line = (
        f"{PREFIX} fusion (prior-weighted logistic regression on dev, target prior {model.target_prior:.4f} "
        f"bona fide): llr = {terms} {model.bias:+.6g}{caveat}"
    )
    if not model.converged:
        line += " -- WARNING: the fit did not converge; the weights may be off"
    return line


def _test_entry(run, fusion, split, n_boot: int, seed: int, note) -> tuple:
    """(metrics.json entry, closing line, verdict lines) of one test split."""
    trials, untrained = split.trials, fusion.untrained
    demo = fusion.demo or trials.demo
    caveat = closing.caveat_suffix(untrained, demo)
    asv = trials.asv(note)
    summary = significance.summarize(
        trials.labels,
        split.fused,
        trials.speakers,
        attacks=trials.attacks,
        n_boot=n_boot,
        seed=seed,
        asv=asv,
        prior_log_odds=0.0,  # the fused scores are LLRs
    )
    run.print(*closing.attack_table(summary.get("per_attack", {}), f"{PREFIX} per attack, test={split.label}:{caveat}"))
    summary["per_condition"] = {
        column: per_condition(trials.labels, split.fused, values, column, asv)
        for column, values in trials.conditions.items()
    }
    for column, table in summary["per_condition"].items():
        run.print(*closing.attack_table(table, f"{PREFIX} per {column}, test={split.label}:{caveat}", column))
    grids = condition_grids(trials.labels, split.fused, trials.attacks, trials.conditions, asv)
    if grids:  # attack x condition, as step 3 records it
        summary["condition_grid"] = grids
    for column, grid in grids.items():
        run.print(
            *grid_lines(grid, column, f"{PREFIX} attack x {column}, test={split.label} (EER %/min t-DCF):{caveat}")
        )
    run.print(tandem.record_split(split.label, trials, split.fused, summary, caveat, PREFIX, asv))
    silence = shortcut.silence_only(run, split, fusion.runs, summary["auc"], n_boot, seed)
    warned = [r.name for r in fusion.runs if split.label in r.shortcut_warnings]
    run.print(shortcut.line(split.label, silence, warned, caveat))
    score_file = run.write_split_scores(trials.split_id, trials, split.fused)
    cal, llrs = recalibration.calibrate_split(
        fusion.dev.trials.labels, fusion.dev.fused, trials.labels, split.fused, trials.speakers, seed=seed
    )
    run.write_scores(f"{trials.split_id}.llr", trials.utt_ids, llrs)
    run.print(
        recalibration.calibration_line(split.label, fusion.dev.trials.split_id, cal, caveat).replace(
            "[eval_logreg]", PREFIX, 1
        )
    )
    cal["fitted_on"] = f"dev {fusion.dev.trials.split_id}"  # as step 3 records it
    summary["calibration"] = cal
    curves = {"fusion": (trials.labels, split.fused)}
    curves.update({name: (trials.labels, scores) for name, scores in split.inputs.items()})
    plots.plot_roc(
        curves,
        run.path / f"roc_{score_file.stem}.png",
        f"ROC test={split.label}",
        caveat,
        speakers=trials.speakers,
        bands=("fusion",),
        n_boot=min(n_boot, plots.BAND_BOOT),
        seed=seed,
    )
    plots.plot_det(curves, run.path / f"det_{score_file.stem}.png", f"DET test={split.label}", caveat)
    line = closing.closing_line_of(
        split.label, summary, silence["auc"], untrained, demo, left_out=trials.left_out, run=run.name
    )
    verdicts, verdict_lines = {}, []
    for name, scores in split.inputs.items():
        verdict = compare(split.label, trials.labels, trials.speakers, scores, split.fused, n_boot, seed, asv=asv)
        verdict_lines.append(verdict.line(untrained, demo, name=f"fusion {run.name}", against=name))
        verdicts[name] = {**verdict.to_json(), "baseline_is": name, "contrastive_is": run.name}
    entry = {
        "split": trials.split_id,
        "untrained": untrained,
        "demo": demo,
        **summary,
        "silence_only": silence,
        "shortcut_warning_inputs": warned,
        "score_file": str(score_file.relative_to(run.path)),
        "closing_line": line,
        "verdicts": verdicts,
        "verdict_lines": verdict_lines,
    }
    return entry, line, verdict_lines


def report_fusion(run, fusion, n_boot: int, seed: int, note=None) -> dict:
    """Print, plot and write everything about a fitted fusion; returns the metrics.json payload."""
    untrained, demo = fusion.untrained, fusion.demo
    caveat = closing.caveat_suffix(untrained, demo)
    lines, notes = header_lines(run, fusion)
    run.print(*lines)
    run.note(*notes)  # standard error, as step 3's caveats
    run.print(weights_line(fusion, caveat))
    model_record = {"fitted_on": fusion.dev.trials.split_id, **fusion.model.to_json(), "inputs": input_records(fusion)}
    write_json(run.path / "fusion.json", versions.stamp("fusion_model", model_record))
    dev = fusion.dev
    run.write_scores(f"{dev.trials.split_id}.dev", dev.trials.utt_ids, dev.fused)
    dev_summary = significance.summarize(dev.trials.labels, dev.fused, dev.trials.speakers, n_boot=0)
    run.print(
        f"{PREFIX} dev={dev.trials.split_id} (the fusion was fitted on it, not a test): ROC-AUC "
        f"{dev_summary['auc']:.4f} EER {_pct(dev_summary['eer'])}{caveat}"
    )
    payload = {
        "protocol": "fusion",
        "features": "fusion of " + " + ".join(r.name for r in fusion.runs),
        "feature_spec": {"kind": "fusion", "inputs": [r.name for r in fusion.runs]},
        "untrained": untrained,
        "demo": demo or any(s.trials.demo for s in fusion.tests),
        "fusion": model_record,
        "verdict_rule": VERDICT_RULE,
        "dev": {"split": dev.trials.split_id, **dev_summary},
        "tests": {},
    }
    closing_lines, verdict_lines = [], []
    for split in fusion.tests:
        entry, line, lines = _test_entry(run, fusion, split, n_boot, seed, note)
        payload["tests"][split.label] = entry
        closing_lines.append(line)
        verdict_lines.extend(lines)
    run.write_metrics(payload)
    run.print(f"{PREFIX} wrote {run.path}: config.json, metrics.json, fusion.json, scores/, plots, log.txt")
    run.print(*closing_lines, *verdict_lines)
    return payload
