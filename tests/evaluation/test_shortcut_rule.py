"""The shortcut rule steps 3 and 4 and fusions share (evaluation/shortcut_rule.py): its record
against an independent speaker-cluster bootstrap and pair count written out in the tests, and the
line it prints."""

import numpy as np
import pytest
from metric_references import (
    assert_95_percent_interval,
    cluster_bootstrap_aucs,
    pairwise_auc,
    speaker_effect_systems,
)

from deepfake_pipeline.evaluation.shortcut_rule import shortcut_line, shortcut_record

N_BOOT = 4000  # the code's resamples; the reference draws 8000 (metric_references.TAIL_WINDOW)


def _independent_differences(labels, speakers, silence, system):
    silence_aucs, system_aucs = cluster_bootstrap_aucs(labels, [silence, system], speakers, 8000, seed=11)
    return system_aucs - silence_aucs


def _asvspoof_eer(labels, scores):
    """compute_eer of the ASVspoof 2019 package, written out: thresholds at every score, miss rate
    of bona fide below it, false-alarm rate of spoofs at or above it, the mean of the two where
    they are closest."""
    bona, spoof = scores[labels == 0], scores[labels == 1]
    order = np.sort(np.concatenate([bona, spoof]))
    thresholds = np.concatenate([[order[0] - 1.0], order + 1e-12])
    frr = np.array([np.mean(bona < t) for t in thresholds])
    far = np.array([np.mean(spoof >= t) for t in thresholds])
    k = int(np.argmin(np.abs(frr - far)))
    return (frr[k] + far[k]) / 2


def _systems(case):
    """Labels, speakers, silence-only and system scores, built so the system's gain over the
    shortcut is clear, within the noise, or a loss."""
    labels, speakers, scores_a, scores_b = speaker_effect_systems(seed=5)
    rng = np.random.default_rng(5)
    if case == "clear gain":
        return labels, speakers, rng.normal(size=labels.size), 2.0 * (labels == 0) + rng.normal(size=labels.size)
    if case == "gain within the noise":
        return labels, speakers, scores_a, scores_b
    return labels, speakers, scores_a + 2.0 * (labels == 0), rng.normal(size=labels.size)


@pytest.mark.parametrize("case", ["clear gain", "gain within the noise", "a loss"])
def test_clearly_beaten_is_the_lower_bound_of_the_paired_cluster_interval(case):
    labels, speakers, silence, system = _systems(case)
    reference = _independent_differences(labels, speakers, silence, system)
    lo_ref, hi_ref = np.percentile(reference, [2.5, 97.5])
    # each construction sits far from the boundary, so both bootstraps must agree on the side
    if case == "clear gain":
        assert lo_ref > 0.2
    elif case == "gain within the noise":
        assert lo_ref < -0.02 < 0.02 < hi_ref
    else:
        assert hi_ref < -0.2
    entry = shortcut_record(labels, silence, system, speakers, n_boot=N_BOOT, seed=0, top_db=40.0)
    lo, hi = entry["model_minus_silence_auc_ci"]
    assert entry["clearly_beaten"] is (case == "clear gain")
    assert_95_percent_interval(lo, hi, reference)
    assert entry["model_minus_silence_auc"] == pytest.approx(
        pairwise_auc(labels, system) - pairwise_auc(labels, silence), abs=1e-12
    )
    assert entry["auc"] == pytest.approx(pairwise_auc(labels, silence), abs=1e-12)
    assert entry["eer"] == pytest.approx(_asvspoof_eer(labels, silence), abs=1e-12)
    assert entry["top_db"] == 40.0
    assert entry["features"] == ["duration_s", "leading_silence_s", "trailing_silence_s"]


def test_the_interval_is_paired_not_two_separate_ones():
    """A system that is the shortcut plus a small gain on every speaker's bona fide trials: each
    resample's difference is positive, so the paired interval lies above 0, while the two AUCs'
    own intervals overlap widely."""
    labels, speakers, silence, _ = speaker_effect_systems(seed=2)
    system = silence + 0.3 * (labels == 0)
    silence_aucs, system_aucs = cluster_bootstrap_aucs(labels, [silence, system], speakers, 8000, seed=3)
    assert np.percentile(system_aucs, 2.5) < np.percentile(silence_aucs, 97.5), "the separate intervals overlap"
    assert np.all(system_aucs - silence_aucs > 0)
    entry = shortcut_record(labels, silence, system, speakers, n_boot=1000, seed=0, top_db=30.0)
    assert entry["clearly_beaten"] is True and entry["model_minus_silence_auc_ci"][0] > 0


def test_without_resamples_only_the_plain_difference():
    labels, speakers, silence, system = _systems("clear gain")
    entry = shortcut_record(labels, silence, system, speakers, n_boot=0, seed=0, top_db=40.0)
    assert entry["model_minus_silence_auc_ci"] is None and entry["clearly_beaten"] is None
    assert entry["model_minus_silence_auc"] == pytest.approx(
        pairwise_auc(labels, system) - pairwise_auc(labels, silence), abs=1e-12
    )


def _entry(beaten, ci=(0.0123, 0.2)):
    return {
        "auc": 0.61234,
        "eer": 0.4,
        "top_db": 40.0,
        "model_minus_silence_auc": 0.1,
        "model_minus_silence_auc_ci": None if beaten is None else list(ci),
        "clearly_beaten": beaten,
    }


def test_the_line_names_the_prefix_the_system_and_ends_with_the_caveats():
    line = shortcut_line("[x]", "toy_eval", _entry(True), "fusion", " [demo corpus]", source="scores of spec")
    assert line == (
        "[x] shortcut check test=toy_eval: silence-only (duration + leading/trailing silence, top_db 40, "
        "scores of spec) ROC-AUC 0.6123 EER 40.00%; fusion - silence-only ROC-AUC +0.1000 (95% CI +0.0123 to "
        "+0.2000) [demo corpus]"
    )
    warned = shortcut_line("[x]", "toy_eval", _entry(False, (-0.01, 0.2)), "contrastive system", " [demo corpus]")
    assert warned.endswith(
        "(95% CI -0.0100 to +0.2000) -- WARNING: the contrastive system does not clearly beat the silence-only "
        "shortcut [demo corpus]"
    )
    plain = shortcut_line("[x]", "toy_eval", _entry(None))
    assert plain.endswith("; model - silence-only ROC-AUC +0.1000") and "WARNING" not in plain


def test_a_system_no_better_than_the_shortcut_is_never_clearly_beating_it():
    """The same scores twice: every resample's difference is exactly 0, so the interval is [0, 0],
    and a lower bound of 0 is not above 0."""
    labels, speakers, silence, _ = _systems("clear gain")
    entry = shortcut_record(labels, silence, silence.copy(), speakers, n_boot=200, seed=0, top_db=40.0)
    assert entry["model_minus_silence_auc_ci"] == [0.0, 0.0] and entry["clearly_beaten"] is False


def test_the_resamples_follow_the_seed_and_the_count_asked_for():
    labels, speakers, silence, system = _systems("gain within the noise")

    def ci(n_boot, seed):
        return shortcut_record(labels, silence, system, speakers, n_boot=n_boot, seed=seed, top_db=40.0)[
            "model_minus_silence_auc_ci"
        ]

    assert ci(300, 4) == ci(300, 4), "one seed, one interval"
    assert ci(300, 4) != ci(300, 5)
    assert ci(300, 4) != ci(20, 4)
    assert ci(1000, 4) != ci(40, 4)  # 1000 is the bootstrap's default: the count must be passed on


def test_the_line_without_a_source_or_a_top_db_says_neither():
    entry = {**_entry(True), "top_db": None, "eer": None}
    line = shortcut_line("[x]", "toy_eval", entry)
    assert line.startswith(
        "[x] shortcut check test=toy_eval: silence-only (duration + leading/trailing silence) ROC-AUC 0.6123 EER nan; "
    )
