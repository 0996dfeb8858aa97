"""The verdict: the 1-point rule, the line it prints, and the refusal to compare runs that scored
different trials."""

import re

import numpy as np
import pytest
from metric_references import assert_95_percent_interval, cluster_bootstrap_aucs, speaker_effect_systems

from deepfake_pipeline.evaluation import metrics
from deepfake_pipeline.evaluation.verdict import Verdict, compare
from deepfake_pipeline.formats.step3_run import TrialMismatch, align_scores

VERDICT_RE = re.compile(
    r"^contrastive vs baseline test=(?P<split>\S+): (?P<base>\d\.\d{4}) -> (?P<new>\d\.\d{4}), "
    r"(?P<diff>[+-]\d+\.\d{2}) points \(95% CI (?P<lo>[+-]\d+\.\d{2}) to (?P<hi>[+-]\d+\.\d{2})\), "
    r"DeLong p=(?P<p>[0-9.e+-]+): (?P<outcome>meets the 1-point rule|does not meet the 1-point rule \(.+\))"
    r"(?: run=(?P<run>\S+))?"
    r"(?P<caveats>( \[untrained model: not a detection result\])?( \[demo corpus\])?)$"
)


def _verdict(diff, ci, p):
    return Verdict(
        split="x_eval", baseline_auc=0.9, contrastive_auc=0.9 + diff, diff=diff, ci=ci, delong_p=p, n_trials=100
    )


@pytest.mark.parametrize(
    "diff,ci,p,meets,reason",
    [
        (0.0107, (0.006, 0.015), 0.002, True, None),
        (0.0100, (0.001, 0.02), 0.04, True, None),  # exactly one point counts
        (0.0099, (0.001, 0.02), 0.001, False, "under 1 point"),
        (0.0150, (-0.001, 0.03), 0.01, False, "CI is not above 0"),
        (0.0150, (0.001, 0.03), 0.05, False, "DeLong p >= 0.05"),
        (-0.0300, (-0.05, -0.01), 0.001, False, "a loss"),
        (0.0150, None, 0.001, False, "no bootstrap interval"),
    ],
)
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
    verdict = Verdict(
        split="asvspoof2019_eval",
        baseline_auc=0.9744,
        contrastive_auc=0.9851,
        diff=0.0107,
        ci=(0.006, 0.015),
        delong_p=0.002,
        n_trials=71237,
    )
    assert verdict.line() == (
        "contrastive vs baseline test=asvspoof2019_eval: 0.9744 -> 0.9851, +1.07 points "
        "(95% CI +0.60 to +1.50), DeLong p=0.002: meets the 1-point rule"
    )
    assert verdict.line(untrained=True, demo=True).endswith(
        "meets the 1-point rule [untrained model: not a detection result] [demo corpus]"
    )
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
    against an independent cluster bootstrap (tests/evaluation/test_metrics.py), on data where resampling
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


@pytest.mark.parametrize(
    "score_ids,message",
    [
        (["a", "b"], "1 of this run's 3 utterances are not in it"),
        (["a", "b", "c", "d"], "it has 1 that this run lacks"),
        (["a", "b", "x"], "scored other trials"),
        (["a", "a", "b", "c"], "twice"),
    ],
)
def test_align_scores_refuses_other_trials(score_ids, message):
    with pytest.raises(TrialMismatch, match=message):
        align_scores(score_ids, np.zeros(len(score_ids)), ["a", "b", "c"], "the baseline run")


def _baseline_run(tmp_path, split_id, split_dir, utt_ids, n_bonafide, n_spoof):
    """A step-3 holdout run that tested `split_id` with the given label counts."""
    import hashlib

    from deepfake_pipeline.formats.model_identity import ModelIdentity
    from deepfake_pipeline.formats.score_files import write_score_file
    from deepfake_pipeline.formats.step3_run import BaselineRun

    run = tmp_path / "baseline"
    (run / "scores").mkdir(parents=True)
    write_score_file(run / "scores" / f"{split_id}.txt", utt_ids, np.linspace(-1, 1, len(utt_ids)))
    sha = hashlib.sha256((split_dir / "manifest.csv").read_bytes()).hexdigest()
    return BaselineRun(
        path=run,
        config={"features": {split_id: {"manifest_sha256": sha}}},
        metrics={
            "tests": {split_id: {"n_bonafide": n_bonafide, "n_spoof": n_spoof, "score_file": f"scores/{split_id}.txt"}}
        },
        protocol="holdout",
        train="toy_train",
        dev="toy_dev",
        tests=[split_id],
        test_labels={split_id: split_id},
        model_spec="random:base",
        model_tag="random-base",
        model_identities={split_id: ModelIdentity("random", "base", seed=0)},
        chosen_layers=[1],
        C_grid=(1.0,),
        select_by="auc",
        seed=0,
        top_db=40.0,
        folds=None,
        inner_folds=None,
    )


def test_step_4_refuses_labels_whose_counts_differ_from_the_baseline(tmp_path):
    """Belt and braces beside the manifest hash: even with the very manifest the baseline read,
    labels that count other bona fide / spoof numbers than the baseline's are refused."""
    from types import SimpleNamespace

    from logreg_fixtures import balanced_design, make_split

    from deepfake_pipeline.contrastive.experiment import _check_trials

    labels, speakers = balanced_design(4, 7, seed=3)  # 12 bona fide, 16 spoof: unequal on purpose
    split_dir = make_split(tmp_path / "interim", tmp_path / "processed", "toy_eval", labels, speakers)
    utt_ids = [f"toy_eval_{i:04d}" for i in range(len(labels))]
    n_bonafide, n_spoof = int(np.sum(labels == 0)), int(np.sum(labels == 1))  # counted here, not by the code
    assert (n_bonafide, n_spoof) == (12, 16)
    baseline = _baseline_run(tmp_path, "toy_eval", split_dir, utt_ids, n_bonafide, n_spoof)

    def split(split_labels):
        return {
            "toy_eval": SimpleNamespace(
                split_dir=split_dir,
                labels=split_labels,
                utt_ids=np.array(utt_ids),
                meta={"model_identity": {"source": "random", "name": "base", "seed": 0}},
            )
        }

    aligned = _check_trials(baseline, split(labels))
    assert aligned["toy_eval"].tolist() == pytest.approx(np.linspace(-1, 1, len(labels)).tolist())
    for flip in (int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 1)[0])):
        changed = labels.copy()
        changed[flip] = 1 - changed[flip]
        with pytest.raises(TrialMismatch, match="the labels differ"):
            _check_trials(baseline, split(changed))
    # the same counts in another order pass this check: the manifest hash is the check for that
    assert "toy_eval" in _check_trials(baseline, split(labels[::-1].copy()))


# ----------------------------------------------------------------------------- beside the rule


def test_failures_list_every_reason_in_order():
    assert _verdict(0.0, (0.0, 0.02), 0.05).failures == [
        "the change is under 1 point",
        "the 95% CI is not above 0",
        "DeLong p >= 0.05",
    ]
    assert _verdict(-0.001, None, 0.5).failures == [
        "the change is a loss",
        "no bootstrap interval (--n-boot 0)",
        "DeLong p >= 0.05",
    ]
    assert _verdict(0.01, (1e-9, 0.02), 0.0499).failures == []


def test_p_values_print_in_fixed_notation_down_to_one_in_a_thousand():
    assert "DeLong p=0.001:" in _verdict(0.02, (0.01, 0.03), 0.001).line()
    assert "DeLong p=1.0e-03:" in _verdict(0.02, (0.01, 0.03), 0.000999).line()
    assert "DeLong p=0.046:" in _verdict(0.02, (0.01, 0.03), 0.0456).line()


def test_line_shows_eer_and_min_tdcf_beside_the_rule():
    eer, tdcf = (0.05, 0.04, -0.01, -0.02, 0.02), (0.2, 0.15, -0.05, -0.08, -0.01)
    verdict = Verdict(
        split="s",
        baseline_auc=0.9,
        contrastive_auc=0.92,
        diff=0.02,
        ci=(0.01, 0.03),
        delong_p=0.5,
        n_trials=10,
        eer=eer,
        min_tdcf=tdcf,
    )
    assert verdict.line(name="head") == (
        "head vs baseline test=s: 0.9000 -> 0.9200, +2.00 points (95% CI +1.00 to +3.00), DeLong p=0.500: "
        "does not meet the 1-point rule (DeLong p >= 0.05); beside it: EER 5.00% -> 4.00% (-1.00 points, "
        "95% CI -2.00 to +2.00); min-tDCF 0.2000 -> 0.1500 (-0.0500, 95% CI -0.0800 to -0.0100)"
    )
    no_ci = Verdict(
        split="s",
        baseline_auc=0.9,
        contrastive_auc=0.92,
        diff=0.02,
        ci=None,
        delong_p=0.5,
        n_trials=10,
        eer=(*eer[:3], None, None),
        min_tdcf=(*tdcf[:3], None, None),
    )
    assert no_ci.line().endswith(
        "(no CI), DeLong p=0.500: does not meet the 1-point rule (no bootstrap interval (--n-boot 0); "
        "DeLong p >= 0.05); beside it: EER 5.00% -> 4.00% (-1.00 points); min-tDCF 0.2000 -> 0.1500 (-0.0500)"
    )
    tdcf_only = Verdict(
        split="s", baseline_auc=0.9, contrastive_auc=0.92, diff=0.02, ci=None, delong_p=0.5, n_trials=10, min_tdcf=tdcf
    )
    assert tdcf_only.line().endswith(
        "DeLong p >= 0.05); beside it: min-tDCF 0.2000 -> 0.1500 (-0.0500, 95% CI -0.0800 to -0.0100)"
    )
    assert "beside it" not in _verdict(0.02, (0.01, 0.03), 0.001).line()


def test_to_json_records_the_rule_and_the_numbers_beside_it():
    eer, tdcf = (0.05, 0.04, -0.01, -0.02, 0.001), (0.2, 0.15, -0.05, -0.08, -0.01)
    verdict = Verdict(
        split="s",
        baseline_auc=0.9,
        contrastive_auc=0.92,
        diff=0.02,
        ci=(0.01, 0.03),
        delong_p=0.5,
        n_trials=10,
        eer=eer,
        min_tdcf=tdcf,
    )
    assert verdict.to_json() == {
        "split": "s",
        "baseline_auc": 0.9,
        "contrastive_auc": 0.92,
        "diff": 0.02,
        "ci": [0.01, 0.03],
        "delong_p": 0.5,
        "n_trials": 10,
        "meets_rule": False,
        "failures": ["DeLong p >= 0.05"],
        "eer": {"baseline": 0.05, "contrastive": 0.04, "diff": -0.01, "lo": -0.02, "hi": 0.001},
        "min_tdcf": {"baseline": 0.2, "contrastive": 0.15, "diff": -0.05, "lo": -0.08, "hi": -0.01},
    }
    bare = _verdict(0.02, None, 0.001).to_json()
    assert (bare["ci"], bare["eer"], bare["min_tdcf"], bare["meets_rule"]) == (None, None, None, False)
    assert bare["failures"] == ["no bootstrap interval (--n-boot 0)"]


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_compare_reports_official_eer_and_min_tdcf_against_naive_loops(version):
    """The numbers beside the rule are each system's official EER and min t-DCF (its ASV scores
    and t-DCF version), checked against the trial-by-trial loops of tests/evaluation/test_tdcf.py."""
    from tdcf_references import naive_asv_rates, naive_min_tdcf, naive_official_eer

    from deepfake_pipeline.formats.asv_scores import ASVScores

    labels, speakers, baseline, better = _scores(n=120, seed=1)
    rng = np.random.default_rng(5)
    asv_scores = ASVScores(
        target=rng.normal(2, 1, 30),
        nontarget=rng.normal(0, 1, 50),
        spoof=rng.normal(1, 1, 45),
        spoof_attack=np.array(["A01"] * 45),
    )
    verdict = compare("toy", labels, speakers, baseline, better, n_boot=50, seed=0, asv=(asv_scores, version))
    bona, spoof = labels == 0, labels == 1
    eers = [naive_official_eer(s[bona].tolist(), s[spoof].tolist())[0] for s in (baseline, better)]
    rates = naive_asv_rates(asv_scores.target.tolist(), asv_scores.nontarget.tolist(), asv_scores.spoof.tolist())
    tdcfs = [naive_min_tdcf(s[bona].tolist(), s[spoof].tolist(), rates, int(version)) for s in (baseline, better)]
    assert verdict.n_trials == 120
    assert verdict.eer[:3] == pytest.approx((eers[0], eers[1], eers[1] - eers[0]), abs=1e-12)
    assert verdict.min_tdcf[:3] == pytest.approx((tdcfs[0], tdcfs[1], tdcfs[1] - tdcfs[0]), rel=1e-9)
    # the better system lowers both, and the paired intervals say so
    assert verdict.eer[4] < 0 and verdict.min_tdcf[4] < 0
    assert verdict.eer[3] <= verdict.eer[4] and verdict.min_tdcf[3] <= verdict.min_tdcf[4]
    without_boot = compare("toy", labels, speakers, baseline, better, n_boot=0, asv=(asv_scores, version))
    assert without_boot.ci is None and without_boot.eer[3:] == (None, None)
    assert without_boot.min_tdcf[:3] == pytest.approx(verdict.min_tdcf[:3], rel=1e-12)
    assert without_boot.min_tdcf[3:] == (None, None)
    assert compare("toy", labels, speakers, baseline, better, n_boot=0).min_tdcf is None


def test_compare_draws_the_resamples_it_is_asked_for():
    """Seed and number of resamples reach all three intervals (AUC, EER and min t-DCF
    differences); the defaults are 1000 resamples from seed 0."""
    from deepfake_pipeline.formats.asv_scores import ASVScores

    labels, speakers, baseline, better = _scores(n=120, seed=1)
    rng = np.random.default_rng(5)
    asv = (
        ASVScores(
            target=rng.normal(2, 1, 30),
            nontarget=rng.normal(0, 1, 50),
            spoof=rng.normal(1, 1, 45),
            spoof_attack=np.array(["A01"] * 45),
        ),
        "2021",
    )
    verdict = compare("toy", labels, speakers, baseline, better, n_boot=30, seed=3, asv=asv)
    assert verdict.split == "toy"
    again = compare("toy", labels, speakers, baseline, better, n_boot=30, seed=3, asv=asv)
    other_seed = compare("toy", labels, speakers, baseline, better, n_boot=30, seed=4, asv=asv)
    for field in ("ci", "eer", "min_tdcf"):
        assert getattr(again, field) == getattr(verdict, field)
        assert getattr(other_seed, field)[-2:] != getattr(verdict, field)[-2:]
    # a single resample: each interval is that resample's value at both ends
    one = compare("toy", labels, speakers, baseline, better, n_boot=1, seed=3, asv=asv)
    assert one.ci[0] == one.ci[1] and one.eer[3] == one.eer[4] and one.min_tdcf[3] == one.min_tdcf[4]
    default = compare("toy", labels, speakers, baseline, better)
    assert default == compare("toy", labels, speakers, baseline, better, n_boot=1000, seed=0)
    assert default.ci != compare("toy", labels, speakers, baseline, better, n_boot=999, seed=0).ci
    assert default.ci != compare("toy", labels, speakers, baseline, better, n_boot=1000, seed=1).ci


def test_the_eer_interval_resamples_speakers_too():
    """Where the change differs between speakers, the EER-change interval over speaker resamples
    is much wider than one over single trials (as the AUC one: test_paired_bootstrap_resamples_
    speakers_not_trials)."""
    labels, speakers, baseline, contrastive = speaker_effect_systems(seed=2)
    by_speaker = compare("toy", labels, speakers, baseline, contrastive, n_boot=400, seed=0)
    by_trial = compare("toy", labels, None, baseline, contrastive, n_boot=400, seed=0)
    assert by_speaker.ci[1] - by_speaker.ci[0] > 1.5 * (by_trial.ci[1] - by_trial.ci[0])
    assert by_speaker.eer[4] - by_speaker.eer[3] > 1.5 * (by_trial.eer[4] - by_trial.eer[3])
