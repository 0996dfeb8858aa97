"""Does bfloat16 change the downstream ROC-AUC? Compares two finished eval_logreg.py runs on
embeddings that differ only in the model's arithmetic (float32 vs bfloat16) over the same
trials: per test split, both AUCs, the paired speaker-clustered bootstrap 95% interval of the
difference and DeLong's p-value (the same comparison step 4 makes).

    # embeddings of the same splits in bf16, into a separate processed folder
    python features.py --what embeddings --splits S1 S2 ... --model M --precision bfloat16 \\
        --processed-dir data/processed_bf16 [--allow-emulated-bf16]
    # the same eval_logreg.py command twice, the second with --processed-dir data/processed_bf16
    python bench/bf16_downstream.py --float32-run results/<a> --bfloat16-run results/<b>

float32 stays features.py's default until this shows no change on the corpora that matter.
"""

import argparse
import sys
from pathlib import Path

from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepfake_pipeline.evaluation.closing import caveat_suffix  # noqa: E402
from deepfake_pipeline.evaluation.verdict import compare  # noqa: E402
from deepfake_pipeline.formats.manifest import manifest_sha256  # noqa: E402
from deepfake_pipeline.formats.paths import INTERIM_DIR  # noqa: E402
from deepfake_pipeline.formats.step3_run import (
    baseline_scores,
    check_labels_match,
    check_same_manifest,
    read_baseline_run,
)
from deepfake_pipeline.formats.wavestore import WaveStore  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--float32-run", type=Path, required=True)
    parser.add_argument("--bfloat16-run", type=Path, required=True)
    parser.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)

    runs = {
        name: read_baseline_run(path) for name, path in (("float32", args.float32_run), ("bfloat16", args.bfloat16_run))
    }
    print(
        f"float32 run {args.float32_run} ({runs['float32'].model_tag}), bfloat16 run {args.bfloat16_run} "
        f"({runs['bfloat16'].model_tag})"
    )
    if runs["float32"].tests != runs["bfloat16"].tests:
        print(
            f"error: the runs tested different splits: {runs['float32'].tests} vs {runs['bfloat16'].tests}",
            file=sys.stderr,
        )
        return 2
    for name, run in runs.items():
        precision = {f["features"].get("precision") for f in run.config["features"].values()}
        if precision != {name}:
            print(
                f"error: the {name} run's embeddings were computed in {sorted(precision)}, not {name}", file=sys.stderr
            )
            return 2
        print(f"  {name}: chosen layers {run.chosen_layers}")
    if runs["float32"].model_spec != runs["bfloat16"].model_spec:
        print(
            f"error: the runs used different models: {runs['float32'].model_spec} vs {runs['bfloat16'].model_spec}",
            file=sys.stderr,
        )
        return 2
    for split_id in runs["float32"].tests:
        store = WaveStore(args.interim_dir / split_id)
        manifest = store.manifest
        utt_ids, labels = manifest["utt_id"].tolist(), manifest["label"].to_numpy(dtype=int)
        speakers = manifest["speaker"].to_numpy()  # the bootstrap resamples speakers, as in step 3
        for run in runs.values():
            check_same_manifest(run, split_id, manifest_sha256(store.split_dir))
            check_labels_match(run, split_id, labels)
        scores = {name: baseline_scores(run, split_id, utt_ids) for name, run in runs.items()}
        verdict = compare(split_id, labels, speakers, scores["float32"], scores["bfloat16"], n_boot=args.n_boot)
        ci = f"95% CI {100 * verdict.ci[0]:+.2f} to {100 * verdict.ci[1]:+.2f}" if verdict.ci else "no CI"
        entry = runs["float32"].config["features"][split_id]
        caveat = caveat_suffix(bool(entry.get("untrained")), bool(entry.get("demo")))
        print(
            f"bfloat16 vs float32 test={split_id}: "
            f"ROC-AUC {verdict.baseline_auc:.4f} -> {verdict.contrastive_auc:.4f}, "
            f"{100 * verdict.diff:+.2f} points ({ci}), DeLong p={verdict.delong_p:.3f}; "
            f"score rank correlation {spearmanr(scores['float32'], scores['bfloat16']).statistic:.4f}; "
            f"n={verdict.n_trials}{caveat}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
