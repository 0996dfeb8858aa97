"""Figures of a run, fit for a paper: ROC (with a speaker-bootstrap band), DET on normal-deviate
axes as the field draws them, and ROC-AUC and EER per layer of a layer sweep. Every figure is
written twice, ``<name>.png`` (200 dpi) and ``<name>.pdf`` beside it.

Layout rules, checked by tests/evaluation/test_plots.py: titles are wrapped to the figure's width with the
caveat ("untrained model", "demo corpus") on its own line; legends sit below the axes, never over a
curve; DET ticks are the usual percentages, thinned so that no two labels touch; a curve that runs
along the border (a perfect system's ROC) is drawn inside a small margin, and a DET curve that lies
wholly outside the window (a system with no errors) is marked at the window's corner and said so.
Rates come from `metrics.det_curve`."""

import textwrap
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server or under nohup

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from deepfake_pipeline.common import atomic  # noqa: E402
from deepfake_pipeline.evaluation import metrics  # noqa: E402
from deepfake_pipeline.evaluation.roc_band import roc_band  # noqa: E402
from deepfake_pipeline.evaluation.significance import cluster_codes  # noqa: E402
from deepfake_pipeline.evaluation.tdcf import official_eer  # noqa: E402

DPI = 200
FORMATS = ("png", "pdf")
# The field's DET window is 0.05-50 %; it widens to 98 % when a curve (e.g. silence-only) lies higher.
DET_TICKS_PCT = (0.1, 0.5, 1, 2, 5, 10, 20, 40)
DET_WIDE_TICKS_PCT = (0.1, 0.5, 1, 2, 5, 10, 20, 40, 60, 80, 95)
DET_LOW, DET_HIGH, DET_WIDE_HIGH = 0.0005, 0.5, 0.98
ROC_MARGIN = 0.02  # a curve on the border of [0, 1] stays visible inside the axes
TITLE_CHARS = 62  # per line, at the title's font size on the 5.5-inch-wide figures
SILENCE = "silence-only"
MIN_BAND_SPEAKERS = 5
BAND_BOOT = 200  # resamples for a ROC band: enough for a picture, cheap beside the CIs' 1000


def _title_text(title: str, caveat: str = "") -> str:
    lines = [textwrap.fill(part, TITLE_CHARS) for part in title.splitlines() if part.strip()]
    if caveat.strip():
        lines.append(textwrap.fill(caveat.strip(), TITLE_CHARS))
    return "\n".join(lines)


def _square_figure(title_text: str, legend_rows: int):
    """A figure whose square axes are as wide as it allows, and tall enough for the title above
    and the legend below them (about 0.18 inch per line of either)."""
    lines = title_text.count("\n") + 1 + legend_rows
    fig = plt.figure(figsize=(5.5, 5.0 + 0.18 * lines), layout="constrained")
    fig.suptitle(title_text, fontsize=10)
    return fig


def _legend(fig, ax, ncols: int = 1) -> None:
    """Below the axes (and their labels), outside every curve."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8, frameon=False)


def _styles(names) -> dict:
    """Line style per curve. The silence-only shortcut is a reference, drawn grey and dashed under
    the systems. Each later system is drawn thinner on top of the earlier ones, so that curves
    that coincide (two perfect systems) still show both colours."""
    styles, rank = {}, 0
    for name in names:
        if name.startswith(SILENCE):
            styles[name] = {"color": "0.45", "linestyle": "--", "linewidth": 1.2, "zorder": 2, "markersize": 7}
        else:
            styles[name] = {
                "linewidth": max(0.9, 2.4 - 1.2 * rank),
                "zorder": 3 + rank,
                "markersize": max(3.5, 10 - 3 * rank),
            }
            rank += 1
    return styles


def _band(curve: tuple, speakers, n_boot: int, seed: int):
    """The ROC band where it means something: not for a perfect (or inverted) system, whose
    band has no width, nor with fewer than MIN_BAND_SPEAKERS speakers to resample."""
    labels, scores = curve
    if not n_boot or metrics.roc_auc(labels, scores) in (0.0, 1.0):
        return None
    if cluster_codes(speakers, len(labels)).max() + 1 < MIN_BAND_SPEAKERS:
        return None
    try:
        return roc_band(labels, scores, speakers, n_boot=n_boot, seed=seed)
    except ValueError:  # most resamples lack a class: too few speakers of one class
        return None


def save(fig, path) -> Path:
    """Write ``path`` (PNG) and the PDF beside it, each whole or not at all (a temporary file
    renamed into place: a run killed mid-save leaves no half figure); returns the PNG's path."""
    path = Path(path)
    for suffix in FORMATS:
        with atomic.atomic_path(path.with_suffix(f".{suffix}")) as temporary:
            fig.savefig(temporary, dpi=DPI, format=suffix)
    plt.close(fig)
    return path.with_suffix(".png")


def roc_figure(
    curves: dict,
    title: str,
    caveat: str = "",
    speakers=None,
    bands: Iterable[str] = (),
    n_boot: int = BAND_BOOT,
    seed: int = 0,
):
    """`curves`: legend label -> (labels, scores). x: spoof accepted (FAR), y: bona fide accepted
    (1 - miss rate). The curves named in `bands` get a pointwise 95% band from a bootstrap over
    `speakers` (roc_band; see _band for when there is none)."""
    drawn = {name: _band(curves[name], speakers, n_boot, seed) for name in bands if name in curves}
    drawn = {name: band for name, band in drawn.items() if band is not None}
    fig = _square_figure(_title_text(title, caveat), len(curves) + bool(drawn))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1, zorder=1)
    styles = _styles(curves)
    for name, (labels, scores) in curves.items():
        far, frr, _ = metrics.det_curve(labels, scores)
        auc = metrics.roc_auc(labels, scores)
        note = ": perfect, on the left and top edges" if auc == 1.0 else ""
        style = {key: value for key, value in styles[name].items() if key != "markersize"}
        (line,) = ax.plot(far, 1 - frr, label=f"{name} (AUC {auc:.4f}{note})", clip_on=False, **style)
        if name in drawn:
            band = drawn[name]
            ax.fill_between(
                band.far, band.lower, band.upper, color=line.get_color(), alpha=0.18, linewidth=0, zorder=1, step="post"
            )
    if drawn:
        band = next(iter(drawn.values()))
        ax.fill_between(
            [],
            [],
            [],
            color="0.6",
            alpha=0.3,
            label=f"pointwise 95% band: bootstrap over {band.n_clusters} speakers, {band.n_boot} resamples",
        )
    ax.set_xlabel("false acceptance rate (spoof accepted)")
    ax.set_ylabel("bona fide acceptance rate (1 - miss rate)")
    ax.set_xlim(-ROC_MARGIN, 1 + ROC_MARGIN)
    ax.set_ylim(-ROC_MARGIN, 1 + ROC_MARGIN)
    ax.set_aspect("equal")
    ax.grid(True, linewidth=0.3)
    _legend(fig, ax)
    return fig


def plot_roc(curves: dict, path, title: str, caveat: str = "", **band) -> Path:
    return save(roc_figure(curves, title, caveat, **band), path)


def det_ticks(high: float) -> tuple:
    """Tick values (%) of a DET window reaching `high` (a fraction)."""
    return DET_TICKS_PCT if high <= DET_HIGH else DET_WIDE_TICKS_PCT


def det_figure(curves: dict, title: str, caveat: str = ""):
    """DET: miss rate (bona fide rejected) against false acceptance, both on probit axes."""
    fig = _square_figure(_title_text(title, caveat), len(curves))
    ax = fig.add_subplot()
    rates = {name: official_eer(labels, scores).eer for name, (labels, scores) in curves.items()}
    high = DET_HIGH if max(rates.values()) < 0.3 else DET_WIDE_HIGH
    lim = (norm.ppf(DET_LOW), norm.ppf(high))
    inset = 0.02 * (lim[1] - lim[0])
    ax.plot(lim, lim, color="0.7", linestyle=":", linewidth=1, zorder=1)
    styles = _styles(curves)
    for name, (labels, scores) in curves.items():
        rate = rates[name]
        label = f"{name} (EER {100 * rate:.2f}%)"
        if DET_LOW <= rate <= high:
            far, frr, _ = metrics.det_curve(labels, scores)
            eps = 1e-6  # probit of 0 and 1 is infinite; such points lie outside the window anyway
            style = {key: value for key, value in styles[name].items() if key != "markersize"}
            ax.plot(norm.ppf(np.clip(far, eps, 1 - eps)), norm.ppf(np.clip(frr, eps, 1 - eps)), label=label, **style)
        else:
            # the whole curve lies beyond the window's corner: mark it there, inside the axes
            # (later systems smaller, so that markers at the same corner nest)
            corner = lim[0] + inset if rate < DET_LOW else lim[1] - inset
            where = f"below {100 * DET_LOW:g}%" if rate < DET_LOW else f"above {100 * high:g}%"
            marker = {**styles[name], "marker": "o", "linestyle": "none", "clip_on": False}
            ax.plot([corner], [corner], label=f"{label}: curve {where}, marked at the corner", **marker)
    shown = [t for t in det_ticks(high) if DET_LOW < t / 100 < high]
    ticks = norm.ppf(np.array(shown) / 100)
    texts = [f"{t:g}" for t in shown]
    ax.set_xticks(ticks, texts)
    ax.set_yticks(ticks, texts)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xlabel("false acceptance rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.grid(True, linewidth=0.3)
    _legend(fig, ax)
    return fig


def plot_det(curves: dict, path, title: str, caveat: str = "") -> Path:
    return save(det_figure(curves, title, caveat), path)


def layer_sweep_figure(
    layers, series: dict, chosen_layer, title: str, caveat: str = "", references=None, chosen_on: str = "dev"
):
    """`series`: legend label (e.g. "dev=asvspoof2019_dev", "test=asvspoof2019_eval") ->
    {"auc": [...], "eer": [...]} aligned with `layers`. `references`: series label -> {"auc": x,
    "eer": y} of the silence-only shortcut on that split, drawn as a dashed line in the series'
    colour. The layer chosen on `chosen_on` is marked by a dotted vertical line."""
    fig = plt.figure(figsize=(6.0, 6.6), layout="constrained")
    fig.suptitle(_title_text(title, caveat), fontsize=10)
    ax_auc, ax_eer = fig.subplots(2, 1, sharex=True)
    colours = {}
    for name, values in series.items():
        (line,) = ax_auc.plot(layers, values["auc"], marker="o", markersize=4, label=name, zorder=3)
        colours[name] = line.get_color()
        ax_eer.plot(
            layers,
            100 * np.asarray(values["eer"], dtype=float),
            marker="o",
            markersize=4,
            color=colours[name],
            zorder=3,
        )
    for name, value in (references or {}).items():
        style = {"color": colours.get(name, "0.45"), "linestyle": "--", "linewidth": 1.0, "zorder": 2}
        ax_auc.axhline(value["auc"], label=f"{SILENCE} {name}", **style)
        ax_eer.axhline(100 * value["eer"], **style)
    for ax in (ax_auc, ax_eer):
        ax.axvline(
            chosen_layer,
            color="0.15",
            linestyle=":",
            linewidth=1.3,
            zorder=1,
            label=f"layer chosen on {chosen_on} ({chosen_layer})" if ax is ax_auc else None,
        )
        ax.grid(True, linewidth=0.3)
    ax_auc.set_ylabel("ROC-AUC")
    ax_eer.set_ylabel("EER (%)")
    ax_eer.set_xlabel("layer (0 = input of transformer layer 1)")
    ax_eer.set_xticks(list(layers))
    _legend(fig, ax_auc, ncols=2 if len(series) + len(references or {}) > 2 else 1)
    return fig


def plot_layer_sweep(
    layers, series: dict, chosen_layer, path, title: str, caveat: str = "", references=None, chosen_on: str = "dev"
) -> Path:
    return save(layer_sweep_figure(layers, series, chosen_layer, title, caveat, references, chosen_on), path)
