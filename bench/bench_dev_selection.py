"""Step 4's per-epoch dev selection: epoch time with dev projected through a float64 deep copy of
the model (as before issue 18's fix) against dev projected by the model itself in float32, on
the same data, seeds and batches; and whether the two choose the same epoch.

    .venv/bin/python bench/bench_dev_selection.py [--train 25380] [--dev 24844] [--dim 1024]
        [--epochs 3] [--batch-size 256] [--threads 2]

Data: Gaussian pooled embeddings (the LA train/dev sizes and the XLS-R 300M width by default),
the classes apart by a small shift, so the dev ROC-AUC changes from epoch to epoch. The head is
the default 256-unit MLP to 128-d of train_contrastive.py. Wall times depend on the machine:
compare the two rows of one run, not numbers across machines.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from deepfake_pipeline.contrastive import train as train_module  # noqa: E402
from deepfake_pipeline.contrastive.head import ProjectionHead  # noqa: E402
from deepfake_pipeline.contrastive.model import ContrastiveModel, EmbeddingSource  # noqa: E402


def data(n: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x[:, :8] += 0.3 * (labels == 0)[:, None]
    return x, labels


def run(train_x, train_y, dev_x, dev_y, config, selection_projection) -> tuple:
    """(per-epoch wall seconds, the TrainOutcome) with `selection_projection` choosing the epoch."""
    torch.manual_seed(config.seed)
    model = ContrastiveModel(ProjectionHead(train_x.shape[1]))
    source = EmbeddingSource(train_x)
    model.fit_standardiser(source, config.batch_size)
    times = []
    original = train_module.project_for_selection
    train_module.project_for_selection = selection_projection
    try:
        with tempfile.TemporaryDirectory() as folder:
            logged = []
            outcome = train_module.train(
                model,
                source,
                train_y,
                train_y,
                EmbeddingSource(dev_x),
                dev_y,
                config,
                Path(folder) / "ckpt.pt",
                {"bench": True},
                log=logged.append,
            )
            elapsed = [float(line.rsplit("elapsed ", 1)[1].rstrip("s")) for line in logged if "elapsed" in line]
            times = np.diff([0.0, *elapsed])
    finally:
        train_module.project_for_selection = original
    return times, outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=25380)
    parser.add_argument("--dev", type=int, default=24844)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_x, train_y = data(args.train, args.dim, 0)
    dev_x, dev_y = data(args.dev, args.dim, 1)
    config = train_module.TrainConfig(epochs=args.epochs, patience=args.epochs, batch_size=args.batch_size)
    print(
        f"train {args.train:,} x {args.dim}, dev {args.dev:,}, {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.threads} threads"
    )
    rows = {}
    for name, projection in (("float64 deep copy", train_module.project), ("model, float32", None)):
        times, outcome = run(train_x, train_y, dev_x, dev_y, config, projection or train_module.project_for_selection)
        rows[name] = outcome
        aucs = " ".join(f"{h['dev_auc']:.6f}" for h in outcome.history)
        print(
            f"{name:<18} epoch s {' '.join(f'{t:6.2f}' for t in times)}  (median {np.median(times):6.2f})  "
            f"best epoch {outcome.best_epoch}  dev AUC per epoch {aucs}"
        )
    old, new = rows["float64 deep copy"], rows["model, float32"]
    diff = max(abs(a["dev_auc"] - b["dev_auc"]) for a, b in zip(old.history, new.history, strict=True))
    print(f"same best epoch: {old.best_epoch == new.best_epoch}; largest dev AUC difference {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
