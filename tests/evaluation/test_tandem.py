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
from tandem_references import min_a_dcf_by_hand, t_eer_by_hand

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
