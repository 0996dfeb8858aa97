"""Figures fit for a paper: PNG and PDF of each, DET ticks at the usual percentages that never
touch, titles inside the figure, legends off the data, a perfect system visible, and the ROC band
from the speaker bootstrap. Read back from the matplotlib figures themselves."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from scipy.stats import norm

from deepfake_pipeline.evaluation import metrics, plots
from deepfake_pipeline.evaluation.roc_band import roc_band

CAVEAT = " [untrained model: not a detection result] [demo corpus]"
LONG_TITLE = "ROC test=fakeavceleb_eval_with_a_rather_long_split_name, contrastive head vs step-3 baseline"


def trials(n=600, seed=0, separation=2.0, speakers=20, speaker_spread=0.0, system=0):
    """Labels (0 bona fide), speakers and scores (higher = bona fide) of the trials `seed`, as
    scored by system `system`; `speaker_spread` shifts every trial of a speaker alike, which
    makes trials of one speaker dependent."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.7).astype(int)
    speaker_ids = rng.integers(0, speakers, n)
    rng = np.random.default_rng([seed, system])
    shift = rng.normal(0, speaker_spread, speakers)[speaker_ids]
    scores = np.where(labels == 0, separation, 0.0) + rng.normal(0, 1, n) + shift
    return labels, np.array([f"spk{i}" for i in speaker_ids]), scores


@pytest.fixture(scope="module")
def curves():
    labels, speakers, model = trials()
    silence = trials(separation=0.2, system=1)[2]
    contrastive = trials(separation=2.5, system=2)[2]
    return speakers, {
        "baseline (step 3)": (labels, model),
        "silence-only": (labels, silence),
        "contrastive": (labels, contrastive),
    }


def every_figure(curves):
    speakers, named = curves
    layers = list(range(5))
    series = {
        "dev=toy_dev": {"auc": [0.7, 0.8, 0.9, 0.85, 0.8], "eer": [0.3, 0.2, 0.1, 0.15, 0.2]},
        "test=toy_eval": {"auc": [0.6, 0.7, 0.8, 0.75, 0.7], "eer": [0.4, 0.3, 0.2, 0.25, 0.3]},
    }
    return {
        "roc": plots.roc_figure(named, LONG_TITLE, CAVEAT, speakers=speakers, bands=("baseline (step 3)",), n_boot=50),
        "det": plots.det_figure(named, "DET test=toy_eval", CAVEAT),
        "det_narrow": plots.det_figure({"model": named["contrastive"]}, "DET test=toy_eval"),
        "sweep": plots.layer_sweep_figure(
            layers,
            series,
            2,
            "layer sweep, layer chosen on dev: 2",
            CAVEAT,
            references={"test=toy_eval": {"auc": 0.55, "eer": 0.45}},
        ),
    }


def extent(artist, fig):
    return artist.get_window_extent(fig.canvas.get_renderer())


@pytest.mark.slow
def test_every_figure_is_written_as_png_and_pdf(curves, tmp_path):
    speakers, named = curves
    written = [
        plots.plot_roc(
            named, tmp_path / "roc_toy.png", "ROC", CAVEAT, speakers=speakers, bands=("contrastive",), n_boot=20
        ),
        plots.plot_det(named, tmp_path / "det_toy.png", "DET", CAVEAT),
        plots.plot_layer_sweep(
            [0, 1], {"test=toy": {"auc": [0.6, 0.7], "eer": [0.4, 0.3]}}, 1, tmp_path / "layer_sweep.png", "layer sweep"
        ),
    ]
    for png in written:
        assert png.suffix == ".png" and png.is_file()
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        height, width = matplotlib.image.imread(png).shape[:2]
        assert width >= 5.5 * 150 and height >= 5 * 150  # at least 150 dpi (200 written)


def test_a_figure_whose_save_fails_leaves_no_file_behind(tmp_path):
    """A save cut short (a kill, a full disk) must not leave a half PNG or PDF under the final
    name, which a reader would take for the figure."""
    import matplotlib.pyplot as plt

    fig = plt.figure()
    real_savefig = fig.savefig

    def savefig_then_fail(target, **kwargs):
        real_savefig(target, **kwargs)
        if kwargs.get("format") == "pdf":
            raise OSError(28, "No space left on device")

    fig.savefig = savefig_then_fail
    with pytest.raises(OSError, match="No space left"):
        plots.save(fig, tmp_path / "roc_toy.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roc_toy.png"]  # the PNG whole, no PDF, no temporary
    assert matplotlib.image.imread(tmp_path / "roc_toy.png").ndim == 3


@pytest.mark.parametrize(
    ("which", "expected"), [("det", plots.DET_WIDE_TICKS_PCT), ("det_narrow", plots.DET_TICKS_PCT)]
)
def test_det_ticks_are_the_usual_percentages_and_never_touch(curves, which, expected):
    fig = every_figure(curves)[which]
    ax = fig.axes[0]
    fig.canvas.draw()
    for axis, get_ticks in ((ax.xaxis, ax.get_xticks), (ax.yaxis, ax.get_yticks)):
        values = 100 * norm.cdf(get_ticks())
        np.testing.assert_allclose(values, expected, rtol=1e-9)
        assert [t.get_text() for t in axis.get_ticklabels()] == [f"{v:g}" for v in expected]
        boxes = [extent(t, fig) for t in axis.get_ticklabels()]
        # neighbours in order: none overlaps the next (one pair fewer than boxes, so strict=False)
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert not a.overlaps(b), (a, b)
    assert expected[:4] == (0.1, 0.5, 1, 2)


def test_titles_fit_and_legends_never_cover_the_axes(curves):
    for name, fig in every_figure(curves).items():
        fig.canvas.draw()
        figure_box = fig.bbox
        title = fig._suptitle
        box = extent(title, fig)
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 and box.y1 <= figure_box.y1, name
        assert all(len(line) <= plots.TITLE_CHARS for line in title.get_text().splitlines())
        assert title.get_text().splitlines()[-1] == CAVEAT.strip() or name == "det_narrow"
        (legend,) = fig.legends
        legend_box = extent(legend, fig)
        assert figure_box.y0 <= legend_box.y0 and legend_box.x1 <= figure_box.x1, name
        for ax in fig.axes:
            assert not legend_box.overlaps(extent(ax, fig)), name
            assert ax.get_legend() is None


def test_a_perfect_system_stays_visible(curves):
    labels, _, _ = trials()
    perfect = np.where(labels == 0, 10.0, 0.0) + np.random.default_rng(3).normal(0, 0.1, labels.size)
    assert metrics.roc_auc(labels, perfect) == 1.0
    named = {"model": (labels, perfect), "silence-only": curves[1]["silence-only"]}
    roc = plots.roc_figure(named, "ROC")
    ax = roc.axes[0]
    line = next(line for line in ax.lines if line.get_label().startswith("model"))
    # on the edges x=0 and y=1 of the unit square, which the axes show with a margin around it
    assert line.get_xdata().min() == 0 and line.get_ydata().max() == 1
    assert ax.get_xlim()[0] < 0 and ax.get_ylim()[1] > 1
    assert "perfect" in line.get_label()
    det = plots.det_figure(named, "DET")
    ax = det.axes[0]
    marker = next(line for line in ax.lines if line.get_label().startswith("model"))
    x, y = marker.get_xdata()[0], marker.get_ydata()[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < x < x1 and y0 < y < y1 and marker.get_marker() == "o"
    assert "marked at the corner" in marker.get_label()


def test_roc_band_follows_the_speaker_clusters():
    labels, speakers, scores = trials(n=800, speaker_spread=1.0, speakers=16, seed=5)
    clustered = roc_band(labels, scores, speakers, n_boot=200)
    per_trial = roc_band(labels, scores, None, n_boot=200)
    assert clustered.n_clusters == 16 and per_trial.n_clusters == 800
    for band in (clustered, per_trial):
        assert np.all((0 <= band.lower) & (band.lower <= band.upper) & (band.upper <= 1))
    inner = (clustered.far > 0.02) & (clustered.far < 0.5)
    # dependent trials within a speaker: resampling speakers gives the wider band
    assert (clustered.upper - clustered.lower)[inner].mean() > 1.3 * (per_trial.upper - per_trial.lower)[inner].mean()
    # the observed curve lies inside its band almost everywhere
    far, frr, _ = metrics.det_curve(labels, scores)
    order = np.argsort(far, kind="stable")
    observed = (1 - frr)[order][np.searchsorted(far[order], clustered.far, side="right") - 1]
    assert np.mean((clustered.lower <= observed) & (observed <= clustered.upper)) > 0.9
    # and the figure draws it
    fig = plots.roc_figure({"model": (labels, scores)}, "ROC", speakers=speakers, bands=("model",), n_boot=30)
    assert any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
    assert any("pointwise 95% band" in text.get_text() for text in fig.legends[0].get_texts())


def test_coinciding_systems_both_show_and_bands_only_where_they_mean_something(monkeypatch):
    """Two perfect systems (the demo's FakeAVCeleb split): the later one is drawn thinner and its
    corner marker smaller, so both colours show. No band for a perfect system (no width) or for a
    split with fewer than MIN_BAND_SPEAKERS speakers, and no crash when resamples lack a class."""
    labels, speakers, scores = trials()
    perfect = np.where(labels == 0, 10.0, 0.0) + np.random.default_rng(4).normal(0, 0.1, labels.size)
    named = {"baseline (step 3)": (labels, perfect), "contrastive": (labels, perfect + 1.0)}
    det = plots.det_figure(named, "DET")
    first, second = (line for line in det.axes[0].lines if line.get_marker() == "o")
    assert first.get_markersize() > second.get_markersize() > 0
    roc = plots.roc_figure(named, "ROC", speakers=speakers, bands=tuple(named), n_boot=20)
    first, second = (line for line in roc.axes[0].lines if "perfect" in line.get_label())
    assert first.get_linewidth() > second.get_linewidth()
    assert not roc.axes[0].collections and len(roc.legends[0].get_texts()) == 2
    two_speakers = np.where(np.arange(labels.size) % 2 == 0, "a", "b")
    fig = plots.roc_figure({"model": (labels, scores)}, "ROC", speakers=two_speakers, bands=("model",), n_boot=20)
    assert not fig.axes[0].collections

    # the bootstrap refuses when most resamples lack a class: the figure goes on without a band
    def refuses(*args, **kwargs):
        raise ValueError("more than half of the bootstrap resamples lack bona fide or spoof trials")

    monkeypatch.setattr(plots, "roc_band", refuses)
    fig = plots.roc_figure({"model": (labels, scores)}, "ROC", speakers=speakers, bands=("model",), n_boot=20)
    assert fig.axes[0].lines and not fig.axes[0].collections
