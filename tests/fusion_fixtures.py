"""Two finished step-3 runs on the same tiny corpus, as the fusion and table tests need them: one
on spectral features, one on (untrained-model) embeddings, each carrying signal in its own
columns, with the organisers' ASV scores on the test split so min t-DCF and the 2019 score file
are there too."""

import json
from pathlib import Path

import numpy as np
from logreg_fixtures import balanced_design, informative, layered, make_split

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg

SPLITS = ("toy_train", "toy_dev", "toy_eval")
N_BOOT = "50"


def _asv_file(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = [f"bonafide target {x:.5f}" for x in rng.normal(3, 1, 60)]
    lines += [f"bonafide nontarget {x:.5f}" for x in rng.normal(-3, 1, 200)]
    lines += [f"A0{1 + k % 2} spoof {x:.5f}" for k, x in enumerate(rng.normal(1, 1.5, 80))]
    path.write_text("\n".join(lines) + "\n")
    return path


def build_corpus(root: Path) -> dict:
    dirs = {"interim": root / "interim", "processed": root / "processed", "results": root / "results"}
    for i, split_id in enumerate(SPLITS):
        labels, speakers = balanced_design(8, 10, seed=i)
        split_dir = make_split(
            dirs["interim"],
            dirs["processed"],
            split_id,
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], strength=0.5, seed=10 + i),
            embeddings=layered(labels, 2, 8, signal_layer=1, strength=0.5, seed=20 + i),
        )
        if split_id == "toy_eval":
            info = json.loads((split_dir / "info.json").read_text())
            info["asv_scores"] = {"format": "asvspoof2019", "path": str(_asv_file(root / "asv_eval.txt", 5))}
            (split_dir / "info.json").write_text(json.dumps(info))
    return dirs


def step3_run(dirs: dict, name: str, features: list) -> Path:
    rc = eval_logreg(
        [
            *features,
            "--train",
            "toy_train",
            "--dev",
            "toy_dev",
            "--test",
            "toy_eval",
            "--run",
            name,
            "--n-boot",
            N_BOOT,
            "--results-dir",
            str(dirs["results"]),
            "--interim-dir",
            str(dirs["interim"]),
            "--processed-dir",
            str(dirs["processed"]),
        ]
    )
    assert rc == 0
    return dirs["results"] / name


def two_runs(root: Path) -> tuple:
    """(dirs, spectral run, embeddings run)."""
    dirs = build_corpus(root)
    spectral = step3_run(dirs, "spec", ["--features", "spectral"])
    embeddings = step3_run(dirs, "emb", ["--features", "embeddings", "--model", "random:base", "--layer", "1"])
    return dirs, spectral, embeddings
