"""Per-condition and per-attack min t-DCF and the attack x codec grid against the organisers'
ASVspoof 2021 package (numbers below: eval-package/main.py run from /tmp on the fixture sets, see
tests/condition_fixtures.py; rows A07.., Pooled; columns the codecs in sorted order, Pooled) and
against the plain-loop reference of the evaluation plan's formulas."""

import numpy as np
import pytest
from condition_fixtures import RANDOM_ATTACKS, RANDOM_CODECS, hand_set, random_set, reference_min_tdcf
from tdcf_references import naive_asv_rates, naive_min_tdcf

from deepfake_pipeline.evaluation import condition_tdcf as ct
from deepfake_pipeline.formats.asv_scores import ASVScores

# min t-DCF and EER tables printed by the package (repr of each float), rows/columns as above.
PACKAGE = {
    "hand": (
        [
            [0.7041420118343195, 0.6888370283936212, 0.7751320095568895],
            [0.69558599695586, 0.39117199391172, 0.709897168907193],
            [0.6984924623115577, 0.5366795366795367, 0.7360900611517031],
        ],
        [[0.29166666666666663, 0.29166666666666663, 0.35416666666666663]] * 3,
    ),
    "random0": (
        [
            [0.8744050277217303, 0.9515232099945291, 0.7651747778221838, 0.9482525696090661],
            [0.40368706012277494, 0.7973707770295559, 0.696410079922812, 0.6736292806301906],
            [0.44686605081781, 0.5924372995807677, 0.5413951110983858, 0.5609772175721279],
            [0.5278691381865718, 0.8018141797583991, 0.6364887257619101, 0.6851608664645102],
        ],
        [
            [0.2744360902255639, 0.2357142857142857, 0.21717171717171718, 0.21514285714285714],
            [0.1530214424951267, 0.21428571428571427, 0.2236111111111111, 0.19073684210526315],
            [0.16466165413533834, 0.18452380952380953, 0.21717171717171718, 0.18575],
            [0.16328471781864298, 0.21179401993355482, 0.22431865828092243, 0.19818181818181818],
        ],
    ),
    "random1": (
        [
            [0.8192537057112994, 0.8928000895749268, 0.972937107044192, 0.9228088864575364],
            [0.7576467225965842, 0.8284885496176194, 0.6054676116065645, 0.8158889060382174],
            [0.6824555271717415, 0.5994060445845218, 0.5364151426816013, 0.6336170499912156],
            [0.8050246406254592, 0.7896618130874149, 0.7234190522332788, 0.8095541739079346],
        ],
        [
            [0.18990384615384615, 0.2985739750445633, 0.18007202881152462, 0.22594670406732117],
            [0.31625000000000003, 0.3284313725490196, 0.20918367346938777, 0.2776846516500786],
            [0.278125, 0.23885918003565063, 0.19926303854875282, 0.24559234144395692],
            [0.2779876373626374, 0.2928921568627451, 0.1836734693877551, 0.25240274599542334],
        ],
    ),
}
SETS = {"hand": hand_set(), "random0": random_set(0), "random1": random_set(1)}


def asv_2021(asv):
    """ASVScores as read_asv2021_scores would hold these trials."""
    spoof = asv.key == "spoof"
    trials = asv.assign(trial="LA_E_0", speaker="LA_0001", trans="-")
    scores = ASVScores(
        asv.score[asv.key == "target"].to_numpy(),
        asv.score[asv.key == "nontarget"].to_numpy(),
        asv.score[spoof].to_numpy(),
        asv.attack[spoof].to_numpy(),
        trials=trials,
    )
    return scores, "2021"


def grid_of(name):
    cm, asv = SETS[name]
    return ct.condition_grid(cm.label, cm.score, cm.attack, cm.codec, "codec", asv_2021(asv))


@pytest.mark.parametrize("name", sorted(PACKAGE))
def test_grid_equals_the_organisers_package_to_the_bit(name):
    tdcfs, eers = PACKAGE[name]
    grid = grid_of(name)
    assert [[cell["min_tdcf"] for cell in row.values()] for row in grid.values()] == tdcfs
    assert [[cell["eer"] for cell in row.values()] for row in grid.values()] == eers
    assert list(grid)[-1] == ct.POOLED and list(next(iter(grid.values())))[-1] == ct.POOLED


@pytest.mark.parametrize("name", sorted(PACKAGE))
def test_every_cell_uses_its_own_cm_and_asv_trials(name):
    cm, asv = SETS[name]
    for attack, row in grid_of(name).items():
        for codec, cell in row.items():
            in_codec, asv_in_codec = cm.codec == codec, asv.codec == codec
            if codec == ct.POOLED:
                in_codec, asv_in_codec = cm.codec == cm.codec, asv.codec == asv.codec
            of_attack = (cm.attack == attack) | (attack == ct.POOLED)
            bona = cm.score[(cm.label == 0) & in_codec].tolist()
            spoof = cm.score[(cm.label == 1) & in_codec & of_attack].tolist()
            asv_spoof = (asv.key == "spoof") & asv_in_codec & ((asv.attack == attack) | (attack == ct.POOLED))
            expected = reference_min_tdcf(
                bona,
                spoof,
                asv.score[(asv.key == "target") & asv_in_codec].tolist(),
                asv.score[(asv.key == "nontarget") & asv_in_codec].tolist(),
                asv.score[asv_spoof].tolist(),
            )
            assert cell["min_tdcf"] == pytest.approx(expected, rel=1e-12)
            assert (cell["n_bonafide"], cell["n_spoof"]) == (len(bona), len(spoof))


def test_per_condition_and_per_attack_are_the_pooled_row_and_column():
    cm, asv = SETS["random0"]
    tdcfs = PACKAGE["random0"][0]
    per_codec = ct.per_condition_tdcf(cm.label, cm.score, cm.codec, "codec", asv_2021(asv))
    assert [per_codec[c]["min_tdcf"] for c in RANDOM_CODECS] == tdcfs[-1][:-1]
    per_attack = ct.per_attack_tdcf(cm.label, cm.score, cm.attack, asv_2021(asv))
    assert [per_attack[a]["min_tdcf"] for a in RANDOM_ATTACKS] == [row[-1] for row in tdcfs[:-1]]
    assert all(row["min_tdcf_note"] is None for row in [*per_codec.values(), *per_attack.values()])


def test_without_asv_trials_a_condition_gets_a_note_not_pooled_scores():
    cm, asv = SETS["hand"]
    scores, _ = asv_2021(asv)
    as_2019 = ASVScores(scores.target, scores.nontarget, scores.spoof, scores.spoof_attack), "2019"
    per_codec = ct.per_condition_tdcf(cm.label, cm.score, cm.codec, "codec", as_2019)
    assert {row["min_tdcf"] for row in per_codec.values()} == {None}
    assert all("2019 ASV scores list no trials" in row["min_tdcf_note"] for row in per_codec.values())
    # per attack still has what it needs: the attack of every 2019 ASV spoof trial
    per_attack = ct.per_attack_tdcf(cm.label, cm.score, cm.attack, as_2019)
    assert per_attack["A07"]["min_tdcf"] is not None
    other = ct.per_condition_tdcf(cm.label, cm.score, cm.codec.rename("compr"), "compr", asv_2021(asv))
    assert all("no compr column" in row["min_tdcf_note"] for row in other.values())
    no_asv = ct.per_condition_tdcf(cm.label, cm.score, cm.codec, "codec", None)
    assert {row["min_tdcf_note"] for row in no_asv.values()} == {ct.NO_ASV}


def test_a_cell_missing_an_asv_class_or_a_cm_class_has_none_like_the_packages_nan():
    cm, asv = SETS["hand"]
    asv = asv[~((asv.codec == "alaw") & (asv.attack == "A08"))]  # no ASV spoof of A08 in alaw
    cm = cm[~((cm.codec == "none") & (cm.attack == "A07"))]  # no CM spoof of A07 in none
    grid = ct.condition_grid(cm.label, cm.score, cm.attack, cm.codec, "codec", asv_2021(asv))
    assert grid["A08"]["alaw"]["min_tdcf"] is None and "no ASV spoof" in grid["A08"]["alaw"]["min_tdcf_note"]
    assert grid["A08"]["alaw"]["eer"] is not None
    assert grid["A07"]["none"] == {
        "n_bonafide": 4,
        "n_spoof": 0,
        "eer": None,
        "min_tdcf": None,
        "min_tdcf_note": ct.ONE_CLASS,
    }


def test_a_spoof_only_condition_filters_only_the_spoofs():
    cm, asv = SETS["hand"]
    scores, _ = asv_2021(asv)
    trials = scores.trials.assign(vocoder=np.where(scores.trials.attack == "A07", "neural", "trad"))
    with_vocoder = ASVScores(scores.target, scores.nontarget, scores.spoof, scores.spoof_attack, trials), "2021"
    vocoder = np.where(cm.attack == "A07", "neural", np.where(cm.attack == "A08", "trad", "bonafide"))
    rows = ct.per_condition_tdcf(cm.label, cm.score, vocoder, "vocoder", with_vocoder)
    assert set(rows) == {"neural", "trad"}
    per_attack = ct.per_attack_tdcf(cm.label, cm.score, cm.attack, with_vocoder)
    assert rows["neural"]["min_tdcf"] == per_attack["A07"]["min_tdcf"]
    with pytest.raises(ValueError, match="spoofs only"):
        ct.condition_grid(cm.label, cm.score, cm.attack, vocoder, "vocoder", with_vocoder)


# Survivors of the mutation run (docs/mutation.md, Results 2026-12-02): exact notes, the 2019
# formula, and the grid printer.


def test_the_2019_note_and_the_2019_formula():
    cm, asv = SETS["hand"]
    scores, _ = asv_2021(asv)
    as_2019 = ASVScores(scores.target, scores.nontarget, scores.spoof, scores.spoof_attack), "2019"
    row = ct.cell_metrics(cm.label, cm.score, None, cm.codec, "codec", as_2019, value="alaw")
    assert row["min_tdcf_note"] == (
        "the 2019 ASV scores list no trials with conditions, so no codec operating point of the ASV can be "
        "formed (not pooled over the split)"
    )
    pooled = ct.cell_metrics(cm.label, cm.score, cm.attack, None, None, as_2019, attack="A07")
    bona = cm.score[cm.label == 0].tolist()
    spoof = cm.score[cm.attack == "A07"].tolist()
    rates = naive_asv_rates(scores.target.tolist(), scores.nontarget.tolist(), asv.score[asv.attack == "A07"].tolist())
    assert pooled["min_tdcf"] == pytest.approx(naive_min_tdcf(bona, spoof, rates, 2019), rel=1e-12)
    assert pooled["min_tdcf"] != pytest.approx(naive_min_tdcf(bona, spoof, rates, 2021), rel=1e-6)


def test_a_cell_without_asv_target_and_nontarget_trials_names_both():
    cm, asv = SETS["hand"]
    asv = asv[~((asv.codec == "alaw") & (asv.key != "spoof"))]
    grid = ct.condition_grid(cm.label, cm.score, cm.attack, cm.codec, "codec", asv_2021(asv))
    assert grid["A07"]["alaw"]["min_tdcf_note"] == "no ASV target or nontarget trials in this cell"


def test_labels_not_attack_tags_decide_a_cells_spoofs():
    """Bona fide trials tagged with an attack's name stay bona fide."""
    row = ct.cell_metrics([0, 0, 1, 1], [1.0, 2.0, 0.0, 3.0], ["A07", "A07", "A07", "A08"], attack="A07")
    assert (row["n_bonafide"], row["n_spoof"]) == (2, 1) and row["eer"] is not None


def test_cm_decisions_instead_of_scores_get_the_refusal_as_note():
    cm, asv = SETS["hand"]
    row = ct.cell_metrics([0, 0, 1], [1.0, 1.0, 0.0], asv=asv_2021(asv))
    assert row["min_tdcf"] is None and row["min_tdcf_note"] == (
        "the CM scores take fewer than 3 distinct values: t-DCF needs soft scores, not decisions (the "
        "official packages refuse them too)"
    )


def test_a_condition_value_only_bona_fide_trials_have_is_listed_as_one_class():
    cm, asv = SETS["hand"]
    codec = np.where((cm.label == 0) & (cm.codec == "alaw"), "gsm", cm.codec)
    rows = ct.per_condition_tdcf(cm.label, cm.score, codec, "codec", asv_2021(asv))
    assert list(rows) == ["alaw", "gsm", "none"]
    assert rows["gsm"] == {"min_tdcf": None, "min_tdcf_note": ct.ONE_CLASS}


def test_condition_grids_skip_spoof_only_columns_and_runs_without_attacks():
    cm, asv = SETS["hand"]
    vocoder = np.where(cm.label == 0, "bonafide", "trad")
    conditions = {"codec": cm.codec, "vocoder": vocoder}
    grids = ct.condition_grids(cm.label, cm.score, cm.attack, conditions, asv_2021(asv))
    assert list(grids) == ["codec"]
    tdcfs = [[cell["min_tdcf"] for cell in row.values()] for row in grids["codec"].values()]
    assert tdcfs == PACKAGE["hand"][0]
    assert ct.condition_grids(cm.label, cm.score, None, conditions, asv_2021(asv)) == {}
    assert ct.condition_grids(cm.label, cm.score, cm.attack, {}, asv_2021(asv)) == {}


def _cell(eer, tdcf, n_bona, n_spoof, note=None):
    return {"n_bonafide": n_bona, "n_spoof": n_spoof, "eer": eer, "min_tdcf": tdcf, "min_tdcf_note": note}


def test_grid_lines_print_cells_stars_blanks_and_notes():
    grid = {
        "A07": {"alaw": _cell(0.1234, 0.56789, 10, 5), "pooled": _cell(0.5, None, 10, 4, "no ASV spoof trials")},
        "pooled": {"alaw": _cell(None, None, 10, 0, "one CM class only"), "pooled": _cell(0.25, 1.0, 3, 9)},
    }
    assert ct.grid_lines(grid, "codec", "Title:") == [
        "Title:",
        "  attack              alaw        pooled",  # width 13: the widest cell
        "  A07         12.34/0.5679    50.00/n/a*",
        "  pooled                   25.00/1.0000*",
        "  (* 2 cell(s) rest on fewer than 5 trials of a class: too few to quote)",
        "  (1 cell(s) left blank: one class only, no EER or min t-DCF)",
        "  (min t-DCF n/a: no ASV spoof trials)",
    ]


def test_grid_lines_widen_for_a_long_value_and_leave_out_empty_remarks():
    grid = {"pooled": {"a-very-long-codec-name": _cell(0.5, 0.25, 5, 5)}}
    assert ct.grid_lines(grid, "codec", "T") == [
        "T",
        "  attack     a-very-long-codec-name",
        "  pooled               50.00/0.2500",  # width 22: the value
    ]


def test_grid_lines_columns_are_at_least_12_wide():
    grid = {"pooled": {"gsm": _cell(0.5, None, 5, 5)}}
    assert ct.grid_lines(grid, "codec", "T") == ["T", "  attack              gsm", "  pooled        50.00/n/a"]
