"""The silence-only shortcut check: per-clip silence lengths and their cache."""

from types import SimpleNamespace

import numpy as np
import pytest
from logreg_fixtures import balanced_design, make_split
from metric_references import cluster_bootstrap_aucs, pairwise_auc, speaker_effect_systems

from deepfake_pipeline.baseline.protocols import logreg, shortcut
from deepfake_pipeline.evaluation import metrics

SR = 16000
HOP_S = shortcut.HOP_LENGTH / SR
# librosa's frames are centred: a frame reaching into speech by any sample is not silent, so the
# measured silences are short by up to half a frame plus a hop.
SLACK_S = (shortcut.FRAME_LENGTH / 2 + shortcut.HOP_LENGTH) / SR


@pytest.mark.slow
def test_clip_silence_measures_leading_and_trailing_silence():
    rng = np.random.default_rng(0)
    wave = np.concatenate([np.zeros(int(0.5 * SR)), rng.normal(0, 0.3, SR), np.zeros(int(0.25 * SR))])
    duration, lead, trail = shortcut.clip_silence(wave.astype(np.float32))
    assert duration == pytest.approx(1.75)
    assert 0.5 - SLACK_S <= lead <= 0.5
    assert 0.25 - SLACK_S <= trail <= 0.25


def test_quiet_padding_counts_as_silence_only_below_top_db():
    rng = np.random.default_rng(1)
    hum = rng.normal(0, 0.3 * 10 ** (-30 / 20), int(0.5 * SR))  # 30 dB below the speech
    wave = np.concatenate([hum, rng.normal(0, 0.3, SR)]).astype(np.float32)
    assert 0.5 - SLACK_S <= shortcut.clip_silence(wave, top_db=20)[1] <= 0.5
    assert shortcut.clip_silence(wave, top_db=40)[1] < HOP_S


def test_all_zero_clip_is_all_silence():
    assert shortcut.clip_silence(np.zeros(SR, dtype=np.float32)) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize("leak", [True, False])
def test_silence_only_classifier_finds_a_leak_and_only_a_leak(tmp_path, leak):
    views, labels = {}, {}
    for i, split in enumerate(("train", "test")):
        y, speakers = balanced_design(10, 12, seed=i)
        make_split(tmp_path / "interim", tmp_path / "processed", f"toy_{split}", y, speakers, seed=i, silence_leak=leak)
        views[split] = shortcut.silence_view(tmp_path / "interim" / f"toy_{split}", tmp_path / "processed")
        labels[split] = y
    model, _ = logreg.fit(views["train"]["silence"], labels["train"], 1.0)
    auc = metrics.roc_auc(labels["test"], logreg.bonafide_scores(model, views["test"]["silence"]))
    if leak:
        assert auc > 0.95
    else:
        assert abs(auc - 0.5) < 0.15


def test_silence_table_is_cached_and_recomputed_when_the_manifest_changes(tmp_path, monkeypatch):
    y, speakers = balanced_design(2, 4)
    split_dir = make_split(tmp_path / "interim", tmp_path / "processed", "toy_all", y, speakers)
    first = shortcut.silence_table(split_dir, tmp_path / "processed")
    assert (tmp_path / "processed" / "toy_all" / "silence_top_db40.csv").is_file()

    calls = []
    real = shortcut.clip_silence
    monkeypatch.setattr(shortcut, "clip_silence", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = shortcut.silence_table(split_dir, tmp_path / "processed")
    assert calls == [] and again.equals(first)

    shortcut.silence_table(split_dir, tmp_path / "processed", top_db=30)  # other settings: own cache
    assert len(calls) == len(y)
    calls.clear()
    manifest = split_dir / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("/audio/", "/moved/"))
    shortcut.silence_table(split_dir, tmp_path / "processed")
    assert len(calls) == len(y)


# ------------------------------------------------------------ the WARNING and its condition

WARNING = "WARNING: the model does not clearly beat the silence-only shortcut"


def _shortcut_check(labels, speakers, silence_scores, model_scores):
    from deepfake_pipeline.baseline.report import _shortcut, _shortcut_line

    result = SimpleNamespace(
        split=SimpleNamespace(labels=labels, speakers=speakers),
        scores=model_scores,
        silence_scores=silence_scores,
        summary={"auc": pairwise_auc(labels, model_scores)},
    )
    entry = _shortcut(result, SimpleNamespace(top_db=40.0, n_boot=1000, seed=0))
    return entry, _shortcut_line("toy_eval", entry)


def _independent_interval(labels, speakers, silence_scores, model_scores):
    silence, model = cluster_bootstrap_aucs(labels, [silence_scores, model_scores], speakers, 4000, seed=7)
    return np.percentile(model - silence, [2.5, 97.5])


def test_no_warning_when_the_model_clearly_beats_the_shortcut():
    labels, speakers, _, _ = speaker_effect_systems(seed=3)
    rng = np.random.default_rng(3)
    silence = rng.normal(size=labels.size)  # the shortcut knows nothing
    model = 2.0 * (labels == 0) + rng.normal(size=labels.size)
    lo, _ = _independent_interval(labels, speakers, silence, model)
    assert lo > 0.2, "the construction must put the whole interval above 0"
    entry, line = _shortcut_check(labels, speakers, silence, model)
    assert entry["clearly_beaten"] is True and entry["model_minus_silence_auc_ci"][0] > 0
    assert entry["model_minus_silence_auc"] == pytest.approx(
        pairwise_auc(labels, model) - pairwise_auc(labels, silence), abs=1e-12
    )
    assert WARNING not in line


@pytest.mark.parametrize("case", ["gain within the noise", "no difference", "worse than the shortcut"])
def test_warning_when_the_interval_does_not_lie_above_zero(case):
    labels, speakers, scores_a, scores_b = speaker_effect_systems(seed=0)
    if case == "gain within the noise":  # a positive difference whose interval reaches below 0
        silence, model = scores_a, scores_b
        lo, hi = _independent_interval(labels, speakers, silence, model)
        assert pairwise_auc(labels, model) > pairwise_auc(labels, silence) and lo < -0.02 and hi > 0.02
    elif case == "no difference":  # every resample's difference is exactly 0: lo == 0
        silence, model = scores_a, scores_a.copy()
    else:
        rng = np.random.default_rng(4)
        silence, model = scores_a + 2.0 * (labels == 0), rng.normal(size=labels.size)
        assert _independent_interval(labels, speakers, silence, model)[1] < -0.2
    entry, line = _shortcut_check(labels, speakers, silence, model)
    assert entry["clearly_beaten"] is False
    assert line.endswith(" -- " + WARNING)
    if case == "no difference":
        assert entry["model_minus_silence_auc_ci"] == [0.0, 0.0]
