"""The verdict: the 1-point rule, the line it prints, and the refusal to compare runs that scored
different trials."""

import re

import numpy as np
import pytest
from test_metrics import assert_95_percent_interval, cluster_bootstrap_aucs, speaker_effect_systems

from deepfake_pipeline.evaluation import metrics
from deepfake_pipeline.evaluation.verdict import Verdict, compare
from deepfake_pipeline.formats.step3_run import TrialMismatch, align_scores

VERDICT_RE = re.compile(
    r"^contrastive vs baseline test=(?P<split>\S+): (?P<base>\d\.\d{4}) -> (?P<new>\d\.\d{4}), "
    r"(?P<diff>[+-]\d+\.\d{2}) points \(95% CI (?P<lo>[+-]\d+\.\d{2}) to (?P<hi>[+-]\d+\.\d{2})\), "
    r"DeLong p=(?P<p>[0-9.e+-]+): (?P<outcome>meets the 1-point rule|does not meet the 1-point rule \(.+\))"
    r"(?P<caveats>( \[untrained model: not a detection result\])?( \[demo corpus\])?)$")


def _verdict(diff, ci, p):
    return Verdict(split="x_eval", baseline_auc=0.9, contrastive_auc=0.9 + diff, diff=diff, ci=ci, delong_p=p,
                   n_trials=100)


@pytest.mark.parametrize("diff,ci,p,meets,reason", [
    (0.0107, (0.006, 0.015), 0.002, True, None),
    (0.0100, (0.001, 0.02), 0.04, True, None),              # exactly one point counts
    (0.0099, (0.001, 0.02), 0.001, False, "under 1 point"),
    (0.0150, (-0.001, 0.03), 0.01, False, "CI is not above 0"),
    (0.0150, (0.001, 0.03), 0.05, False, "DeLong p >= 0.05"),
    (-0.0300, (-0.05, -0.01), 0.001, False, "a loss"),
    (0.0150, None, 0.001, False, "no bootstrap interval"),
])
def test_the_one_point_rule(diff, ci, p, meets, reason):
    verdict = _verdict(diff, ci, p)
    assert verdict.meets_rule is meets
    line = verdict.line()
    if meets:
        assert line.endswith(": meets the 1-point rule")
    else:
        assert "does not meet the 1-point rule" in line and reason in line
    if ci is not None:
        assert VERDICT_RE.match(line)


def test_line_format_matches_the_spec_example():
    verdict = Verdict(split="asvspoof2019_eval", baseline_auc=0.9744, contrastive_auc=0.9851, diff=0.0107,
                      ci=(0.006, 0.015), delong_p=0.002, n_trials=71237)
    assert verdict.line() == ("contrastive vs baseline test=asvspoof2019_eval: 0.9744 -> 0.9851, +1.07 points "
                              "(95% CI +0.60 to +1.50), DeLong p=0.002: meets the 1-point rule")
    assert verdict.line(untrained=True, demo=True).endswith(
        "meets the 1-point rule [untrained model: not a detection result] [demo corpus]")
    assert VERDICT_RE.match(verdict.line(untrained=True, demo=True))
    assert "p=3.0e-05" in _verdict(0.02, (0.01, 0.03), 3e-5).line()


def _scores(n=600, seed=0):
    """Labels, speakers, and two systems on the same trials: a fair one and a clearly better one
    sharing its noise, so the paired comparison is sharp."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.7).astype(int)
    speakers = np.array([f"S{i % 40}" for i in range(n)])
    shared = rng.normal(size=n)
    signal = 1.0 - 2.0 * labels
    baseline = 0.8 * signal + shared
    better = 1.6 * signal + shared
    return labels, speakers, baseline, better


def test_compare_on_constructed_scores():
    labels, speakers, baseline, better = _scores()
    verdict = compare("toy", labels, speakers, baseline, better, n_boot=200, seed=0)
    assert verdict.baseline_auc == pytest.approx(metrics.roc_auc(labels, baseline))
    assert verdict.contrastive_auc == pytest.approx(metrics.roc_auc(labels, better))
    assert verdict.diff > 0.05 and verdict.ci[0] > 0 and verdict.delong_p < 1e-6
    assert verdict.meets_rule
    # the other way round it is a significant loss
    reverse = compare("toy", labels, speakers, better, baseline, n_boot=200, seed=0)
    assert reverse.diff == pytest.approx(-verdict.diff) and not reverse.meets_rule
    # a system against itself: no change, p = 1
    same = compare("toy", labels, speakers, baseline, baseline.copy(), n_boot=50, seed=0)
    assert same.diff == 0 and same.delong_p == 1.0 and not same.meets_rule


def test_the_verdict_interval_is_a_95_percent_speaker_clustered_interval():
    """The rule asks for the 95% CI of the paired difference over speaker resamples: checked
    against an independent cluster bootstrap (tests/test_metrics.py), on data where resampling
    trials instead of speakers, or a 90% interval, leaves the wrong share of replicates outside."""
    labels, speakers, baseline, contrastive = speaker_effect_systems(seed=2)
    auc_base, auc_new = cluster_bootstrap_aucs(labels, [baseline, contrastive], speakers, 8000, seed=2026)
    verdict = compare("toy", labels, speakers, baseline, contrastive, n_boot=4000, seed=0)
    assert_95_percent_interval(*verdict.ci, auc_new - auc_base)
    ref_lo, ref_hi = np.percentile(auc_new - auc_base, [2.5, 97.5])
    assert verdict.ci[1] - verdict.ci[0] == pytest.approx(ref_hi - ref_lo, rel=0.15)


def test_align_scores_reorders_by_utterance():
    aligned = align_scores(["b", "a", "c"], [2.0, 1.0, 3.0], ["a", "b", "c"], "baseline")
    assert aligned.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("score_ids,message", [
    (["a", "b"], "1 of this run's 3 utterances are not in it"),
    (["a", "b", "c", "d"], "it has 1 that this run lacks"),
    (["a", "b", "x"], "scored other trials"),
    (["a", "a", "b", "c"], "twice"),
])
def test_align_scores_refuses_other_trials(score_ids, message):
    with pytest.raises(TrialMismatch, match=message):
        align_scores(score_ids, np.zeros(len(score_ids)), ["a", "b", "c"], "the baseline run")


def _baseline_run(tmp_path, split_id, split_dir, utt_ids, n_bonafide, n_spoof):
    """A step-3 holdout run that tested `split_id` with the given label counts."""
    import hashlib

    from deepfake_pipeline.formats.score_files import write_score_file
    from deepfake_pipeline.formats.step3_run import BaselineRun
    run = tmp_path / "baseline"
    (run / "scores").mkdir(parents=True)
    write_score_file(run / "scores" / f"{split_id}.txt", utt_ids, np.linspace(-1, 1, len(utt_ids)))
    sha = hashlib.sha256((split_dir / "manifest.csv").read_bytes()).hexdigest()
    return BaselineRun(
        path=run, config={"features": {split_id: {"manifest_sha256": sha}}},
        metrics={"tests": {split_id: {"n_bonafide": n_bonafide, "n_spoof": n_spoof,
                                      "score_file": f"scores/{split_id}.txt"}}},
        protocol="holdout", train="toy_train", dev="toy_dev", tests=[split_id], test_labels={split_id: split_id},
        model_spec="random:base", model_tag="random-base", chosen_layers=[1], C_grid=(1.0,), select_by="auc",
        seed=0, top_db=40.0, folds=None, inner_folds=None)


def test_step_4_refuses_labels_whose_counts_differ_from_the_baseline(tmp_path):
    """Belt and braces beside the manifest hash: even with the very manifest the baseline read,
    labels that count other bona fide / spoof numbers than the baseline's are refused."""
    from types import SimpleNamespace

    from logreg_fixtures import balanced_design, make_split

    from deepfake_pipeline.contrastive.experiment import _check_trials
    labels, speakers = balanced_design(4, 7, seed=3)          # 12 bona fide, 16 spoof: unequal on purpose
    split_dir = make_split(tmp_path / "interim", tmp_path / "processed", "toy_eval", labels, speakers)
    utt_ids = [f"toy_eval_{i:04d}" for i in range(len(labels))]
    n_bonafide, n_spoof = int(np.sum(labels == 0)), int(np.sum(labels == 1))      # counted here, not by the code
    assert (n_bonafide, n_spoof) == (12, 16)
    baseline = _baseline_run(tmp_path, "toy_eval", split_dir, utt_ids, n_bonafide, n_spoof)

    def split(split_labels):
        return {"toy_eval": SimpleNamespace(split_dir=split_dir, labels=split_labels, utt_ids=np.array(utt_ids))}

    aligned = _check_trials(baseline, split(labels))
    assert aligned["toy_eval"].tolist() == pytest.approx(np.linspace(-1, 1, len(labels)).tolist())
    for flip in (int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 1)[0])):
        changed = labels.copy()
        changed[flip] = 1 - changed[flip]
        with pytest.raises(TrialMismatch, match="the labels differ"):
            _check_trials(baseline, split(changed))
    # the same counts in another order pass this check: the manifest hash is the check for that
    assert "toy_eval" in _check_trials(baseline, split(labels[::-1].copy()))
