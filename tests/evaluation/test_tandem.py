"""t-EER and min a-DCF against the ASVspoof 5 organisers' own code, and the join of ASV trials to
a split's CM scores.

Reference numbers: the organisers' evaluation package (github.com/asvspoof-challenge/asvspoof5,
commit fe23d30, evaluation-package/) copied to /tmp, never into this repository, and run there:
t-EER from calculate_modules.compute_teer_accelerated (what calculate_aDCF_tdcf_tEER reports;
compute_teer for the "exhaustive" column) on compute_Pmiss_Pfa_Pspoof_curves(ASV target,
nontarget, spoof) and compute_det_curve(CM of target + nontarget, CM of spoof); min a-DCF from
a_dcf._calculate_a_dcf on the SASV score CM + ASV with the CostModel calculate_aDCF_tdcf_tEER
builds (Ptrg 0.95 * 0.99, Pnontrg 0.95 * 0.01, Pspf 0.05, Cmiss 1, Cfa_asv 10, Cfa_cm 10). The
package returns t-EER in percent; ours is a fraction, so ours * 100 is compared, to the bit."""

import numpy as np
import pandas as pd
import pytest
from tandem_references import ADCF_COSTS, min_a_dcf_by_hand, t_eer_by_hand

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.evaluation import tandem

# A hand-built tandem (4 target, 4 nontarget, 4 spoof trials). At ASV threshold 0.5 (rejecting
# -3, -2, -1 nontarget and the 0.5 target) the ASV misses 1/4 targets, accepts 1/4 nontargets
# and all spoofs; at CM threshold 3.0 the CM rejects no bona fide and passes 1/4 spoofs (9.0).
# Tandem: miss 0 + 1 * 1/4, false alarm nontarget 1 * 1/4, spoof 1/4 * 1: all 25%, the t-EER.
HAND_ASV = ([0.5, 2, 3, 4], [-1, -2, -3, 1.5], [2.5, 3.5, 4.5, 5])
HAND_CM = ([5, 6, 7, 8], [5.5, 6.5, 7.5, 8.5], [1, 2, 3, 9])


def _arrays(triple):
    return tuple(np.asarray(x, dtype=np.float64) for x in triple)


def test_t_eer_of_a_hand_built_tandem():
    result = tandem.t_eer(*_arrays(HAND_CM), *_arrays(HAND_ASV))
    by_hand = 1.0 * (1 / 4)  # P_fa_spoof_ASV (every spoof) * P_fa_CM (one of four)
    assert result.t_eer * 100 == 25.0 and result.t_eer == by_hand  # organisers: 25.0
    assert (result.asv_threshold, result.cm_threshold) == (0.5, 3.0)  # their xpoint index [4, 3]
    assert t_eer_by_hand(HAND_CM, HAND_ASV) == (0.25, 0.5, 3.0)


def test_t_eer_takes_the_first_concurrent_point_as_the_package_does():
    """Spoofs that fail the ASV and pass the CM: accepting everything at the ASV (threshold
    -3.001) with the CM at 4 of 8 bona fide rejected and 2 of 4 spoofs passed already puts miss
    and both false alarms at 50%; the lowest ASV threshold comes first, so 50% it is, though a
    25% point exists further on (organisers: 50.0, a-DCF 0.4600840336134454 at 4.5)."""
    asv = ([0.5, 2, 3, 4], [-1, -2, -3, 1.5], [1.2, 1.8, 0, -0.5])
    cm = ([5, 6, 7, 8], [5.5, 6.5, 7.5, 8.5], [1, 2, 9, 10])
    result = tandem.t_eer(*_arrays(cm), *_arrays(asv))
    assert result.t_eer * 100 == 50.0 and (result.asv_threshold, result.cm_threshold) == (-3.001, 6.5)
    assert t_eer_by_hand(cm, asv) == (0.5, -3.001, 6.5)
    sasv = [np.add(a, c) for a, c in zip(_arrays(asv), _arrays(cm), strict=True)]
    assert tandem.min_a_dcf(*sasv) == (0.4600840336134454, 4.5)


def test_min_a_dcf_by_hand():
    """Sorted: 0 spoof, 1 nontarget, 1.5 target, 2 spoof, 2.5 nontarget, 4 target. Rejecting the
    two lowest leaves half the nontargets and half the spoofs accepted, no target missed:
    (10 * 0.0095 * 1/2 + 10 * 0.05 * 1/2) / min(10 * 0.0095 + 10 * 0.05, 0.9405) = 0.5, the
    least of the seven points (organisers: 0.5 at threshold 1.0)."""
    result = tandem.min_a_dcf([1.5, 4], [1, 2.5], [0, 2])
    by_hand = (10 * 0.95 * 0.01 * 0.5 + 10 * 0.05 * 0.5) / (10 * 0.95 * 0.01 + 10 * 0.05)
    assert result.min_a_dcf == pytest.approx(by_hand, abs=1e-15) and result.min_a_dcf == 0.5
    assert result.threshold == 1.0


def test_min_a_dcf_splits_ties_target_first():
    """Target 1, 2, 2; nontarget 0, 2; spoof 1, 3. Stable sort: 0n 1t 1s 2t 2t 2n 3s. The least
    point rejects the nontarget at 0 only: (10 * 0.0095 / 2 + 10 * 0.05) / 0.595
    (organisers: 0.9201680672268908 at 0.0)."""
    result = tandem.min_a_dcf([1, 2, 2], [0, 2], [1, 3])
    assert result.min_a_dcf == 0.9201680672268908 and result.threshold == 0.0
    assert result.min_a_dcf == pytest.approx((10 * 0.0095 / 2 + 10 * 0.05) / 0.595, abs=1e-15)
    assert min_a_dcf_by_hand([1, 2, 2], [0, 2], [1, 3]) == pytest.approx(tuple(result), abs=1e-12)


def random_set(seed, n_tar, n_non, n_spf, decimals):
    """What the reference script drew: ASV ~ N(2,1), N(-1,1), N(1,1.5); CM ~ N(1,1) for both
    bona fide classes, N(-1,1) for spoofs; rounded to `decimals` (ties) unless None."""
    rng = np.random.default_rng(seed)
    asv = (rng.normal(2, 1, n_tar), rng.normal(-1, 1, n_non), rng.normal(1, 1.5, n_spf))
    cm = (rng.normal(1, 1, n_tar), rng.normal(1, 1, n_non), rng.normal(-1, 1, n_spf))
    if decimals is not None:
        asv, cm = tuple(np.round(a, decimals) for a in asv), tuple(np.round(c, decimals) for c in cm)
    return asv, cm


# (seed, sizes, decimals, t-EER % accelerated, t-EER % exhaustive, min a-DCF, its threshold), all
# from the organisers' code; the last three have 3000+ points on both curves, where the package
# searches a decimated grid first.
REFERENCE = [
    (0, (40, 60, 80), None, 12.031249999999998, 12.031249999999998, 0.3634103641456583, 1.4593511278244247),
    (1, (200, 300, 500), 1, 16.480800000000002, 16.480800000000002, 0.42599299719887956, 0.7999999999999999),
    (2, (500, 400, 900), 0, 30.357407407407404, 30.357407407407404, 0.4153961718020541, 1.0),
    (3, (1000, 1500, 2500), 2, 14.629247999999997, 14.629247999999997, 0.4025470588235294, 1.2899999999999998),
    (4, (2000, 3000, 4000), 1, 15.805000000000003, 15.805000000000003, 0.4016068627450981, 1.2999999999999998),
    (5, (3000, 200, 6000), 0, 29.479875, 29.479875, 0.4409910364145659, 1.0),
    (6, (5000, 5000, 8000), 3, 14.247346875, 14.247346875, 0.39450672268907566, 1.115),
]
FAST = [r for r in REFERENCE if sum(r[1]) < 3000]
LARGE = [pytest.param(*r, marks=pytest.mark.slow) for r in REFERENCE if sum(r[1]) >= 3000]


@pytest.mark.parametrize(("seed", "sizes", "decimals", "teer", "teer_exhaustive", "adcf", "threshold"), FAST + LARGE)
def test_random_sets_equal_the_organisers_to_the_bit(seed, sizes, decimals, teer, teer_exhaustive, adcf, threshold):
    asv, cm = random_set(seed, *sizes, decimals)
    assert tandem.t_eer(*cm, *asv).t_eer * 100 == teer
    assert tandem.min_a_dcf(*(a + c for a, c in zip(asv, cm, strict=True))) == (adcf, threshold)
    if sum(sizes) >= 3000:
        assert tandem.t_eer(*cm, *asv, accelerated=False).t_eer * 100 == teer_exhaustive


def test_small_random_set_equals_the_loop_restatement():
    asv, cm = random_set(0, 40, 60, 80, None)
    value, asv_tau, cm_tau = t_eer_by_hand(cm, asv)
    assert tuple(tandem.t_eer(*cm, *asv)) == pytest.approx((value, asv_tau, cm_tau), abs=1e-12)
    sasv = [a + c for a, c in zip(asv, cm, strict=True)]
    assert tuple(tandem.min_a_dcf(*sasv)) == pytest.approx(min_a_dcf_by_hand(*sasv), abs=1e-12)


def test_t_eer_refuses_unequal_trial_sets():
    with pytest.raises(tandem.TandemError, match="same trials"):
        tandem.t_eer([1.0, 2], [0.0], [3.0], [1.0], [0.0], [3.0])


def _trials(rows):
    return pd.DataFrame(rows, columns=["trial", "key", "score"])


ROWS = [("u1", "target", 2.0), ("u2", "nontarget", -1.0), ("u3", "spoof", 1.0), ("u9", "spoof", 0.5)]


def test_join_pairs_each_trial_with_its_utterances_cm_score_and_counts_the_rest():
    joined = tandem.join_trials(["u3", "u1", "u2", "u4"], [-2.0, 3.0, 1.5, 7.0], _trials(ROWS))
    assert joined.key.tolist() == ["target", "nontarget", "spoof"]
    assert joined.asv.tolist() == [2.0, -1.0, 1.0] and joined.cm.tolist() == [3.0, 1.5, -2.0]
    assert (joined.n_asv_trials, joined.n_without_cm) == (4, 1)  # u9 has no CM score


def test_join_refuses_trials_of_other_utterances():
    with pytest.raises(PipelineError, match="none of the 4 ASV trial ids.*'u1'.*utt_id of the split.*'LA_E_1'"):
        tandem.join_trials(["LA_E_1", "LA_E_2"], [0.0, 1.0], _trials(ROWS))


def test_join_refuses_repeated_utt_ids_and_a_missing_class():
    with pytest.raises(tandem.TandemError, match="repeat"):
        tandem.join_trials(["u1", "u1"], [0.0, 1.0], _trials(ROWS))
    with pytest.raises(tandem.TandemError, match="no nontarget"):
        tandem.join_trials(["u1", "u3"], [0.0, 1.0], _trials(ROWS))


def _split_2021(tmp_path, rows):
    """A split stand-in whose info.json points at 2021-layout keys holding `rows`."""
    from types import SimpleNamespace

    asv = tmp_path / "keys" / "LA" / "ASV"
    (asv / "ASVTorch_Kaldi").mkdir(parents=True)
    (asv / "trial_metadata.txt").write_text("".join(f"LA_0001 {u} none none - {k} notrim eval\n" for u, k, _ in rows))
    (asv / "ASVTorch_Kaldi" / "score.txt").write_text("".join(f"LA_0001 {u} {s}\n" for u, _, s in rows))
    source = {"format": "asvspoof2021", "root": str(tmp_path / "keys"), "track": "LA", "subset": "eval"}
    return SimpleNamespace(info={"asv_scores": source}, utt_ids=np.array([u for u, _, _ in rows]))


def test_record_split_carries_the_caveat_and_the_numbers(tmp_path):
    from deepfake_pipeline.evaluation.closing import caveat_suffix

    rows = [
        (f"u{i}", k, s)
        for i, (k, s) in enumerate(
            zip(
                ["target"] * 4 + ["nontarget"] * 4 + ["spoof"] * 4,
                [0.5, 2, 3, 4, -1, -2, -3, 1.5, 2.5, 3.5, 4.5, 5],
                strict=True,
            )
        )
    ]
    split = _split_2021(tmp_path, rows)
    summary: dict = {}
    caveat = caveat_suffix(True, True)
    line = tandem.record_split("la21", split, np.array([5, 6, 7, 8, 5.5, 6.5, 7.5, 8.5, 1, 2, 3, 9.0]), summary, caveat)
    assert summary["t_eer"] == 0.25  # the hand-built tandem above
    assert (
        line
        == f"[eval_logreg] tandem test=la21: t-EER 25.00% min a-DCF {summary['min_a_dcf']:.4f} "
        f"(ASV: organisers' scores, 12 trials){caveat}"
        and caveat
    )
    assert summary["tandem"]["n_without_cm"] == 0 and summary["tandem_note"] is None


def test_record_split_says_why_instead_of_failing(tmp_path):
    from types import SimpleNamespace

    split = _split_2021(tmp_path, [("u1", "target", 1.0), ("u2", "nontarget", 0.0), ("u3", "spoof", 2.0)])
    split.utt_ids = np.array(["other1", "other2", "other3"])
    summary: dict = {}
    line = tandem.record_split("x", split, np.zeros(3), summary, "")
    assert summary["t_eer"] is None and "none of the 3 ASV trial ids" in summary["tandem_note"]
    assert line.startswith("[eval_logreg] tandem test=x: no t-EER or a-DCF: none of the 3")
    moved = SimpleNamespace(
        info={"asv_scores": {**split.info["asv_scores"], "root": str(tmp_path / "gone")}}, utt_ids=split.utt_ids
    )
    tandem.record_split("x", moved, np.zeros(3), summary, "")
    assert summary["min_a_dcf"] is None and "not found" in summary["tandem_note"]


# Survivors of the mutation run (docs/mutation.md, Results 2026-12-02): exact messages and fields.

NO_ASV_TEXT = "no ASV scores for this corpus split"
NO_IDS_TEXT = (
    "the ASV scores of this split carry no trial ids (ASVspoof 2019 LA), so no trial can be joined to its CM score"
)


def test_record_split_prints_the_left_out_count_and_fills_the_summary(tmp_path):
    """The hand-built tandem plus one ASV trial (u12) whose utterance has no CM score."""
    keys = ["target"] * 4 + ["nontarget"] * 4 + ["spoof"] * 4 + ["spoof"]
    asv = [0.5, 2, 3, 4, -1, -2, -3, 1.5, 2.5, 3.5, 4.5, 5, 0.0]
    rows = [(f"u{i}", k, s) for i, (k, s) in enumerate(zip(keys, asv, strict=True))]
    split = _split_2021(tmp_path, rows)
    split.utt_ids = split.utt_ids[:12]
    cm = np.array([5, 6, 7, 8, 5.5, 6.5, 7.5, 8.5, 1, 2, 3, 9.0])
    summary: dict = {"other": 1}
    line = tandem.record_split("la21", split, cm, summary, " (caveat)", prefix="[tag]")
    sasv = [np.add(a, c) for a, c in zip(_arrays(HAND_ASV), _arrays(HAND_CM), strict=True)]
    adcf = min_a_dcf_by_hand(*sasv)[0]
    assert line == (
        f"[tag] tandem test=la21: t-EER 25.00% min a-DCF {adcf:.4f} "
        "(ASV: organisers' scores, 12 trials; 1 ASV trials had no CM score, left out) (caveat)"
    )
    assert summary == {
        "other": 1,
        "t_eer": 0.25,
        "min_a_dcf": pytest.approx(adcf, abs=1e-12),
        "tandem_note": None,
        "tandem": {
            "n_trials": 12,
            "n_without_cm": 1,
            "sasv_score": "CM score + ASV score (uncalibrated sum)",
            "asv": {**split.info["asv_scores"], "scores": "organisers'"},
        },
    }


def test_record_split_notes_no_asv_a_2019_split_and_a_failed_join(tmp_path):
    from types import SimpleNamespace

    summary: dict = {}
    line = tandem.record_split("x", SimpleNamespace(info={}, utt_ids=np.array(["a"])), np.zeros(1), summary, " c")
    assert line == f"[eval_logreg] tandem test=x: no t-EER or a-DCF: {NO_ASV_TEXT}"
    assert summary == {"t_eer": None, "min_a_dcf": None, "tandem": None, "tandem_note": NO_ASV_TEXT}
    path = tmp_path / "asv2019.txt"
    path.write_text("bonafide target 1.5\nbonafide nontarget -0.5\nA07 spoof 0.5\n")
    split = SimpleNamespace(info={"asv_scores": {"format": "asvspoof2019", "path": str(path)}}, utt_ids=np.array(["a"]))
    line = tandem.record_split("la19", split, np.zeros(1), summary, "", prefix="[p]")
    assert line == f"[p] tandem test=la19: no t-EER or a-DCF: {NO_IDS_TEXT}"
    assert summary == {"t_eer": None, "min_a_dcf": None, "tandem": None, "tandem_note": NO_IDS_TEXT}
    split = _split_2021(tmp_path / "k", [("u1", "target", 1.0), ("u2", "nontarget", 0.0), ("u3", "spoof", 2.0)])
    split.utt_ids = np.array(["u1", "u3"])
    note = "after the join no nontarget trials are left: the tandem needs all three"
    assert tandem.record_split("y", split, np.zeros(2), summary, "") == (
        f"[eval_logreg] tandem test=y: no t-EER or a-DCF: {note}"
    )
    assert summary["tandem_note"] == note and summary["tandem"] is None


def test_join_refusals_say_exactly_what_is_wrong():
    with pytest.raises(tandem.TandemError, match=r"^3 utt_ids but 2 CM scores$"):
        tandem.join_trials(["u1", "u2", "u3"], [0.0, 1.0], _trials(ROWS))
    with pytest.raises(
        tandem.TandemError, match=r"^utt_ids repeat \(e\.g\. 'u2'\): an ASV trial could not name one CM score$"
    ):
        tandem.join_trials(["u1", "u2", "u2"], [0.0, 1.0, 2.0], _trials(ROWS))
    with pytest.raises(
        tandem.TandemError,
        match=r"^none of the 4 ASV trial ids \(e\.g\. 'u1'\) is an utt_id of the split \(e\.g\. 'LA_E_1'\): "
        r"these ASV scores are not of this split's utterances$",
    ):
        tandem.join_trials(["LA_E_1", "LA_E_2"], [0.0, 1.0], _trials(ROWS))
    with pytest.raises(
        tandem.TandemError,
        match=r"^none of the 0 ASV trial ids \(e\.g\. '-'\) is an utt_id of the split \(e\.g\. '-'\): ",
    ):
        tandem.join_trials([], [], _trials([]))
    with pytest.raises(
        tandem.TandemError,
        match=r"^after the join no nontarget or spoof trials are left: the tandem needs all three$",
    ):
        tandem.join_trials(["u1"], [0.0], _trials(ROWS))


def test_join_keeps_asv_and_cm_scores_as_floats():
    rows = [("u1", "target", 2), ("u2", "nontarget", -1), ("u3", "spoof", 1)]
    joined = tandem.join_trials(["u1", "u2", "u3"], [3, 1, -2], _trials(rows))
    assert joined.asv.dtype == np.float64 and joined.cm.dtype == np.float64
    assert joined.cm.tolist() == [3.0, 1.0, -2.0]


def test_sasv_score_is_the_sum_as_floats():
    result = tandem.sasv_score([1, 2], [10, -5])
    assert result.dtype == np.float64 and result.tolist() == [11.0, -3.0]


def test_an_empty_class_is_named_in_the_refusal():
    with pytest.raises(ValueError, match=r"^CM nontarget scores are empty$"):
        tandem.t_eer([1.0], [], [0.0], [1.0], [], [0.0])
    with pytest.raises(ValueError, match=r"^ASV spoof scores are empty$"):
        tandem.t_eer([1.0], [0.5], [0.0], [1.0], [0.5], [])
    with pytest.raises(ValueError, match=r"^ASV target scores are empty$"):
        tandem.asv_curves([], [0.5], [0.0])
    with pytest.raises(ValueError, match=r"^SASV spoof scores are empty$"):
        tandem.min_a_dcf([1.0], [0.5], [])


def test_min_a_dcf_can_be_reached_by_accepting_everything():
    """Target 0 lowest, then nontarget 1, spoof 2: rejecting nothing costs 10 * 0.0095 + 10 * 0.05,
    the normaliser itself, 1.0; every other point misses the target, 0.9405 / 0.595 or more."""
    assert tandem.min_a_dcf([0.0], [1.0], [2.0]) == (1.0, 0.0 - 1e-8)


def test_min_a_dcf_normalises_by_rejecting_all_when_that_is_cheaper():
    """Costs 100 for each false alarm: accepting all costs 100 * 0.0095 + 100 * 0.05 = 5.95,
    rejecting all 1 * 0.9405, the normaliser; the least point rejects all, 1.0 (by the
    package's formula the threshold is the highest score, 2.0)."""
    costs = tandem.CostsADCF(c_fa_non=100, c_fa_spoof=100)
    result = tandem.min_a_dcf([0.0], [1.0], [2.0], costs)
    assert result.min_a_dcf == pytest.approx(0.9405 / 0.9405, abs=1e-15) and result.threshold == 2.0
    assert min_a_dcf_by_hand([0.0], [1.0], [2.0], {**ADCF_COSTS, "c_non": 100, "c_spoof": 100}) == pytest.approx(
        tuple(result), abs=1e-12
    )


def test_t_eer_raises_no_warning_where_a_rate_ratio_is_zero_over_zero():
    """The last ASV point accepts no nontarget and no spoof (0/0), and where the highest ASV
    score is a nontarget, spoofs run out first (x/0): the package's numpy warns, ours does not."""
    import warnings

    asv = ([0.5, 2, 3, 4], [-1, -2, -3, 9.5], [2.5, 3.5, 4.5, 5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = tandem.t_eer(*_arrays(HAND_CM), *_arrays(asv))
    assert tuple(result) == pytest.approx(t_eer_by_hand(HAND_CM, asv), abs=1e-12)


def _shapes(seed):
    """Small sets of varied shapes (the ASV spoofs low or high, ties) for the loop restatement."""
    rng = np.random.default_rng(seed)
    n = rng.integers(5, 40, 3)
    spoof_mean = (-2, 0, 1, 3)[seed % 4]
    asv = (rng.normal(2, 1, n[0]), rng.normal(-1, 1.5, n[1]), rng.normal(spoof_mean, 1.5, n[2]))
    cm = (rng.normal(1, 1, n[0]), rng.normal(0.5, 1, n[1]), rng.normal(-0.5, 1.5, n[2]))
    if seed % 3 == 0:
        asv, cm = tuple(np.round(a) for a in asv), tuple(np.round(c) for c in cm)
    return asv, cm


@pytest.mark.parametrize("seed", range(40))
def test_t_eer_of_varied_small_sets_equals_the_loop_restatement(seed):
    asv, cm = _shapes(seed)
    assert tuple(tandem.t_eer(*cm, *asv)) == pytest.approx(t_eer_by_hand(cm, asv), abs=1e-12)


def _bimodal_set(seed, n=2100):
    """Two or three score values per class (plus tiny jitter at the ASV): a set where the
    decimated-grid search lands on another crossing than the search of every pair."""
    rng = np.random.default_rng(seed)
    asv = (rng.choice([0, 5], n), rng.choice([-1, 3], n), rng.choice([1, 4, 6], n))
    asv = tuple(a + rng.normal(0, 1e-3, n) for a in asv)
    cm = (rng.choice([0.0, 2.0], n), rng.choice([0.0, 2.0], n), rng.choice([-1.0, 1.5], n))
    return asv, cm


def _accelerated_reference(cm, asv):
    """compute_teer_accelerated restated: rates by counting (the CM's false alarms as accepted
    spoofs over spoofs, as compute_det_curve divides: 1 - rejected / n can differ in the last
    bit), each crossing on the full matrix of (ASV point, CM point) pairs; the decimated grid
    (every size // 3000-th point) first, then the 1600 points either side of its crossing on
    both curves."""

    def rates(classes):
        scores = np.concatenate(classes)
        tags = np.concatenate([np.full(len(c), k) for k, c in enumerate(classes)])
        order = np.argsort(scores, kind="stable")
        rejected = [np.concatenate([[0], np.cumsum(tags[order] == k)]) for k in range(len(classes))]
        tau = np.concatenate([[scores[order][0] - 0.001], scores[order]])
        return rejected, tau

    (miss, rej_non, rej_spf), tau_asv = rates(asv)
    miss, fa_non, fa_spf = miss / len(asv[0]), 1 - rej_non / len(asv[1]), 1 - rej_spf / len(asv[2])
    (miss_cm, rej_cm), tau_cm = rates([np.concatenate([cm[0], cm[1]]), cm[2]])
    miss_cm, fa_cm = miss_cm / (len(cm[0]) + len(cm[1])), (len(cm[2]) - rej_cm) / len(cm[2])  # accepted / n

    def crossing(ia, ic):
        mc, fc = miss_cm[ic][None, :], fa_cm[ic][None, :]
        j = []
        for rows in np.array_split(ia, max(1, ia.size // 500)):  # 500 rows of pairs at a time
            m, fn, fs = miss[rows][:, None], fa_non[rows][:, None], fa_spf[rows][:, None]
            j.append(np.argmin(np.abs((mc + (1 - mc) * m) - (0.5 * (1 - mc) * fn + 0.5 * fc * fs)), axis=1))
        j = np.concatenate(j)
        with np.errstate(divide="ignore", invalid="ignore"):
            crit = np.abs(fa_non[ia] / fa_spf[ia] - fa_cm[ic][j] / (1 - miss_cm[ic][j]))
        crit[~(miss[ia] < 0.5 * fa_non[ia] + 0.5 * fa_spf[ia]) | np.isnan(crit)] = np.inf
        i = int(np.argmin(crit))
        return ia[i], ic[j[i]]

    ds_asv, ds_cm = tau_asv.size // 3000, tau_cm.size // 3000
    ca, cc = crossing(np.arange(0, tau_asv.size, ds_asv), np.arange(0, tau_cm.size, ds_cm))
    fine_asv = np.arange(max(ca - 1600, 0), min(ca + 1600, tau_asv.size))
    fine_cm = np.arange(max(cc - 1600, 0), min(cc + 1600, tau_cm.size))
    i, j = crossing(fine_asv, fine_cm)
    return fa_spf[i] * fa_cm[j], tau_asv[i], tau_cm[j]


def test_the_accelerated_search_is_what_is_reported_where_it_differs_from_every_pair():
    """Seed 8 (6,300 trials, 2 points decimated to 1): the accelerated search finds a crossing
    at 47.7%, the search of every pair one at 51.1%; we report the accelerated one."""
    asv, cm = _bimodal_set(8)
    reference = _accelerated_reference(cm, asv)
    result = tandem.t_eer(*cm, *asv)
    assert tuple(result) == pytest.approx(reference, abs=1e-12)
    assert tandem.t_eer(*cm, *asv, accelerated=False).t_eer == pytest.approx(0.5109523809523809, abs=1e-12)
    assert result.t_eer == pytest.approx(0.4771428571428571, abs=1e-12)
    keys = np.repeat(np.array(tandem.KEYS), [len(a) for a in asv])
    joined = tandem.TandemTrials(keys, np.concatenate(asv), np.concatenate(cm), keys.size, 0)
    assert tandem.tandem_metrics(joined)["t_eer"] == pytest.approx(reference[0], abs=1e-12)
    assert tandem.tandem_metrics(joined, accelerated=False)["t_eer"] == pytest.approx(0.5109523809523809, abs=1e-12)


def test_the_accelerated_search_differs_with_one_point_decimated_to_one_too():
    """5,805 trials (Gaussian, seed 7): the decimated grid is every point (5,806 // 3000 = 1),
    but the fine search's CM window of 1600 points either side changes which CM point each ASV
    threshold gets: 51.3% against 50.6% for every pair."""
    rng = np.random.default_rng(7)
    n = int(rng.integers(1000, 1990))
    asv = tuple(rng.normal(0, 1, n) for _ in range(3))
    cm = tuple(rng.normal(0, 1, n) for _ in range(3))
    result = tandem.t_eer(*cm, *asv)
    assert tuple(result) == pytest.approx(_accelerated_reference(cm, asv), abs=1e-12)
    assert result.t_eer == pytest.approx(0.5130340724716063, abs=1e-12)
    assert tandem.t_eer(*cm, *asv, accelerated=False).t_eer == pytest.approx(0.5060678778652458, abs=1e-12)
