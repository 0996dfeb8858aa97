"""Step 4's verdict on an ASVspoof-2019-LA-eval-sized split (71,237 trials, 7,355 bona fide, 67
speakers, ASV scores in the LA score file's layout): verdict.compare, one draw of the speaker
resamples for all three paired intervals (AUC, EER, min t-DCF) from weighted sweeps, against the
way it was computed before (tests/paired_reference.py: two passes over the draws, every resample
materialised with np.repeat for its min t-DCF, ASV rates recomputed per resample). Same seed, and
the two Verdicts must be equal in every number (so the line printed is the same bytes).

    python bench/bench_verdict.py [--n-boot 1000] [--version 2019|2021] [--clusters speakers|trials]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from paired_reference import reference_compare  # noqa: E402

from deepfake_pipeline.evaluation.verdict import compare  # noqa: E402
from deepfake_pipeline.formats.asv_scores import read_asv2019_scores  # noqa: E402

N_BONA, N_SPOOF, N_SPEAKERS = 7355, 63882, 67
ATTACKS = [f"A{i:02d}" for i in range(7, 20)]


def la_like_split(seed=0):
    """Labels, speakers and two systems sharing a per-speaker offset (the second better), scores
    rounded to 6 decimals as score files hold them."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(N_BONA, int), np.ones(N_SPOOF, int)]
    speaker = rng.integers(0, N_SPEAKERS, labels.size)
    offset = rng.normal(0, 0.5, N_SPEAKERS)[speaker]
    baseline = rng.normal(size=labels.size) + 2.0 * (labels == 0) + offset
    contrastive = baseline + 0.4 * (labels == 0) + rng.normal(scale=0.6, size=labels.size)
    speakers = np.array([f"LA_{i:04d}" for i in speaker])
    return labels, speakers, np.round(baseline, 6), np.round(contrastive, 6)


def la_like_asv(folder: Path, seed=0):
    """An ASV score file as the organisers ship it (CM_KEY ASV_KEY SCORE): targets well above
    nontargets, each attack's spoofs somewhere between; read back with formats.asv_scores."""
    rng = np.random.default_rng([seed, 1])
    lines = [f"bonafide target {x:.6f}" for x in rng.normal(4.0, 1.5, 5370)]
    lines += [f"bonafide nontarget {x:.6f}" for x in rng.normal(-4.0, 1.5, 33327)]
    for attack in ATTACKS:
        lines += [f"{attack} spoof {x:.6f}" for x in rng.normal(rng.uniform(-2.0, 3.0), 1.5, N_SPOOF // len(ATTACKS))]
    path = folder / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    path.write_text("\n".join(lines) + "\n")
    return read_asv2019_scores(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--version", choices=["2019", "2021"], default="2019")
    parser.add_argument("--clusters", choices=["speakers", "trials"], default="speakers")
    args = parser.parse_args()
    labels, speakers, baseline, contrastive = la_like_split()
    groups = speakers if args.clusters == "speakers" else None
    with tempfile.TemporaryDirectory() as folder:
        asv = (la_like_asv(Path(folder)), args.version)
    timed = {}
    for name, run in (("new", compare), ("old", reference_compare)):
        start = time.perf_counter()
        verdict = run("la_like_eval", labels, groups, baseline, contrastive, args.n_boot, 0, asv=asv)
        timed[name] = (time.perf_counter() - start, verdict)
    (t_new, new), (t_old, old) = timed["new"], timed["old"]
    identical = new == old and new.line() == old.line()
    clusters = f"{N_SPEAKERS} speakers" if groups is not None else "every trial its own cluster"
    print(
        f"verdict, {labels.size:,} trials ({N_BONA:,} bona fide), {clusters}, {args.n_boot} resamples, "
        f"t-DCF {args.version}"
    )
    print("| path | time | ratio | identical |")
    print("|---|---|---|---|")
    print(f"| old: materialised resamples, two passes | {t_old:.2f} s | | |")
    print(f"| new: weighted sweeps, one pass | {t_new:.2f} s | {t_old / t_new:.1f}x | {'yes' if identical else 'NO'} |")
    print(new.line())
    if not identical:
        print(old.line())
        sys.exit(1)


if __name__ == "__main__":
    main()
