"""The organisers' EER and min t-DCF (2019 and 2021 formulations) and the ASV score files they
need, checked against values worked out by hand and against independent, deliberately naive
computations: Python loops over every threshold and the tandem cost written out from its
definition (Kinnunen et al., Odyssey 2018 and IEEE/ACM TASLP 2020), never the module's own
helpers."""

import numpy as np
import pytest
from tdcf_references import (
    naive_asv_rates,
    naive_min_tdcf,
    naive_official_eer,
    tandem_cost_2019,
    tandem_cost_2021,
)

from deepfake_pipeline.evaluation.metrics import eer as interpolated_eer
from deepfake_pipeline.evaluation.tdcf import (
    ASVErrorRates,
    CostsTDCF2019,
    CostsTDCF2021,
    asv_error_rates,
    min_tdcf_2019,
    min_tdcf_2021,
    official_det_curve,
    official_eer,
    tdcf_curve_2019,
    tdcf_curve_2021,
)
from deepfake_pipeline.formats.asv_scores import (
    find_asv2021_files,
    read_asv2019_scores,
    read_asv2021_scores,
)

# A tiny ASV system used by the hand-worked cases.
ASV_TAR, ASV_NON, ASV_SPOOF = [2.0, 3.0], [0.0, 1.0], [0.5, 1.5, 2.5, 3.5]
# Its rates, by hand. Sorted trials 0(non) 1(non) 2(tar) 3(tar): rejecting the lowest k=0..4
# gives FRR 0,0,0,1/2,1 and FAR 1,1/2,0,0,0, so |FRR-FAR| is smallest (0) at k=2: EER 0, and the
# official threshold is the highest rejected score, 1. Rates are then taken accepting
# score >= 1, which accepts the nontarget at 1: Pfa = 1/2, Pmiss = 0; spoofs below 1: 0.5 only,
# so Pmiss_spoof = 1/4 and Pfa_spoof = 3/4.
ASV_BY_HAND = dict(pfa=0.5, pmiss=0.0, pmiss_spoof=0.25, pfa_spoof=0.75, threshold=1.0, eer=0.0)
# CM: bona fide 1, 3, 4; spoof 0, 2, 5. Rejecting the k lowest of 0s 1b 2s 3b 4b 5s (k=0..6):
# Pmiss_cm = 0, 0, 1/3, 1/3, 2/3, 1, 1 and Pfa_cm = 1, 2/3, 2/3, 1/3, 1/3, 1/3, 0.
CM_BONA, CM_SPOOF = [1.0, 3.0, 4.0], [0.0, 2.0, 5.0]


def random_system(seed, n_bona=40, n_spoof=60, n_tar=30, n_non=50, n_asv_spoof=45, decimals=None):
    rng = np.random.default_rng(seed)

    def draw(n, mu):
        return rng.normal(mu, 1.0, n) if decimals is None else np.round(rng.normal(mu, 1.0, n), decimals)

    return dict(
        bona=draw(n_bona, 1.5),
        spoof=draw(n_spoof, 0.0),
        tar=draw(n_tar, 2.0),
        non=draw(n_non, 0.0),
        asv_spoof=draw(n_asv_spoof, 1.0),
    )


# ----------------------------------------------------------------------------- official EER


def test_official_eer_hand_worked_tie_is_split_bona_fide_first():
    # bona fide 1, 2, 3; spoof 0, 2, 2.5. Stable sort, bona fide first among ties:
    # 0s 1b 2b 2s 2.5s 3b. k=0..6: FRR 0,0,1/3,2/3,2/3,2/3,1; FAR 1,2/3,2/3,2/3,1/3,0,0.
    # |FRR-FAR| is 0 first at k=3 (rejecting the bona fide 2 but not the spoof 2): EER 2/3,
    # threshold 2. No threshold reaches that point; the interpolated EER of metrics.py crosses
    # between t=2 (FRR 1/3, FAR 2/3) and t=2.5 (FRR 2/3, FAR 1/3): 1/2.
    labels = [0, 0, 0, 1, 1, 1]
    scores = [1, 2, 3, 0, 2, 2.5]
    assert official_eer(labels, scores) == (pytest.approx(2 / 3, abs=1e-15), 2.0)
    assert interpolated_eer(labels, scores).eer == pytest.approx(0.5)


def test_official_eer_hand_worked_without_ties():
    # bona fide 3, 4; spoof 1, 2, 3.5: 1s 2s 3b 3.5s 4b. FRR 0,0,0,1/2,1/2,1; FAR 1,2/3,1/3,1/3,0,0.
    # |FRR-FAR|: 1, 2/3, 1/3, 1/6, 1/2, 1: smallest at k=3, EER (1/2 + 1/3)/2 = 5/12, threshold 3.
    result = official_eer([0, 0, 1, 1, 1], [3, 4, 1, 2, 3.5])
    assert result.eer == pytest.approx(5 / 12, abs=1e-15) and result.threshold == 3.0
    eer_value, threshold = result  # unpacks like the organisers' (eer, threshold)
    assert threshold == 3.0


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_official_eer_agrees_with_a_naive_sweep_to_the_digit(seed, decimals):
    s = random_system(seed, decimals=decimals)
    labels = np.r_[np.zeros(s["bona"].size, int), np.ones(s["spoof"].size, int)]
    scores = np.r_[s["bona"], s["spoof"]]
    expected = naive_official_eer(s["bona"].tolist(), s["spoof"].tolist())
    # Same arithmetic (a mean of two count ratios), so equal to the last bit; shuffling the trials
    # changes nothing, ties included.
    assert tuple(official_eer(labels, scores)) == expected
    order = np.random.default_rng(seed).permutation(labels.size)
    assert tuple(official_eer(labels[order], scores[order])) == expected


def test_official_det_curve_points_and_thresholds():
    frr, far, thresholds = official_det_curve([3.0, 4.0], [1.0, 2.0, 3.5])
    np.testing.assert_allclose(frr, [0, 0, 0, 0.5, 0.5, 1], atol=1e-15)
    np.testing.assert_allclose(far, [1, 2 / 3, 1 / 3, 1 / 3, 0, 0], atol=1e-15)
    np.testing.assert_allclose(thresholds, [1 - 0.001, 1, 2, 3, 3.5, 4], atol=1e-15)


# ----------------------------------------------------------------------------- ASV rates


def test_asv_error_rates_hand_worked_keep_the_official_off_by_one():
    rates = asv_error_rates(ASV_TAR, ASV_NON, ASV_SPOOF)
    for field, value in ASV_BY_HAND.items():
        assert getattr(rates, field) == pytest.approx(value, abs=1e-15), field


@pytest.mark.parametrize("seed", range(8))
def test_asv_error_rates_agree_with_a_naive_loop(seed):
    s = random_system(seed, decimals=1)
    rates = asv_error_rates(s["tar"], s["non"], s["asv_spoof"])
    expected = naive_asv_rates(s["tar"].tolist(), s["non"].tolist(), s["asv_spoof"].tolist())
    assert rates.pfa == expected["pfa"] and rates.pmiss == expected["pmiss"]
    assert rates.pfa_spoof == expected["pfa_spoof"]
    assert rates.pmiss_spoof == pytest.approx(1 - expected["pfa_spoof"], abs=1e-15)


# ----------------------------------------------------------------------------- t-DCF, by hand


def test_min_tdcf_2019_hand_worked():
    # ASV rates above: Pmiss 0, Pfa 1/2, Pmiss_spoof 1/4.
    # C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss) - Pnon Cfa_asv Pfa = 0.9405 * 1 - 0.0095 * 10 * 0.5 = 0.893
    # C2 = Cfa_cm Pspoof (1 - Pmiss_spoof) = 10 * 0.05 * 0.75 = 0.375; normaliser min = 0.375.
    # t-DCF(k) = (0.893 Pmiss_cm + 0.375 Pfa_cm) / 0.375 over the CM points:
    # k=0: 1; k=1: 2/3; k=2: 0.7938 + 0.6667 = 1.4604; k=3: 1.1271; k=4: 1.9209; k=5: 2.7147; k=6: 2.3813.
    # Minimum 2/3 at k=1, whose threshold is the lowest CM score, 0.
    result = min_tdcf_2019(CM_BONA, CM_SPOOF, ASV_TAR, ASV_NON, ASV_SPOOF)
    assert result.min_tdcf == pytest.approx(2 / 3, rel=1e-12)
    assert result.threshold == 0.0
    curve, thresholds = tdcf_curve_2019(CM_BONA, CM_SPOOF, asv_error_rates(ASV_TAR, ASV_NON, ASV_SPOOF))
    pm = np.array([0, 0, 1, 1, 2, 3, 3]) / 3
    pf = np.array([3, 2, 2, 1, 1, 1, 0]) / 3
    np.testing.assert_allclose(curve, (0.893 * pm + 0.375 * pf) / 0.375, rtol=1e-12)
    np.testing.assert_allclose(thresholds, [-0.001, 0, 1, 2, 3, 4, 5], atol=1e-15)


def test_min_tdcf_2021_hand_worked():
    # C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv = 0 + 0.0095 * 10 * 0.5 = 0.0475
    # C1 = Ptar Cmiss - C0 = 0.9405 - 0.0475 = 0.893
    # C2 = Pspoof Cfa_spoof Pfa_spoof_asv = 0.05 * 10 * 0.75 = 0.375
    # default = C0 + min(C1, C2) = 0.4225; t-DCF(k) = (0.0475 + 0.893 Pmiss_cm + 0.375 Pfa_cm) / 0.4225
    # k=0: 1; k=1: (0.0475 + 0.25) / 0.4225 = 0.2975 / 0.4225 = 119/169 = 0.70414; k=3: 1.1128; ...
    result = min_tdcf_2021(CM_BONA, CM_SPOOF, ASV_TAR, ASV_NON, ASV_SPOOF)
    assert result.min_tdcf == pytest.approx(119 / 169, rel=1e-12)
    assert result.threshold == 0.0
    curve, _ = tdcf_curve_2021(CM_BONA, CM_SPOOF, asv_error_rates(ASV_TAR, ASV_NON, ASV_SPOOF))
    pm = np.array([0, 0, 1, 1, 2, 3, 3]) / 3
    pf = np.array([3, 2, 2, 1, 1, 1, 0]) / 3
    np.testing.assert_allclose(curve, (0.0475 + 0.893 * pm + 0.375 * pf) / 0.4225, rtol=1e-12)


def test_perfect_cm_gives_what_the_formulas_imply():
    # Every bona fide above every spoof: the CM point rejecting exactly the spoofs has
    # Pmiss_cm = Pfa_cm = 0. 2019: t-DCF = 0 there. 2021: C0 / (C0 + min(C1, C2)) = 0.0475 / 0.4225
    # = 19/169, the ASV's own cost, which no CM can remove. Threshold: the highest spoof score.
    bona, spoof = [5.0, 6.0, 7.5], [0.0, 1.0, 2.0, 3.0]
    assert min_tdcf_2019(bona, spoof, ASV_TAR, ASV_NON, ASV_SPOOF) == (0.0, 3.0)
    result = min_tdcf_2021(bona, spoof, ASV_TAR, ASV_NON, ASV_SPOOF)
    assert result.min_tdcf == pytest.approx(19 / 169, rel=1e-12) and result.threshold == 3.0


def test_useless_cm_costs_at_most_one():
    # Identical score distributions: the trivial points k=0 (accept all) and k=n (reject all)
    # are on every curve, and the normalisation makes the better of them exactly 1.
    rng = np.random.default_rng(3)
    scores = rng.normal(size=200)
    for compute in (min_tdcf_2019, min_tdcf_2021):
        value = compute(scores[:100], scores[100:], ASV_TAR, ASV_NON, ASV_SPOOF).min_tdcf
        assert 0.5 < value <= 1.0 + 1e-12


def test_fixed_asv_rates_as_in_asvspoof5():
    # ASVspoof 5 track 2 feeds the 2019 formula fixed ASV rates. By hand with Pmiss 0.02,
    # Pfa 0.02, Pfa_spoof 0.5: C1 = 0.9405 (1 - 0.02) - 0.0095 * 10 * 0.02 = 0.92169 - 0.0019
    # = 0.91979; C2 = 10 * 0.05 * 0.5 = 0.25. Accept-all point (k=0): 0.25 / 0.25 = 1.
    asv = ASVErrorRates(pfa=0.02, pmiss=0.02, pmiss_spoof=0.5, pfa_spoof=0.5)
    curve, _ = tdcf_curve_2019([1.0, 3.0, 4.0], [0.0, 2.0, 5.0], asv)
    assert curve[0] == pytest.approx(1.0, rel=1e-12)
    # k=6 (reject all): 0.91979 / 0.25 = 3.67916
    assert curve[-1] == pytest.approx(0.91979 / 0.25, rel=1e-12)


# ----------------------------------------------------------------------------- t-DCF, brute force


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("version", [2019, 2021])
def test_min_tdcf_agrees_with_brute_force_over_every_threshold(seed, version):
    s = random_system(seed, decimals=None)  # continuous scores: no ties
    asv = naive_asv_rates(s["tar"].tolist(), s["non"].tolist(), s["asv_spoof"].tolist())
    expected = naive_min_tdcf(s["bona"].tolist(), s["spoof"].tolist(), asv, version)
    compute = min_tdcf_2019 if version == 2019 else min_tdcf_2021
    got = compute(s["bona"], s["spoof"], s["tar"], s["non"], s["asv_spoof"])
    assert got.min_tdcf == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # The returned threshold is the organisers' (highest rejected score): rejecting
    # score <= threshold must reach the same cost.
    cost = tandem_cost_2019 if version == 2019 else tandem_cost_2021
    pm = np.mean(s["bona"] <= got.threshold)
    pf = np.mean(s["spoof"] > got.threshold)
    floor = cost(0, 0, asv) if version == 2019 else 0.0
    norm = min(cost(1, 0, asv), cost(0, 1, asv)) - floor
    assert (cost(pm, pf, asv) - floor) / norm == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("version", [2019, 2021])
def test_with_tied_scores_the_official_min_is_the_min_over_real_thresholds(seed, version):
    # Rounded scores tie across classes. The official sweep also visits points inside a tie
    # (bona fide of the tie rejected, its spoofs not yet), but those cost more than the tie's
    # ends, so the minimum is still the one over thresholds that exist.
    s = random_system(seed, n_bona=15, n_spoof=25, decimals=0)
    asv = naive_asv_rates(s["tar"].tolist(), s["non"].tolist(), s["asv_spoof"].tolist())
    reachable = naive_min_tdcf(s["bona"].tolist(), s["spoof"].tolist(), asv, version)
    compute = min_tdcf_2019 if version == 2019 else min_tdcf_2021
    got = compute(s["bona"], s["spoof"], s["tar"], s["non"], s["asv_spoof"]).min_tdcf
    assert got == pytest.approx(reachable, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- refusals


def test_refuses_hard_decisions_bad_scores_and_bad_priors():
    with pytest.raises(ValueError, match="fewer than 3 distinct"):
        min_tdcf_2019([1, 1, 1], [0, 0], ASV_TAR, ASV_NON, ASV_SPOOF)
    with pytest.raises(ValueError, match="NaN"):
        min_tdcf_2021([1, float("nan"), 3], [0, 2], ASV_TAR, ASV_NON, ASV_SPOOF)
    with pytest.raises(ValueError, match="empty"):
        min_tdcf_2021([1, 2, 3], [0, 2], ASV_TAR, ASV_NON, [])
    with pytest.raises(ValueError, match="sum to 1"):
        min_tdcf_2019(CM_BONA, CM_SPOOF, ASV_TAR, ASV_NON, ASV_SPOOF, costs=CostsTDCF2019(p_spoof=0.1))
    with pytest.raises(ValueError, match="sum to 1"):
        min_tdcf_2021(CM_BONA, CM_SPOOF, ASV_TAR, ASV_NON, ASV_SPOOF, costs=CostsTDCF2021(p_tar=0.5))
    with pytest.raises(ValueError, match="no spoof"):
        official_eer([0, 0], [1.0, 2.0])


def test_default_costs_are_the_organisers():
    assert CostsTDCF2019() == CostsTDCF2019(0.05, 0.95 * 0.99, 0.95 * 0.01, 1, 10, 1, 10)
    assert CostsTDCF2021() == CostsTDCF2021(0.05, 0.95 * 0.99, 0.95 * 0.01, 1, 10, 10)


# ----------------------------------------------------------------------------- ASV score files

ASV2019_TEXT = """bonafide target 2.0
bonafide nontarget 0.0
A07 spoof 0.5
bonafide target 3.0

A08 spoof 1.5
bonafide nontarget 1.0
A07 spoof 2.5
A19 spoof 3.5
"""


def test_read_asv2019_scores_and_its_min_tdcf(tmp_path):
    path = tmp_path / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"
    path.write_text(ASV2019_TEXT.replace("\n", "\r\n", 2))  # CRLF lines and a blank line are fine
    asv = read_asv2019_scores(path)
    assert asv.target.tolist() == ASV_TAR and asv.nontarget.tolist() == ASV_NON
    assert asv.spoof.tolist() == ASV_SPOOF
    assert asv.spoof_attack.tolist() == ["A07", "A08", "A07", "A19"]
    # The same ASV as the hand-worked case above, so the same 2019 min t-DCF: 2/3.
    got = min_tdcf_2019(CM_BONA, CM_SPOOF, asv.target, asv.nontarget, asv.spoof)
    assert got.min_tdcf == pytest.approx(2 / 3, rel=1e-12)


@pytest.mark.parametrize(
    "line, message",
    [
        ("bonafide target", "line 3: expected 3 fields"),
        ("bonafide target 1.0 extra", "line 3: expected 3 fields"),
        ("bonafide impostor 1.0", "line 3: key 'impostor'"),
        ("bonafide target one", "line 3: score 'one' is not a number"),
        ("bonafide target nan", "line 3: score 'nan' is not finite"),
    ],
)
def test_read_asv2019_scores_names_file_and_line_of_a_bad_line(tmp_path, line, message):
    path = tmp_path / "scores.txt"
    path.write_text(f"bonafide target 1.0\nbonafide nontarget 0.0\n{line}\nA07 spoof 0.3\n")
    with pytest.raises(ValueError, match=f"scores.txt, {message}"):
        read_asv2019_scores(path)


def test_read_asv2019_scores_needs_all_three_keys(tmp_path):
    path = tmp_path / "scores.txt"
    path.write_text("bonafide target 1.0\nbonafide nontarget 0.0\n")
    with pytest.raises(ValueError, match="no spoof trials"):
        read_asv2019_scores(path)
    with pytest.raises(FileNotFoundError):
        read_asv2019_scores(tmp_path / "absent.txt")


def write_keys_2021(root, rows, scorer_dir="ASVTorch_Kaldi", asv_dir="ASV", track_dir="LA"):
    """rows: (trial, key, attack, subset, score). Writes the two files of the 2021 keys."""
    asv = root / track_dir / asv_dir
    (asv / scorer_dir).mkdir(parents=True)
    meta = "".join(f"LA_0001 {t} alaw ita_tx {a} {k} notrim {sub}\n" for t, k, a, sub, _ in rows)
    scores = "".join(f"LA_0001 {t} {s}\n" for t, _, _, _, s in rows)
    (asv / "trial_metadata.txt").write_text(meta)
    (asv / scorer_dir / "score.txt").write_text(scores)
    return asv


ROWS_2021 = [
    ("LA_E_1", "target", "bonafide", "eval", 2.0),
    ("LA_E_2", "nontarget", "bonafide", "eval", 0.0),
    ("LA_E_3", "spoof", "A07", "eval", 0.5),
    ("LA_E_4", "spoof", "A09", "progress", 9.0),
    ("LA_E_5", "target", "bonafide", "eval", 3.0),
    ("LA_E_6", "spoof", "A08", "eval", 1.5),
    ("LA_E_7", "nontarget", "bonafide", "eval", 1.0),
    ("LA_E_8", "target", "bonafide", "progress", -4.0),
    ("LA_E_9", "spoof", "A16", "eval", 2.5),
    ("LA_E_10", "spoof", "A19", "eval", 3.5),
    ("LA_E_11", "nontarget", "bonafide", "progress", 8.0),
]


@pytest.mark.parametrize("scorer_dir", ["ASVTorch_Kaldi", "ASVtorch_kaldi"])
def test_read_asv2021_scores_one_subset_and_its_min_tdcf(tmp_path, scorer_dir):
    asv_dir = write_keys_2021(tmp_path / "keys", ROWS_2021, scorer_dir=scorer_dir)
    for root in (tmp_path / "keys", tmp_path / "keys" / "LA", asv_dir):
        asv = read_asv2021_scores(root, subset="eval")
        assert asv.target.tolist() == ASV_TAR and asv.nontarget.tolist() == ASV_NON
        assert asv.spoof.tolist() == ASV_SPOOF
        assert asv.spoof_attack.tolist() == ["A07", "A08", "A16", "A19"]
    # Hand-worked above: 119/169 with the 2021 formula.
    got = min_tdcf_2021(CM_BONA, CM_SPOOF, asv.target, asv.nontarget, asv.spoof)
    assert got.min_tdcf == pytest.approx(119 / 169, rel=1e-12)
    progress = read_asv2021_scores(tmp_path / "keys", subset="progress")
    assert progress.target.tolist() == [-4.0] and progress.spoof.tolist() == [9.0]
    everything = read_asv2021_scores(tmp_path / "keys", subset=None)
    assert everything.target.tolist() == [2.0, 3.0, -4.0]


def test_read_asv2021_scores_keeps_each_trial_with_its_condition(tmp_path):
    write_keys_2021(tmp_path / "keys", ROWS_2021)
    trials = read_asv2021_scores(tmp_path / "keys", subset="eval").trials
    # write_keys_2021 gives every trial speaker LA_0001, codec alaw, channel ita_tx
    expected = [(t, "LA_0001", "alaw", "ita_tx", a, k, float(s)) for t, k, a, sub, s in ROWS_2021 if sub == "eval"]
    assert list(trials.itertuples(index=False, name=None)) == expected
    assert sorted(trials.loc[trials.key == "target", "score"]) == sorted(ASV_TAR)


def test_read_asv2021_folder_names_ignore_case(tmp_path):
    write_keys_2021(tmp_path / "keys", ROWS_2021, asv_dir="asv", track_dir="la")
    key_file, score_file = find_asv2021_files(tmp_path / "keys")
    assert key_file == tmp_path / "keys" / "la" / "asv" / "trial_metadata.txt"
    assert score_file == tmp_path / "keys" / "la" / "asv" / "ASVTorch_Kaldi" / "score.txt"
    with pytest.raises(FileNotFoundError, match="ASVTorch_Kaldi/score.txt"):
        find_asv2021_files(tmp_path)


def test_read_asv2021_refusals_name_file_and_line(tmp_path):
    asv_dir = write_keys_2021(tmp_path / "keys", ROWS_2021)
    meta, scores = asv_dir / "trial_metadata.txt", asv_dir / "ASVTorch_Kaldi" / "score.txt"
    good_meta, good_scores = meta.read_text(), scores.read_text()

    def refused(meta_text, score_text, pattern, **kwargs):
        meta.write_text(meta_text)
        scores.write_text(score_text)
        with pytest.raises(ValueError, match=pattern):
            read_asv2021_scores(tmp_path / "keys", **kwargs)

    lines = good_scores.splitlines(keepends=True)
    refused(
        good_meta,
        "".join(lines[:4] + lines[5:]),
        r"score.txt, line 5 scores trial 'LA_E_6' but .*trial_metadata.txt, line 5 is trial 'LA_E_5'",
    )
    refused(good_meta, "".join(lines[:-1]), r"trial_metadata.txt, line 11: no partner line")
    refused(good_meta, good_scores + "LA_0001 LA_E_12 0.0\n", r"score.txt, line 12: no partner line")
    refused(good_meta.replace("spoof notrim", "fake notrim", 1), good_scores, r"trial_metadata.txt, line 3: key 'fake'")
    refused(
        good_meta.replace(" notrim eval", " eval", 1), good_scores, r"trial_metadata.txt, line 1: expected 8 fields"
    )
    refused(good_meta, good_scores.replace(" 0.5\n", " 0,5\n"), r"score.txt, line 3: score '0,5' is not a number")
    refused(good_meta, good_scores, r"no trials of subset 'hidden_track'", subset="hidden_track")
    # the organisers' third phase is hidden_track, as the CM keys and --subset spell it
    refused(
        good_meta,
        good_scores,
        r"^subset must be one of progress, eval, hidden_track or None, got 'hidden'$",
        subset="hidden",
    )
    meta.write_text(good_meta.replace(" eval\n", " hidden_track\n"))  # the rows of ROWS_2021's eval subset
    scores.write_text(good_scores)
    hidden = read_asv2021_scores(tmp_path / "keys", subset="hidden_track")
    assert (sorted(hidden.target), sorted(hidden.nontarget), sorted(hidden.spoof)) == (
        [2.0, 3.0],
        [0.0, 1.0],
        [0.5, 1.5, 2.5, 3.5],
    )
    refused(good_meta, good_scores, r"subset must be one of", subset="dev")
