"""Step 4's report (contrastive/outputs.py) on a finished experiment built by hand, no training:
each seed is held against the silence-only shortcut by step 3's paired rule, recorded in its
per-seed record and printed on a line of its own, with the WARNING exactly where an independent
speaker-cluster bootstrap puts the interval's lower bound at or below 0."""

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from metric_references import assert_95_percent_interval, cluster_bootstrap_aucs, pairwise_auc, speaker_effect_systems

from deepfake_pipeline.contrastive import outputs
from deepfake_pipeline.formats.run_dir import RunDir

N_BOOT = 4000
WARNING = "-- WARNING: the contrastive system does not clearly beat the silence-only shortcut"


def _split(split_id, labels, speakers):
    return SimpleNamespace(
        split_id=split_id,
        labels=labels,
        speakers=speakers,
        attacks=np.where(labels == 0, "-", "A01"),
        utt_ids=[f"{split_id}_{i:04d}" for i in range(labels.size)],
        info={},
        left_out=lambda: {},
    )


def _report(tmp_path, monkeypatch, silence, seed_scores, labels, speakers, demo=True):
    """Step 4's report of seeds whose test scores are `seed_scores` (seed -> scores), against
    `silence` as the shortcut's scores; (printed text, metrics.json)."""
    monkeypatch.setattr(outputs.plots, "plot_roc", lambda *a, **k: None)  # the figures are not under test
    monkeypatch.setattr(outputs.plots, "plot_det", lambda *a, **k: None)
    splits = {"toy_train": _split("toy_train", labels, speakers), "toy_eval": _split("toy_eval", labels, speakers)}
    baseline = SimpleNamespace(
        path=tmp_path / "baseline",
        protocol="holdout",
        train="toy_train",
        dev="toy_dev",
        tests=["toy_eval"],
        test_labels={"toy_eval": "toy_eval"},
        seed=0,
        top_db=40.0,
    )
    seeds = [
        SimpleNamespace(seed=seed, training=[], dev_scores=None, test_scores={"toy_eval": scores})
        for seed, scores in seed_scores.items()
    ]
    experiment = SimpleNamespace(
        baseline=baseline,
        untrained=False,
        demo=demo,
        seeds=seeds,
        splits=splits,
        baseline_scores={"toy_eval": silence + 0.5 * (labels == 0)},
        silence_scores={"toy_eval": silence},
    )
    stream = io.StringIO()
    run = RunDir(tmp_path / "results", "step4", explicit=True, stream=stream)
    settings = SimpleNamespace(n_boot=N_BOOT, seeds=list(seed_scores))
    outputs.report_experiment(run, experiment, settings, {})
    return stream.getvalue(), json.loads((run.path / "metrics.json").read_text())


def _lower_bound(labels, speakers, silence, system):
    silence_aucs, system_aucs = cluster_bootstrap_aucs(labels, [silence, system], speakers, 8000, seed=9)
    return np.percentile(system_aucs - silence_aucs, 2.5), system_aucs - silence_aucs


def test_each_seed_is_judged_by_the_paired_rule(tmp_path, monkeypatch):
    """Seed 3 gains far more than the noise; seed 4 beats the shortcut's AUC too, but by less than
    the speakers' spread: by the paired rule only seed 4 draws the WARNING (the old rule, silence
    AUC >= the weakest seed's, drew none)."""
    labels, speakers, silence, noisy_gain = speaker_effect_systems(seed=0)
    clear_gain = silence + 3.0 * (labels == 0)
    lo_clear, reference_clear = _lower_bound(labels, speakers, silence, clear_gain)
    lo_noisy, reference_noisy = _lower_bound(labels, speakers, silence, noisy_gain)
    assert lo_clear > 0.1 and lo_noisy < -0.02, "each seed must sit far from the rule's boundary"
    assert pairwise_auc(labels, noisy_gain) > pairwise_auc(labels, silence)

    out, metrics = _report(tmp_path, monkeypatch, silence, {3: clear_gain, 4: noisy_gain}, labels, speakers)
    lines = [line for line in out.splitlines() if " shortcut check " in line]
    assert [line.split(":")[0] for line in lines] == [
        "[train_contrastive] shortcut check test=toy_eval seed 3",
        "[train_contrastive] shortcut check test=toy_eval seed 4",
    ]
    assert WARNING not in lines[0] and WARNING in lines[1]
    assert all(line.endswith(" [demo corpus]") for line in lines)
    per_seed = metrics["tests"]["toy_eval"]["per_seed"]
    for seed, system, beaten, reference in (
        ("3", clear_gain, True, reference_clear),
        ("4", noisy_gain, False, reference_noisy),
    ):
        record = per_seed[seed]["silence_only"]
        assert record["clearly_beaten"] is beaten
        assert_95_percent_interval(*record["model_minus_silence_auc_ci"], reference)
        assert record["model_minus_silence_auc"] == pytest.approx(
            pairwise_auc(labels, system) - pairwise_auc(labels, silence), abs=1e-12
        )
        assert record["auc"] == pytest.approx(pairwise_auc(labels, silence), abs=1e-12)
        assert record["top_db"] == 40.0
    assert metrics["tests"]["toy_eval"]["silence_only_auc"] == pytest.approx(pairwise_auc(labels, silence), abs=1e-12)


@pytest.mark.parametrize("case", ["shortcut wins", "system wins"])
def test_one_seed_warns_when_the_shortcut_is_not_clearly_beaten(tmp_path, monkeypatch, case):
    """One seed: the line names no seed; a shortcut built to win draws the WARNING, a system built
    to win does not."""
    labels, speakers, base, _ = speaker_effect_systems(seed=1)
    rng = np.random.default_rng(1)
    strong, weak = base + 3.0 * (labels == 0), rng.normal(size=labels.size)
    silence, system = (strong, weak) if case == "shortcut wins" else (weak, strong)
    lo, _ = _lower_bound(labels, speakers, silence, system)
    assert (lo > 0.1) if case == "system wins" else (lo < -0.1)
    out, metrics = _report(tmp_path, monkeypatch, silence, {0: system}, labels, speakers, demo=False)
    (line,) = [line for line in out.splitlines() if " shortcut check " in line]
    assert line.startswith("[train_contrastive] shortcut check test=toy_eval: silence-only")
    assert line.endswith(WARNING) is (case == "shortcut wins")
    assert metrics["tests"]["toy_eval"]["per_seed"]["0"]["silence_only"]["clearly_beaten"] is (case == "system wins")
