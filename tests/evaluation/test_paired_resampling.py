"""The paired bootstrap behind step 4's verdict gives the same numbers, to the last bit, as the
way it was first computed: each resample materialised (every trial repeated by its cluster's
multiplicity, ``np.repeat``) and its min t-DCF computed by the official sweep of
evaluation/tdcf.py, the ASV rates computed again for every resample, and AUC and EER by
significance's sweep over trial weights. That implementation is kept as the reference
(tests/paired_reference.py); every resampled statistic must be ``np.array_equal`` to it. A brute-force
loop over thresholds on one resample written out by hand checks the reference's side too."""

import numpy as np
import pytest
from paired_reference import reference_compare, reference_min_tdcf, reference_paired
from tdcf_references import naive_asv_rates, naive_min_tdcf

from deepfake_pipeline.evaluation.cluster_sweep import ClusterSweep
from deepfake_pipeline.evaluation.metrics import SortedTrials, roc_auc
from deepfake_pipeline.evaluation.paired import paired_bootstrap, paired_resamples
from deepfake_pipeline.evaluation.resampled_tdcf import ResampledMinTDCF, split_weights
from deepfake_pipeline.evaluation.significance import (
    _codes_in_score_order,
    _percentile_interval,
    _resample_multiplicities,
    _resampled_auc_and_eer,
    cluster_codes,
)
from deepfake_pipeline.evaluation.verdict import compare
from deepfake_pipeline.formats.asv_scores import ASVScores

# ----------------------------------------------------------------------------- test sets


def make_asv(seed, n_tar=60, n_non=200, n_spoof=150, decimals=None):
    rng = np.random.default_rng(seed)

    def draw(n, mu, sd):
        return rng.normal(mu, sd, n) if decimals is None else np.round(rng.normal(mu, sd, n), decimals)

    return ASVScores(
        target=draw(n_tar, 4, 1.5),
        nontarget=draw(n_non, -4, 1.5),
        spoof=draw(n_spoof, 1, 2),
        spoof_attack=np.array(["A01"] * n_spoof),
    )


def make_pair(n_bona, n_spoof, n_speakers, seed, decimals=None, unknown=0.0):
    """Labels, speakers (a share ``unknown`` of them "-") and two systems sharing a speaker
    effect, the second better; scores rounded to ``decimals`` make ties within and across
    classes."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_bona, int), np.ones(n_spoof, int)]
    speaker = rng.integers(0, n_speakers, labels.size)
    effect = rng.normal(0, 0.5, n_speakers)[speaker]
    base = rng.normal(size=labels.size) + 2.0 * (labels == 0) + effect
    better = base + 0.6 * (labels == 0) + rng.normal(scale=0.5, size=labels.size)
    if decimals is not None:
        base, better = np.round(base, decimals), np.round(better, decimals)
    groups = np.array([f"LA_{i:04d}" for i in speaker], dtype=object)
    groups[rng.random(labels.size) < unknown] = "-"
    return labels, groups, base, better


def assert_same_as_reference(labels, groups, a, b, asv, n_boot, seed):
    expected = reference_paired(labels, a, b, groups, n_boot, seed, asv)
    got = paired_resamples(labels, a, b, groups, n_boot, seed, asv)
    assert np.array_equal(got.auc, expected["auc"]) and np.array_equal(got.eer, expected["eer"])
    assert got.n_redrawn == expected["n_redrawn"]
    if asv is None:
        assert got.min_tdcf is None
        return expected
    assert np.array_equal(got.min_tdcf, expected["min_tdcf"])
    # each system on its own, both ways of summing the weights below the points
    trials_a, codes = SortedTrials(labels, a), expected["codes"]
    blocks = list(_resample_multiplicities(codes, labels, n_boot, seed, []))
    for strategy in ("table", "trials") if codes.max() < 1000 else ("trials",):  # a table per trial is too big
        system = ResampledMinTDCF(trials_a, a, codes, split_weights(asv), strategy=strategy)
        assert np.array_equal(np.concatenate([system(block) for block in blocks]), expected["tdcf_a"]), strategy
    # and the intervals and point estimates the verdict prints
    out = paired_bootstrap(labels, a, b, groups, n_boot, seed, 0.05, asv)
    assert out["min_tdcf"] == (
        reference_min_tdcf(labels, b, asv) - reference_min_tdcf(labels, a, asv),
        *_percentile_interval(expected["min_tdcf"], 0.05),
    )
    assert out["eer"][1:] == _percentile_interval(expected["eer"], 0.05)
    assert tuple(out["auc"]) == (roc_auc(labels, b) - roc_auc(labels, a), *_percentile_interval(expected["auc"], 0.05))
    return expected


CASES = {
    "continuous scores, 12 speakers": dict(n_bona=60, n_spoof=240, n_speakers=12),
    "tied scores (one decimal), 8 speakers": dict(n_bona=50, n_spoof=200, n_speakers=8, decimals=1),
    "heavily tied (whole numbers)": dict(n_bona=40, n_spoof=160, n_speakers=10, decimals=0),
    "heavy imbalance: 6 bona fide, 600 spoof": dict(n_bona=6, n_spoof=600, n_speakers=20, decimals=1),
    "heavy imbalance the other way": dict(n_bona=500, n_spoof=8, n_speakers=25),
    "every trial its own cluster": dict(n_bona=40, n_spoof=90, n_speakers=1, unknown=1.0, decimals=1),
    "known and unknown speakers": dict(n_bona=50, n_spoof=150, n_speakers=6, unknown=0.3, decimals=1),
    "100 speakers (more than the first witnesses)": dict(n_bona=80, n_spoof=300, n_speakers=100, decimals=1),
}


@pytest.mark.parametrize("version", ["2019", "2021"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_resampled_statistic_equals_the_materialised_reference(case, version):
    labels, groups, a, b = make_pair(**CASES[case], seed=sorted(CASES).index(case))
    asv = (make_asv(3, decimals=1), version)
    for seed in (0, 7):
        assert_same_as_reference(labels, groups, a, b, asv, n_boot=120, seed=seed)


def test_without_asv_scores_the_auc_and_eer_resamples_are_unchanged():
    labels, groups, a, b = make_pair(60, 240, 12, seed=4, decimals=1)
    assert_same_as_reference(labels, groups, a, b, None, n_boot=200, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["2019", "2021"])
def test_la_sized_split_equals_the_reference(version):
    """71,237 trials of 67 speakers (7,355 bona fide) and ASV scores of LA's sizes: a few
    resamples (the reference takes a second for ten), each statistic identical."""
    labels, groups, a, b = make_pair(7355, 63882, 67, seed=11)
    asv = (make_asv(5, n_tar=5370, n_non=33327, n_spoof=63882), version)
    assert_same_as_reference(labels, groups, a, b, asv, n_boot=6, seed=0)


def test_la_sized_split_without_speakers_equals_the_reference():
    labels, _, a, b = make_pair(7355, 63882, 67, seed=12, decimals=3)
    asv = (make_asv(6, n_tar=5370, n_non=33327, n_spoof=63882), "2019")
    assert_same_as_reference(labels, None, a, b, asv, n_boot=4, seed=1)


@pytest.mark.parametrize("seed", range(6))
def test_table_sweep_of_auc_and_eer_equals_the_trial_weight_sweep(seed):
    """The per-cluster tables (few clusters) against significance's sweep over trial weights,
    on tied and untied scores."""
    labels, groups, a, _ = make_pair(40 + 10 * seed, 200, 3 + 5 * seed, seed=seed, decimals=None if seed % 2 else 1)
    trials = SortedTrials(np.asarray(labels, dtype=np.int8), a)
    codes = _codes_in_score_order(cluster_codes(groups, labels.size), trials)
    assert ClusterSweep.fits(trials, codes)
    for block in _resample_multiplicities(codes, labels, 300, seed, []):
        auc, eer = ClusterSweep(trials, a, codes).auc_and_eer(block)
        expected_auc, expected_eer = _resampled_auc_and_eer(trials, codes, block)
        assert np.array_equal(auc, expected_auc) and np.array_equal(eer, expected_eer)


@pytest.mark.parametrize("asv_version", [None, "2019", "2021"])
def test_the_verdict_is_the_one_computed_before(asv_version):
    """verdict.compare now draws once for all three intervals; every number of the Verdict, and
    so the line it prints, is the one of the two-pass, materialising compare."""
    labels, groups, a, b = make_pair(70, 280, 15, seed=21, decimals=2)
    asv = None if asv_version is None else (make_asv(2), asv_version)
    for n_boot, seed in ((150, 0), (1, 4), (0, 0)):
        expected = reference_compare("x_eval", labels, groups, a, b, n_boot, seed, asv)
        got = compare("x_eval", labels, groups, a, b, n_boot, seed, asv=asv)
        assert got == expected
        assert got.line(untrained=True, demo=True) == expected.line(untrained=True, demo=True)


# ----------------------------------------------------------------------------- by hand


@pytest.mark.parametrize("version", [2019, 2021])
def test_one_resample_by_hand_against_a_brute_force_loop(version):
    """Clusters drawn 2, 0, 1 and 3 times (tied scores among them): the trials repeated by hand
    and min t-DCF found by a Python loop over every threshold, with the tandem cost written out
    (tests/evaluation/test_tdcf.py); the weighted sweep must agree."""
    scores = np.array([0.9, 0.1, 0.4, 0.4, 0.7, 0.2, 0.4, 0.6, 0.3, 0.5, 0.1, 0.8])
    labels = np.array([0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0])
    cluster = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    drawn = {0: 2, 1: 0, 2: 1, 3: 3}
    bona, spoof = [], []
    for score, label, c in zip(scores, labels, cluster, strict=True):
        (bona if label == 0 else spoof).extend([float(score)] * drawn[c])
    asv = make_asv(9, n_tar=20, n_non=30, n_spoof=25)
    rates = naive_asv_rates(asv.target.tolist(), asv.nontarget.tolist(), asv.spoof.tolist())
    expected = naive_min_tdcf(bona, spoof, rates, version)

    trials = SortedTrials(labels.astype(np.int8), scores)
    codes = _codes_in_score_order(cluster, trials)
    multiplicities = np.zeros((1, 4))
    for c, times in drawn.items():
        multiplicities[0, codes[cluster == c][0]] = times
    for strategy in ("table", "trials"):
        system = ResampledMinTDCF(trials, scores, codes, split_weights((asv, str(version))), strategy=strategy)
        assert system(multiplicities)[0] == pytest.approx(expected, rel=1e-12)
    # the reference materialises the same resample with np.repeat
    index = np.repeat(np.arange(scores.size), multiplicities[0][codes].astype(np.int64))
    assert sorted(scores[index][labels[index] == 0]) == sorted(bona)
    assert reference_min_tdcf(labels[index], scores[index], (asv, str(version))) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("seed", range(8))
def test_resamples_of_fewer_than_3_distinct_scores_are_refused_as_the_reference_does(seed):
    """Clusters whose trials share one or two scores: a resample drawing few distinct ones is
    refused with the official message exactly when the reference refuses; otherwise the
    numbers agree. With 70 clusters, some resamples are decided past the first 64."""
    rng = np.random.default_rng(seed)
    n_clusters = [3, 5, 70][seed % 3]
    cluster = np.repeat(np.arange(n_clusters), 4)
    labels = np.tile([0, 1, 0, 1], n_clusters)
    values = rng.integers(0, 4 if seed % 2 else 2, n_clusters)
    scores = (values[cluster] + (rng.random(cluster.size) < 0.2) * 0.5).astype(float)
    if n_clusters == 70:  # almost every cluster on one score, a few others late in score order
        scores = np.where(cluster < 66, 1.0, scores + 2.0)
    asv = (make_asv(seed), "2019")
    b = scores[::-1].copy()
    try:
        expected = reference_paired(labels, scores, b, cluster, 60, seed, asv)
    except ValueError as error:
        assert "fewer than 3 distinct values" in str(error)
        with pytest.raises(ValueError, match=r"^the CM scores take fewer than 3 distinct values"):
            paired_resamples(labels, scores, b, cluster, 60, seed, asv)
        return
    got = paired_resamples(labels, scores, b, cluster, 60, seed, asv)
    assert np.array_equal(got.min_tdcf, expected["min_tdcf"])


def test_asv_rates_that_make_the_tdcf_undefined_are_refused_once():
    labels, groups, a, b = make_pair(30, 60, 5, seed=1)
    # the ASV rejects every spoof: C2 of the 2019 t-DCF, and so its normaliser, is 0
    asv = ASVScores(
        target=np.array([2.0, 3.0]),
        nontarget=np.array([0.0, 1.0]),
        spoof=np.array([-5.0, -4.0]),
        spoof_attack=np.array(["A01", "A01"]),
    )
    with pytest.raises(ValueError) as expected:
        reference_paired(labels, a, b, groups, 10, 0, (asv, "2019"))
    with pytest.raises(ValueError) as got:
        paired_resamples(labels, a, b, groups, 10, 0, (asv, "2019"))
    assert str(got.value) == str(expected.value) and "normaliser" in str(got.value)
