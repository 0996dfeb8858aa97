"""Clustered bootstrap of AUC and EER on an ASVspoof-2019-eval-sized set (71,237 trials):
vectorised weighted sweep (significance.bootstrap_ci with roc_auc / eer) against the naive path
that materialises every resample and calls the metric on it. Same draws, same intervals."""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepfake_pipeline.evaluation.metrics import eer, roc_auc  # noqa: E402
from deepfake_pipeline.evaluation.significance import bootstrap_ci, summarize  # noqa: E402

rng = np.random.default_rng(0)
n = 71237
labels = (rng.random(n) > 0.103).astype(int)
scores = rng.normal(size=n) + 1.5 * (labels == 0)
speakers = np.array([f"LA_{i:04d}" for i in rng.integers(0, 67, n)])
n_naive = 50
for name, groups in (("67 speakers", speakers), ("every trial its own cluster", None)):
    for stat, naive in ((roc_auc, lambda y, s: roc_auc(y, s)), (eer, lambda y, s: eer(y, s))):
        t0 = time.perf_counter()
        fast = bootstrap_ci(labels, scores, groups, stat, n_boot=n_naive, seed=1)
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        slow = bootstrap_ci(labels, scores, groups, naive, n_boot=n_naive, seed=1)
        t_slow = time.perf_counter() - t0
        assert np.allclose(fast, slow, atol=1e-12), (fast, slow)
        print(
            f"{name:28s} {stat.__name__:8s} {n_naive} resamples: vectorised {t_fast:6.2f} s, "
            f"materialised {t_slow:6.2f} s, ratio {t_slow / t_fast:5.1f}x"
        )
    t0 = time.perf_counter()
    summarize(labels, scores, groups, n_boot=1000)
    print(f"{name:28s} summarize (AUC + EER CIs), 1000 resamples: {time.perf_counter() - t0:.2f} s")
