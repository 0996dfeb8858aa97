"""Metrics checked against independent, deliberately naive computations."""

import json
import math
import pickle

import numpy as np
import pytest
from metric_references import (
    assert_95_percent_interval,
    cluster_bootstrap_aucs,
    pairwise_auc,
    speaker_effect_systems,
)
from scipy.stats import norm
from sklearn.metrics import det_curve as sklearn_det_curve

from deepfake_pipeline.evaluation.metrics import (
    EER,
    check_labels,
    check_scores,
    det_curve,
    eer,
    per_attack_metrics,
    roc_auc,
)
from deepfake_pipeline.evaluation.paired import delong_test, paired_bootstrap_auc_diff
from deepfake_pipeline.evaluation.significance import (
    bootstrap_ci,
    cluster_codes,
    summarize,
)


def make_trials(n_bona, n_spoof, separation, seed, decimals=None):
    """Labels (bona fide first) and scores where bona fide trials score ``separation`` higher."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_bona, int), np.ones(n_spoof, int)]
    scores = rng.normal(size=labels.size) + separation * (labels == 0)
    if decimals is not None:
        scores = np.round(scores, decimals)
    return labels, scores


def brute_force_rates(labels, scores):
    """(threshold, FRR, FAR) at every distinct score and above the highest, one trial at a time."""
    points = []
    for t in sorted(set(scores.tolist())) + [math.inf]:
        frr = sum(s < t for s, y in zip(scores, labels, strict=True) if y == 0) / np.sum(labels == 0)
        far = sum(s >= t for s, y in zip(scores, labels, strict=True) if y == 1) / np.sum(labels == 1)
        points.append((t, frr, far))
    return points


def asvspoof_reference_eer(bona_scores, spoof_scores):
    """The ASVspoof evaluation packages' EER, restated: reject the k lowest trials of the stable
    sort (bona fide first among ties), take the k with the smallest |FRR - FAR|, and average."""
    all_scores = np.concatenate([bona_scores, spoof_scores])
    is_bona = np.concatenate([np.ones(bona_scores.size), np.zeros(spoof_scores.size)])
    is_bona = is_bona[np.argsort(all_scores, kind="mergesort")]
    frr = np.r_[0, np.cumsum(is_bona) / bona_scores.size]
    far = np.r_[1, (spoof_scores.size - np.cumsum(1 - is_bona)) / spoof_scores.size]
    best = np.argmin(np.abs(frr - far))
    return (frr[best] + far[best]) / 2


# ----------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_roc_auc_equals_pairwise_count_with_half_credit_for_ties(decimals):
    labels, scores = make_trials(40, 60, 0.8, seed=1, decimals=decimals)
    assert roc_auc(labels, scores) == pytest.approx(pairwise_auc(labels, scores), abs=1e-12)


def test_roc_auc_rewards_higher_scores_for_bona_fide():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, [3.0, 2.0, 1.0, 0.0]) == 1.0
    assert roc_auc(labels, [0.0, 1.0, 2.0, 3.0]) == 0.0


# ----------------------------------------------------------------------------- EER


@pytest.mark.parametrize("decimals", [None, 1])
def test_eer_lies_on_the_brute_force_crossing_segment(decimals):
    labels, scores = make_trials(50, 70, 1.0, seed=2, decimals=decimals)
    points = brute_force_rates(labels, scores)
    upper = next(i for i, (_, frr, far) in enumerate(points) if frr >= far)
    (t_lo, frr_lo, far_lo), (t_hi, frr_hi, far_hi) = points[upper - 1], points[upper]
    result = eer(labels, scores)
    assert frr_lo - 1e-12 <= result.eer <= frr_hi + 1e-12
    assert far_hi - 1e-12 <= result.eer <= far_lo + 1e-12
    assert t_lo <= result.threshold <= t_hi
    # (EER, EER) is on the straight line through the two points (zero cross product).
    cross = (result.eer - far_lo) * (frr_hi - frr_lo) - (result.eer - frr_lo) * (far_hi - far_lo)
    assert cross == pytest.approx(0, abs=1e-12)


def test_eer_hand_computed_interpolation():
    # Thresholds 1, 2, 3: (FRR, FAR) = (0, 1/2), (1/3, 1/2), (1/3, 0). FRR - FAR goes from
    # -1/6 to +1/3, so the crossing is 1/3 of the way from t=2 to t=3, at EER 1/3.
    result = eer([0, 0, 0, 1, 1], [1.0, 3.0, 4.0, 0.0, 2.0])
    assert result.eer == pytest.approx(1 / 3, abs=1e-12)
    assert result.threshold == pytest.approx(2 + 1 / 3, abs=1e-12)


def test_eer_is_exact_where_the_curves_meet_at_an_operating_point():
    bona, spoof = np.array([2.0, 3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.5, 6.0])
    labels = np.r_[np.zeros(4, int), np.ones(4, int)]
    result = eer(labels, np.r_[bona, spoof])
    assert result == EER(eer=0.25, threshold=3.0)  # FRR = FAR = 1/4 accepting score >= 3
    assert asvspoof_reference_eer(bona, spoof) == 0.25


def test_eer_agrees_with_the_asvspoof_reference_within_half_a_step():
    for seed in range(5):
        labels, scores = make_trials(37, 83, 1.2, seed=seed)
        reference = asvspoof_reference_eer(scores[labels == 0], scores[labels == 1])
        half_step = max(1 / 37, 1 / 83) / 2
        assert abs(eer(labels, scores).eer - reference) <= half_step + 1e-12


def test_eer_is_zero_and_auc_one_for_perfectly_separated_scores():
    labels = np.r_[np.zeros(5, int), np.ones(7, int)]
    scores = np.r_[np.linspace(10, 11, 5), np.linspace(0, 1, 7)]
    result = eer(labels, scores)
    assert result.eer == 0.0
    assert 1.0 < result.threshold <= 10.0
    assert roc_auc(labels, scores) == 1.0


def test_eer_is_near_one_half_for_uninformative_scores():
    labels, scores = make_trials(2000, 2000, 0.0, seed=3)
    assert abs(eer(labels, scores).eer - 0.5) < 0.04
    assert eer(labels, np.zeros(labels.size)).eer == pytest.approx(0.5)  # one big tie


@pytest.mark.parametrize("decimals", [None, 1])
def test_eer_and_auc_are_invariant_to_increasing_transforms(decimals):
    labels, scores = make_trials(60, 90, 0.7, seed=4, decimals=decimals)
    for transform in (np.exp, lambda x: 3 * x - 7, lambda x: x**3):
        assert eer(labels, transform(scores)).eer == pytest.approx(eer(labels, scores).eer, abs=1e-12)
        assert roc_auc(labels, transform(scores)) == pytest.approx(roc_auc(labels, scores), abs=1e-12)


def test_det_curve_contains_sklearn_operating_points():
    labels, scores = make_trials(30, 50, 0.5, seed=5, decimals=1)
    far, frr, thresholds = det_curve(labels, scores)
    assert (far[0], frr[0], far[-1], frr[-1]) == (1.0, 0.0, 0.0, 1.0)
    assert np.all(np.diff(thresholds) > 0) and np.all(np.diff(far) <= 0) and np.all(np.diff(frr) >= 0)
    # sklearn with bona fide as the positive class: fpr = FAR and fnr = FRR at score >= t.
    ref_far, ref_frr, ref_thresholds = sklearn_det_curve(labels == 0, scores, drop_intermediate=False)
    finite = np.isfinite(ref_thresholds)
    where = np.searchsorted(thresholds, ref_thresholds[finite])
    assert np.array_equal(thresholds[where], ref_thresholds[finite])
    assert np.allclose(far[where], ref_far[finite]) and np.allclose(frr[where], ref_frr[finite])


# ----------------------------------------------------------------------------- DeLong


def direct_delong_z(labels, scores_a, scores_b):
    """DeLong et al. (1988) from the pairwise kernel, O(n^2)."""
    bona, spoof = labels == 0, labels == 1
    components_bona, components_spoof, aucs = [], [], []
    for scores in (scores_a, scores_b):
        kernel = (scores[bona][:, None] > scores[spoof][None, :]) + 0.5 * (
            scores[bona][:, None] == scores[spoof][None, :]
        )
        aucs.append(kernel.mean())
        components_bona.append(kernel.mean(axis=1))
        components_spoof.append(kernel.mean(axis=0))
    s10, s01 = np.cov(components_bona), np.cov(components_spoof)
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / bona.sum() + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / spoof.sum()
    return aucs, (aucs[1] - aucs[0]) / math.sqrt(variance)


def test_delong_matches_direct_structural_components_with_ties():
    labels, scores_a = make_trials(25, 35, 0.8, seed=6, decimals=1)
    scores_b = np.round(scores_a + np.random.default_rng(7).normal(scale=0.8, size=labels.size), 1)
    (auc_a, auc_b), z = direct_delong_z(labels, scores_a, scores_b)
    result = delong_test(labels, scores_a, scores_b)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.diff == pytest.approx(auc_b - auc_a, abs=1e-12)
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)


def test_delong_p_is_one_for_identical_systems_and_tiny_for_a_clearly_better_one():
    labels, scores = make_trials(200, 200, 0.3, seed=8)
    assert delong_test(labels, scores, scores).p_value == 1.0
    better = scores + 2.0 * (labels == 0)
    result = delong_test(labels, scores, better)
    assert result.diff > 0 and result.p_value < 1e-6


# ----------------------------------------------------------------------------- bootstrap


def speakers_for(labels, n_speakers, seed):
    """Speaker ids that each hold trials of one class, as in ASVspoof."""
    rng = np.random.default_rng(seed)
    return np.array([f"{'B' if y == 0 else 'S'}{rng.integers(n_speakers)}" for y in labels])


def test_bootstrap_ci_contains_the_estimate_and_is_deterministic():
    labels, scores = make_trials(80, 120, 1.0, seed=9)
    groups = speakers_for(labels, 10, seed=9)
    for statistic, point in ((roc_auc, roc_auc(labels, scores)), (eer, eer(labels, scores).eer)):
        lo, hi = bootstrap_ci(labels, scores, groups, statistic, n_boot=300, seed=1)
        assert lo < point < hi
        assert bootstrap_ci(labels, scores, groups, statistic, n_boot=300, seed=1) == (lo, hi)
        assert bootstrap_ci(labels, scores, groups, statistic, n_boot=300, seed=2) != (lo, hi)


def test_vectorised_bootstrap_equals_materialised_resamples():
    labels, scores = make_trials(40, 60, 0.8, seed=10, decimals=1)
    groups = speakers_for(labels, 6, seed=10).astype(object)
    groups[::7] = "-"  # unknown speakers: single-trial clusters
    for fast, slow in ((roc_auc, lambda y, s: roc_auc(y, s)), (eer, lambda y, s: eer(y, s))):
        expected = bootstrap_ci(labels, scores, groups, slow, n_boot=100, seed=3)
        assert bootstrap_ci(labels, scores, groups, fast, n_boot=100, seed=3) == pytest.approx(expected, abs=1e-12)


def test_clustered_bootstrap_is_wider_when_trials_repeat_within_clusters():
    labels, scores = make_trials(60, 60, 1.0, seed=11)
    copies = 10
    labels_rep, scores_rep = np.repeat(labels, copies), np.repeat(scores, copies)
    original_trial = np.repeat(np.arange(labels.size), copies)
    lo_c, hi_c = bootstrap_ci(labels_rep, scores_rep, original_trial, roc_auc, n_boot=300)
    lo_t, hi_t = bootstrap_ci(labels_rep, scores_rep, ["-"] * labels_rep.size, roc_auc, n_boot=300)
    # Duplicates carry no new information: clustering must give about sqrt(10) wider intervals.
    assert (hi_c - lo_c) > 2 * (hi_t - lo_t)
    lo_once, hi_once = bootstrap_ci(labels, scores, None, roc_auc, n_boot=300)
    assert (hi_c - lo_c) == pytest.approx(hi_once - lo_once, rel=0.35)


def test_unknown_speakers_are_single_trial_clusters():
    codes = cluster_codes(["a", "-", "b", "a", "-", None], 6)
    assert codes[0] == codes[3]
    assert len({codes[1], codes[4], codes[5], codes[0], codes[2]}) == 5
    labels, scores = make_trials(30, 30, 1.0, seed=12)
    assert bootstrap_ci(labels, scores, ["-"] * 60, roc_auc, n_boot=50) == bootstrap_ci(
        labels, scores, None, roc_auc, n_boot=50
    )


def test_resamples_lacking_a_class_are_redrawn_and_counted():
    # Three single-class clusters: a resample misses the one bona fide cluster 8/27 of the time
    # and holds nothing else 1/27 of the time, so about half as many redraws as kept resamples.
    labels = np.array([0] * 10 + [1] * 20)
    scores = np.random.default_rng(13).normal(size=30)
    groups = ["b"] * 10 + ["s1"] * 10 + ["s2"] * 10
    result = bootstrap_ci(labels, scores, groups, roc_auc, n_boot=400)
    assert 100 < result.n_redrawn < 300 and result.n_boot == 400 and result.n_clusters == 3


def test_too_many_degenerate_resamples_raise():
    # Two single-class clusters: half of all resamples lack a class; some seeds exceed half.
    labels, scores, groups = [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["b", "b", "s", "s"]
    outcomes = []
    for seed in range(10):
        try:
            bootstrap_ci(labels, scores, groups, roc_auc, n_boot=200, seed=seed)
            outcomes.append("ok")
        except ValueError as exc:
            assert "more than half" in str(exc)
            outcomes.append("raised")
    assert "raised" in outcomes


def test_paired_bootstrap_of_a_system_against_itself_is_zero():
    labels, scores = make_trials(50, 50, 1.0, seed=14)
    groups = speakers_for(labels, 8, seed=14)
    assert paired_bootstrap_auc_diff(labels, scores, scores, groups, n_boot=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_finds_a_clearly_better_system():
    labels, scores_a = make_trials(100, 100, 0.5, seed=15)
    scores_b = scores_a + 1.5 * (labels == 0)
    diff, lo, hi = paired_bootstrap_auc_diff(labels, scores_a, scores_b, None, n_boot=200)
    assert diff == pytest.approx(roc_auc(labels, scores_b) - roc_auc(labels, scores_a))
    assert 0 < lo < diff < hi


# ------------------------------------------------- intervals against an independent bootstrap


def test_paired_bootstrap_resamples_speakers_not_trials():
    labels, groups, scores_a, scores_b = speaker_effect_systems()
    auc_a, auc_b = cluster_bootstrap_aucs(labels, [scores_a, scores_b], groups, 8000, seed=2024)
    ref_lo, ref_hi = np.percentile(auc_b - auc_a, [2.5, 97.5])
    trials_only = paired_bootstrap_auc_diff(labels, scores_a, scores_b, None, n_boot=4000)
    assert trials_only[2] - trials_only[1] < 0.6 * (ref_hi - ref_lo), "the data must make speakers matter"

    diff, lo, hi = paired_bootstrap_auc_diff(labels, scores_a, scores_b, groups, n_boot=4000, seed=0)
    assert diff == pytest.approx(pairwise_auc(labels, scores_b) - pairwise_auc(labels, scores_a), abs=1e-12)
    assert hi - lo == pytest.approx(ref_hi - ref_lo, rel=0.15)
    assert lo == pytest.approx(ref_lo, abs=0.1 * (ref_hi - ref_lo))
    assert hi == pytest.approx(ref_hi, abs=0.1 * (ref_hi - ref_lo))
    assert_95_percent_interval(lo, hi, auc_b - auc_a)


def test_intervals_are_95_percent_intervals():
    """The default level of every interval step 3 prints (its closing line says "95% CI")."""
    labels, groups, scores_a, scores_b = speaker_effect_systems(seed=1)
    auc_a, auc_b = cluster_bootstrap_aucs(labels, [scores_a, scores_b], groups, 8000, seed=2025)
    summary = summarize(labels, scores_b, groups, n_boot=4000, seed=0)
    assert_95_percent_interval(*summary["auc_ci"], auc_b)
    assert summary["ci_level"] == pytest.approx(0.95)
    assert_95_percent_interval(*bootstrap_ci(labels, scores_b, groups, roc_auc, n_boot=4000), auc_b)
    _, lo, hi = paired_bootstrap_auc_diff(labels, scores_a, scores_b, groups, n_boot=4000)
    assert_95_percent_interval(lo, hi, auc_b - auc_a)


# ----------------------------------------------------------------------------- summary


def test_per_attack_metrics_score_each_attack_against_all_bona_fide():
    rng = np.random.default_rng(16)
    labels = np.r_[np.zeros(40, int), np.ones(60, int)]
    attacks = np.array(["-"] * 40 + ["A01"] * 30 + ["A02"] * 30)
    scores = np.r_[rng.normal(5, 0.1, 40), rng.normal(0, 0.1, 30), rng.normal(5, 1, 30)]
    result = per_attack_metrics(labels, scores, attacks)
    assert list(result) == ["A01", "A02"]
    assert result["A01"] == {"auc": 1.0, "eer": 0.0, "n_spoof": 30, "n_bonafide": 40}
    keep = attacks != "A01"
    assert result["A02"]["auc"] == roc_auc(labels[keep], scores[keep])
    assert result["A02"]["eer"] == eer(labels[keep], scores[keep]).eer


def test_summarize_is_json_ready_and_uses_the_bootstrap_resamples():
    labels, scores = make_trials(60, 90, 1.0, seed=17)
    groups = speakers_for(labels, 8, seed=17)
    attacks = np.where(labels == 0, "-", np.where(np.arange(labels.size) % 2, "A07", "A08"))
    summary = summarize(labels, scores, groups, attacks=attacks, n_boot=200, seed=4)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["auc"] == roc_auc(labels, scores)
    assert summary["auc_ci"] == list(bootstrap_ci(labels, scores, groups, roc_auc, n_boot=200, seed=4))
    assert summary["eer_ci"] == list(bootstrap_ci(labels, scores, groups, eer, n_boot=200, seed=4))
    assert (summary["eer"], summary["eer_threshold"]) == tuple(vars(eer(labels, scores)).values())
    assert (summary["n_trials"], summary["n_bonafide"], summary["n_spoof"]) == (150, 60, 90)
    assert set(summary["per_attack"]) == {"A07", "A08"}
    assert summarize(labels, scores, groups, n_boot=0)["auc_ci"] is None


def test_bootstrap_result_unpacks_and_pickles():
    labels, scores = make_trials(20, 20, 1.0, seed=18)
    result = bootstrap_ci(labels, scores, None, roc_auc, n_boot=20)
    lo, hi = result
    again = pickle.loads(pickle.dumps(result))
    assert again == (lo, hi) and again.n_boot == 20 and again.n_clusters == 40


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "labels",
    [
        [0, 0, 0, 0],  # no spoof
        [1, 1, 1, 1],  # no bona fide
        [0, 1, 2, 1],
        [0, 1, -1, 1],  # unlabelled clip
        [0, 1, 0.5, 1],
        ["bonafide", "spoof", "spoof", "bonafide"],
        [False, True, True, False],
        [0, 1, float("nan"), 1],
    ],
)
def test_bad_labels_are_refused(labels):
    scores = [0.1, 0.2, 0.3, 0.4]
    for metric in (roc_auc, eer, det_curve):
        with pytest.raises(ValueError):
            metric(labels, scores)
    with pytest.raises(ValueError):
        bootstrap_ci(labels, scores, None, roc_auc, n_boot=10)


@pytest.mark.parametrize("scores", [[0.1, float("nan"), 0.3, 0.4], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, math.inf]])
def test_bad_scores_are_refused(scores):
    with pytest.raises(ValueError):
        eer([0, 1, 0, 1], scores)
    with pytest.raises(ValueError):
        delong_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], scores)


# ----------------------------------------------------------------------------- what the refusals say


def test_refusals_name_the_problem():
    """Each refusal says what is wrong in words a user can act on (mutation testing: the messages
    and the branch each input takes)."""
    scores = [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match=r"^labels must be one-dimensional, got shape \(2, 2\)"):
        roc_auc([[0, 1], [1, 0]], scores)
    with pytest.raises(ValueError, match=r"^labels are empty: metrics need bona fide \(0\) and spoof \(1\)"):
        eer([], [])
    with pytest.raises(ValueError, match=r"^labels contain no spoof \(1\) trials: AUC and EER need both classes"):
        eer([0], [0.5])  # a single trial is not "empty": it lacks a class
    with pytest.raises(ValueError, match=r"^labels contain no spoof \(1\) trials: AUC and EER need both classes"):
        eer([0, 0, 0, 0], scores)
    with pytest.raises(ValueError, match=r"^labels contain no bona fide \(0\) trials: AUC and EER need both"):
        eer([1, 1, 1, 1], scores)
    for text_or_bool in (["bonafide", "spoof", "spoof", "bonafide"], [False, True, True, False]):
        with pytest.raises(
            ValueError,
            match=r"^labels must be integers 0 \(bona fide\) or 1 \(spoof\), got dtype "
            r".*; map text labels \('bonafide'/'spoof'\) to 0/1 first",
        ):
            eer(text_or_bool, scores)
    with pytest.raises(
        ValueError,
        match=r"^labels must be 0 \(bona fide\) or 1 \(spoof\); 2 trial\(s\) have other "
        r"values, e\.g\. -1, 2 \(drop unlabelled trials, label -1, before scoring\)",
    ):
        eer([0, 2, -1, 1], scores)
    with pytest.raises(ValueError, match=r"^scores must be numbers: "):
        eer([0, 1, 0, 1], ["a", "b", "c", "d"])
    with pytest.raises(
        ValueError,
        match=r"^scores must be one-dimensional with one score per label \(4\), "
        r"got shape \(3,\)",
    ):
        eer([0, 1, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"^scores contain 1 NaN or infinite value\(s\)"):
        eer([0, 1, 0, 1], [0.1, math.nan, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"^attacks must give one name per trial \(4\), got shape \(3,\)"):
        per_attack_metrics([0, 1, 0, 1], scores, ["-", "A01", "-"])


def test_bad_label_examples_are_at_most_five_drawn_from_the_first_thousand_offenders():
    labels = np.r_[0, 1, np.arange(2, 8)]  # six other values: 2..7
    with pytest.raises(ValueError, match=r"6 trial\(s\) have other values, e\.g\. 2, 3, 4, 5, 6 \(drop"):
        check_labels(labels)
    # the examples are read from the first 1000 offending trials only (the 1001st, 3, is not shown)
    labels = np.r_[0, 1, np.full(1000, 7), 3]
    with pytest.raises(ValueError, match=r"1001 trial\(s\) have other values, e\.g\. 7 \(drop"):
        check_labels(labels)


def test_checked_inputs_come_back_as_int8_labels_and_float64_scores():
    labels = check_labels([0, 1, 1.0, 0])
    assert labels.dtype == np.int8 and labels.tolist() == [0, 1, 1, 0]
    scores = check_scores([1, 2, 3], 3)
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 2.0, 3.0]


def test_resampling_and_delong_refusals_name_the_problem():
    labels, scores = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match=r"^groups must give one cluster id per trial \(4\), got shape \(3,\)"):
        bootstrap_ci(labels, scores, ["a", "b", "c"], roc_auc, n_boot=10)
    for n_boot in (0, -1, 2.5):
        with pytest.raises(ValueError, match=rf"^n_boot must be a positive integer, got {n_boot!r}$"):
            bootstrap_ci(labels, scores, None, roc_auc, n_boot=n_boot)
        with pytest.raises(ValueError, match=r"^n_boot must be a positive integer"):
            paired_bootstrap_auc_diff(labels, scores, scores, None, n_boot=n_boot)
    for alpha in (0, 1, 1.5, -0.05):
        with pytest.raises(
            ValueError,
            match=rf"^alpha must be between 0 and 1 \(0\.05 for a 95% interval\), "
            rf"got {alpha!r}$",
        ):
            bootstrap_ci(labels, scores, None, roc_auc, n_boot=10, alpha=alpha)
        with pytest.raises(ValueError, match=r"^alpha must be between 0 and 1"):
            summarize(labels, scores, None, n_boot=10, alpha=alpha)
    assert bootstrap_ci(labels, scores, None, roc_auc, n_boot=1, alpha=0.999).n_boot == 1  # the smallest allowed
    with pytest.raises(ValueError, match=r"^DeLong's test needs at least two bona fide and two spoof trials$"):
        delong_test([0, 1, 1, 1], scores, scores)
    with pytest.raises(ValueError, match=r"^DeLong's test needs at least two bona fide and two spoof trials$"):
        delong_test([1, 0, 0, 0], scores, scores)
    assert delong_test([0, 1, 0, 1], scores, scores).p_value == 1.0  # two of each is enough
    with pytest.raises(ValueError, match=r"^scores_b must be one-dimensional"):
        delong_test(labels, scores, scores[:3])
    with pytest.raises(ValueError, match=r"^scores_b must be one-dimensional"):
        paired_bootstrap_auc_diff(labels, scores, scores[:3], None, n_boot=10)
    with pytest.raises(
        ValueError,
        match=r"^more than half of the bootstrap resamples of the 2 clusters lack "
        r"bona fide or spoof trials: too few clusters of one class for a "
        r"cluster bootstrap \(give finer groups, or none to resample single "
        r"trials\)$",
    ):
        for seed in range(20):  # half of all resamples lack a class; some seeds draw more than half
            bootstrap_ci([0, 0, 1, 1], scores, ["b", "b", "s", "s"], roc_auc, n_boot=20, seed=seed)


def test_delong_with_zero_variance_and_different_aucs_is_infinitely_significant():
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = np.array([3.0, 4.0, 5.0, 0.0, 1.0, 2.0])
    result = delong_test(labels, perfect, -perfect)  # AUC 1 -> AUC 0, every component constant
    assert (result.auc_a, result.auc_b, result.diff) == (1.0, 0.0, -1.0)
    assert result.z == -math.inf and result.p_value == 0.0
    assert delong_test(labels, -perfect, perfect).z == math.inf


def test_summarize_reports_official_and_interpolated_eer_and_the_resampling():
    labels, scores = make_trials(30, 40, 1.0, seed=19, decimals=1)
    groups = speakers_for(labels, 6, seed=19).astype(object)
    groups[:5] = "-"  # five trials of unknown speaker: clusters of their own, not speakers
    attacks = np.where(labels == 0, "-", np.where(np.arange(labels.size) % 2, "A07", "A08"))
    summary = summarize(labels, scores, groups, attacks=attacks, n_boot=50, seed=2, alpha=0.1)
    bona, spoof = scores[labels == 0], scores[labels == 1]
    assert summary["eer"] == pytest.approx(asvspoof_reference_eer(bona, spoof), abs=1e-12)
    assert summary["eer_interpolated"] == eer(labels, scores).eer
    assert summary["eer_ci_of"] == "interpolated EER"
    assert summary["ci_level"] == pytest.approx(0.9)
    known = set(groups[5:].tolist())
    assert summary["n_speakers"] == len(known) and summary["n_clusters"] == len(known) + 5
    assert (summary["n_boot"], summary["bootstrap_redrawn"]) == (50, 0)
    assert summary["eer_ci"] == list(bootstrap_ci(labels, scores, groups, eer, n_boot=50, seed=2, alpha=0.1))
    for attack in ("A07", "A08"):
        keep = attacks == attack
        row = summary["per_attack"][attack]
        assert row["eer"] == pytest.approx(asvspoof_reference_eer(bona, scores[keep]), abs=1e-12)
        assert row["eer_interpolated"] == eer(labels[(labels == 0) | keep], scores[(labels == 0) | keep]).eer
    assert summarize(labels, scores, None, n_boot=0)["n_speakers"] == 0


# ----------------------------------------------------------------------------- resampling details


def test_interval_ends_are_the_quantiles_of_the_resampled_values():
    labels, scores = make_trials(15, 15, 1.0, seed=20)
    seen = []

    def recording_auc(y, s):
        seen.append(pairwise_auc(y, s))
        return seen[-1]

    for alpha in (0.05, 0.2):
        seen.clear()
        lo, hi = bootstrap_ci(labels, scores, None, recording_auc, n_boot=40, seed=1, alpha=alpha)
        assert len(seen) == 40
        assert (lo, hi) == pytest.approx(tuple(np.quantile(seen, [alpha / 2, 1 - alpha / 2])), abs=1e-12)


def redraw_design():
    """30 bona fide trials and one spoof trial, each its own cluster: a resample lacks the spoof
    trial with probability (30/31)^31 = 0.36, and holds it exactly once with probability 0.37."""
    labels = np.r_[np.zeros(30, int), 1]
    scores = np.random.default_rng(21).normal(size=31)
    return labels, scores


@pytest.mark.slow
def test_a_resample_holding_one_trial_of_a_class_is_kept():
    labels, scores = redraw_design()
    result = bootstrap_ci(labels, scores, None, roc_auc, n_boot=400, seed=0)
    # about 0.36 / 0.64 redraws per kept resample: 225 expected
    assert 150 < result.n_redrawn < 300 and result.n_boot == 400 and result.n_clusters == 31
    slow = bootstrap_ci(labels, scores, None, lambda y, s: roc_auc(y, s), n_boot=400, seed=0)
    assert slow.n_redrawn == result.n_redrawn and tuple(slow) == pytest.approx(tuple(result), abs=1e-12)
    paired = paired_bootstrap_auc_diff(labels, scores, -scores, None, n_boot=400, seed=0)
    assert (paired.n_boot, paired.n_clusters, paired.n_redrawn) == (400, 31, result.n_redrawn)
    summary = summarize(labels, scores, None, n_boot=400, seed=0)
    assert summary["bootstrap_redrawn"] == result.n_redrawn and summary["n_clusters"] == 31
    assert summary["auc_ci"] == list(result)


@pytest.mark.parametrize("draw_block,sweep_block", [(31, 1), (40, 31 * 3), (31 * 7, 62), (2_000_000, 62)])
def test_results_do_not_depend_on_the_block_sizes(monkeypatch, draw_block, sweep_block):
    """Resample i is the i-th draw whatever the blocks it is drawn and swept in (one resample a
    block, or a few), redraws and the refusal of too many degenerate resamples included."""
    from deepfake_pipeline.evaluation import significance

    labels, scores = redraw_design()
    groups = [f"g{i // 2}" for i in range(31)]
    cases = [(scores, None), (scores, groups)]
    expected = [
        bootstrap_ci(labels, s, g, statistic, n_boot=60, seed=2) for s, g in cases for statistic in (roc_auc, eer)
    ]
    expected_paired = paired_bootstrap_auc_diff(labels, scores, scores**3, None, n_boot=60, seed=2)
    expected_raises = []
    for seed in range(12):
        try:
            bootstrap_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["b", "b", "s", "s"], roc_auc, n_boot=20, seed=seed)
            expected_raises.append(False)
        except ValueError:
            expected_raises.append(True)
    monkeypatch.setattr(significance, "_DRAW_BLOCK", draw_block)
    monkeypatch.setattr(significance, "_SWEEP_BLOCK", sweep_block)
    got = [bootstrap_ci(labels, s, g, statistic, n_boot=60, seed=2) for s, g in cases for statistic in (roc_auc, eer)]
    for a, b in zip(got, expected, strict=True):
        assert tuple(a) == pytest.approx(tuple(b), abs=1e-12) and a.n_redrawn == b.n_redrawn
    paired = paired_bootstrap_auc_diff(labels, scores, scores**3, None, n_boot=60, seed=2)
    assert tuple(paired) == pytest.approx(tuple(expected_paired), abs=1e-12)
    for seed, raised in enumerate(expected_raises):
        if raised:
            with pytest.raises(ValueError, match="more than half"):
                bootstrap_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["b", "b", "s", "s"], roc_auc, n_boot=20, seed=seed)
        else:
            bootstrap_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["b", "b", "s", "s"], roc_auc, n_boot=20, seed=seed)
    # one row a block with many redraws: the refusal counts only the first n_boot draws
    monkeypatch.setattr(significance, "_DRAW_BLOCK", 1)
    assert bootstrap_ci(labels, scores, None, roc_auc, n_boot=400, seed=0).n_redrawn > 150


def test_exactly_half_degenerate_early_draws_are_tolerated():
    # two single-class clusters: each draw lacks a class with probability 1/2. With n_boot = 2 the
    # refusal needs both first draws degenerate (1/4 of seeds); exactly one (1/2 of seeds) is not refused.
    raised = 0
    for seed in range(40):
        try:
            bootstrap_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], ["b", "b", "s", "s"], roc_auc, n_boot=2, seed=seed)
        except ValueError:
            raised += 1
    assert 3 <= raised <= 18


def test_vectorised_bootstrap_equals_materialised_resamples_for_clusters_out_of_order():
    """Clusters whose codes, in the spoof trials' score order, are 1, 3, 0, 4 (neither a run nor
    sorted), and a class with a single trial: the weights must be looked up, not sliced."""
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.25, 0.35, 0.45, 0.1, 0.2, 0.3, 0.5])
    groups = ["P", "Q", "R", "Q", "S", "P", "T"]
    for statistic in (roc_auc, eer):
        slow = bootstrap_ci(
            labels, scores, groups, lambda y, s, statistic=statistic: statistic(y, s), n_boot=60, seed=5
        )
        assert tuple(bootstrap_ci(labels, scores, groups, statistic, n_boot=60, seed=5)) == pytest.approx(
            tuple(slow), abs=1e-12
        )
    one_bona = np.array([0, 1, 1, 1, 1, 1, 1])
    for statistic in (roc_auc, eer):
        slow = bootstrap_ci(
            one_bona, scores, None, lambda y, s, statistic=statistic: statistic(y, s), n_boot=30, seed=5
        )
        assert tuple(bootstrap_ci(one_bona, scores, None, statistic, n_boot=30, seed=5)) == pytest.approx(
            tuple(slow), abs=1e-12
        )


def test_a_cluster_without_spoof_trials_can_have_the_highest_code():
    # every cluster holds bona fide trials; C (the last one seen among them) holds no spoof
    labels, scores, groups = [0, 0, 0, 1, 1], [0.1, 0.5, 0.9, 0.3, 0.6], ["A", "B", "C", "A", "B"]
    result = bootstrap_ci(labels, scores, groups, roc_auc, n_boot=20)
    assert result.n_clusters == 3 and 0 <= result[0] <= result[1] <= 1


def test_missing_group_values_are_single_trial_clusters_whatever_their_spelling():
    codes = cluster_codes(["a", np.nan, "a", np.nan, None, "-"], 6)
    assert codes[0] == codes[2] and len(set(codes.tolist())) == 5
    codes = cluster_codes(["a", np.nan, "a", np.nan], 4)  # no None: numpy alone would make NaN the text 'nan'
    assert codes[0] == codes[2] and len(set(codes.tolist())) == 3


def test_defaults_are_1000_resamples_from_seed_0():
    labels, scores = make_trials(20, 20, 1.0, seed=22)
    other = scores + np.random.default_rng(3).normal(size=40)
    assert bootstrap_ci(labels, scores, None, roc_auc) == bootstrap_ci(labels, scores, None, roc_auc, 1000, 0)
    assert bootstrap_ci(labels, scores, None, roc_auc) != bootstrap_ci(labels, scores, None, roc_auc, 999, 0)
    assert bootstrap_ci(labels, scores, None, roc_auc) != bootstrap_ci(labels, scores, None, roc_auc, 1000, 1)
    paired = paired_bootstrap_auc_diff(labels, scores, other, None)
    assert paired == paired_bootstrap_auc_diff(labels, scores, other, None, 1000, 0)
    assert paired != paired_bootstrap_auc_diff(labels, scores, other, None, 999, 0)
    assert paired != paired_bootstrap_auc_diff(labels, scores, other, None, 1000, 1)
    assert paired_bootstrap_auc_diff(labels, scores, other, None, 50, 7) == paired_bootstrap_auc_diff(
        labels, scores, other, None, 50, 7
    )
    summary = summarize(labels, scores, None)
    assert summary["auc_ci"] == list(bootstrap_ci(labels, scores, None, roc_auc, 1000, 0))
    assert summary["n_boot"] == 1000
    assert summary["eer_ci"] != summarize(labels, scores, None, seed=1)["eer_ci"]
    bare = summarize(labels, scores, None, n_boot=0)
    assert (bare["auc_ci"], bare["eer_ci"], bare["bootstrap_redrawn"], bare["n_boot"]) == (None, None, 0, 0)


def test_summarize_passes_asv_scores_and_the_prior_to_the_field_metrics():
    from tdcf_references import naive_asv_rates, naive_min_tdcf

    from deepfake_pipeline.formats.asv_scores import ASVScores

    labels, scores = make_trials(20, 30, 1.0, seed=23)
    rng = np.random.default_rng(6)
    asv = ASVScores(
        target=rng.normal(2, 1, 20),
        nontarget=rng.normal(0, 1, 25),
        spoof=rng.normal(1, 1, 15),
        spoof_attack=np.array(["A01"] * 15),
    )
    summary = summarize(labels, scores, None, n_boot=0, asv=(asv, "2021"), prior_log_odds=0.5)
    rates = naive_asv_rates(asv.target.tolist(), asv.nontarget.tolist(), asv.spoof.tolist())
    expected = naive_min_tdcf(scores[labels == 0].tolist(), scores[labels == 1].tolist(), rates, 2021)
    assert summary["min_tdcf"] == pytest.approx(expected, rel=1e-9) and summary["min_tdcf_version"] == "2021"
    llr = scores - 0.5
    cllr = 0.5 * (np.mean(np.log2(1 + np.exp(-llr[labels == 0]))) + np.mean(np.log2(1 + np.exp(llr[labels == 1]))))
    assert summary["cllr"] == pytest.approx(cllr, rel=1e-9) and summary["prior_log_odds"] == 0.5


def test_known_speakers_follow_the_clustering_rule():
    """n_speakers counts what the bootstrap resamples as speakers: '-', None and NaN are unknown,
    single-trial clusters, never a speaker (a NaN id once counted as one)."""
    labels = np.array([0, 1, 0, 1, 0, 1])
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.7, 0.2])
    groups = np.array(["a", "a", "-", None, float("nan"), "b"], dtype=object)
    summary = summarize(labels, scores, groups, n_boot=0)
    assert summary["n_speakers"] == 2
    assert summary["n_clusters"] == 2 + 3


@pytest.mark.slow
def test_paired_eer_and_tdcf_changes_against_naive_loops_and_their_defaults():
    """The point estimates are the changes in official EER and min t-DCF computed trial by trial
    (tests/evaluation/test_tdcf.py's loops); the defaults are 1000 resamples, seed 0, a 95% interval; a
    second system of the wrong length is named in the refusal."""
    from tdcf_references import naive_asv_rates, naive_min_tdcf, naive_official_eer

    from deepfake_pipeline.evaluation.paired import paired_eer_tdcf_diffs
    from deepfake_pipeline.formats.asv_scores import ASVScores

    labels, scores = make_trials(12, 14, 1.0, seed=31, decimals=1)
    other = np.round(scores + np.random.default_rng(5).normal(scale=0.9, size=labels.size), 1)
    rng = np.random.default_rng(8)
    asv = ASVScores(
        target=rng.normal(2, 1, 15),
        nontarget=rng.normal(0, 1, 15),
        spoof=rng.normal(1, 1, 10),
        spoof_attack=np.array(["A01"] * 10),
    )
    rates = naive_asv_rates(asv.target.tolist(), asv.nontarget.tolist(), asv.spoof.tolist())
    bona, spoof = labels == 0, labels == 1
    eers = [naive_official_eer(s[bona].tolist(), s[spoof].tolist())[0] for s in (scores, other)]
    tdcfs = [naive_min_tdcf(s[bona].tolist(), s[spoof].tolist(), rates, 2019) for s in (scores, other)]
    assert eers[1] != eers[0] and tdcfs[1] != tdcfs[0]
    result = paired_eer_tdcf_diffs(labels, scores, other, None, asv=(asv, "2019"))
    assert result["eer"][0] == pytest.approx(eers[1] - eers[0], abs=1e-12)
    assert result["min_tdcf"][0] == pytest.approx(tdcfs[1] - tdcfs[0], rel=1e-9)
    assert result == paired_eer_tdcf_diffs(labels, scores, other, None, 1000, 0, 0.05, asv=(asv, "2019"))
    for changed in ((999, 0, 0.05), (1000, 1, 0.05), (1000, 0, 0.1)):
        assert result != paired_eer_tdcf_diffs(labels, scores, other, None, *changed, asv=(asv, "2019"))
    with pytest.raises(ValueError, match=r"^scores_b must be one-dimensional"):
        paired_eer_tdcf_diffs(labels, scores, other[:-1], None, n_boot=10)


def test_known_speakers_counted_by_the_bootstrap_rule_whatever_the_container():
    """The speaker count beside a CI leaves out the ids the bootstrap treats as unknown ("-",
    None, NaN), whether they come as a list mixing text and NaN, an object array or a text array."""
    labels = np.array([0, 1, 0, 1, 0, 1])
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.7, 0.2])
    for groups in (
        ["a", "a", np.nan, np.nan, "b", "-"],
        np.array(["a", "a", None, "-", "b", "b"], dtype=object),
        np.array(["a", "a", "-", "-", "b", "b"]),
    ):
        assert summarize(labels, scores, groups, n_boot=0)["n_speakers"] == 2
