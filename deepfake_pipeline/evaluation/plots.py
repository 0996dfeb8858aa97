"""PNG figures of a run: ROC and DET curves (DET on normal-deviate axes, as the field draws
them) and, for a layer sweep, ROC-AUC and EER per layer. Rates come from `metrics.det_curve`."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server or under nohup

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from deepfake_pipeline.evaluation import metrics  # noqa: E402

DET_TICKS_PCT = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60, 80, 95]


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc(curves: dict, path, title: str):
    """`curves`: legend label -> (labels, scores). x: spoof accepted (FAR), y: bona fide
    accepted (1 - FRR)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (labels, scores) in curves.items():
        far, frr, _ = metrics.det_curve(labels, scores)
        auc = metrics.roc_auc(labels, scores)
        ax.plot(far, 1 - frr, label=f"{name} (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false acceptance rate (spoof accepted)")
    ax.set_ylabel("bona fide acceptance rate (1 - miss rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_det(curves: dict, path, title: str):
    """DET: miss rate (bona fide rejected) against false acceptance, both on probit axes."""
    fig, ax = plt.subplots(figsize=(5, 5))
    eps = 1e-4
    worst_eer = 0.0
    for name, (labels, scores) in curves.items():
        far, frr, _ = metrics.det_curve(labels, scores)
        rate = metrics.eer(labels, scores).eer
        worst_eer = max(worst_eer, rate)
        ax.plot(norm.ppf(np.clip(far, eps, 1 - eps)), norm.ppf(np.clip(frr, eps, 1 - eps)),
                label=f"{name} (EER {100 * rate:.2f}%)")
    # The field's usual window is 0.1-40%; widen it when a curve (e.g. silence-only) lies higher.
    top = 0.5 if worst_eer < 0.3 else 0.98
    shown = [t for t in DET_TICKS_PCT if t / 100 <= top]
    ticks = norm.ppf(np.array(shown) / 100)
    labels_txt = [f"{t:g}" for t in shown]
    lim = (norm.ppf(0.0005), norm.ppf(top))
    ax.plot(lim, lim, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(ticks, labels_txt)
    ax.set_yticks(ticks, labels_txt)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_xlabel("false acceptance rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.grid(True, linewidth=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_layer_sweep(layers, series: dict, chosen_layer, path, title: str):
    """`series`: legend label (e.g. "dev", "test=asvspoof2019_eval") -> {"auc": [...], "eer": [...]}
    aligned with `layers`. The layer chosen on dev is marked."""
    fig, (ax_auc, ax_eer) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for name, values in series.items():
        ax_auc.plot(layers, values["auc"], marker="o", label=name)
        ax_eer.plot(layers, 100 * np.asarray(values["eer"], dtype=float), marker="o", label=name)
    for ax in (ax_auc, ax_eer):
        ax.axvline(chosen_layer, color="grey", linestyle="--", linewidth=1)
        ax.grid(True, linewidth=0.3)
    ax_auc.set_ylabel("ROC-AUC")
    ax_eer.set_ylabel("EER (%)")
    ax_eer.set_xlabel(f"layer (dashed: chosen on dev, layer {chosen_layer})")
    ax_eer.set_xticks(list(layers))
    ax_auc.legend(fontsize=8)
    ax_auc.set_title(title, fontsize=9)
    return _save(fig, path)
