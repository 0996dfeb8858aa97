"""What every closing line and table row must say about itself: the run it came from, how C (or
the epoch) was chosen, and when a per-attack / per-condition row rests on too few trials."""

import pytest

from deepfake_pipeline.evaluation.closing import (
    FEW_TRIALS,
    attack_table,
    closing_line,
    parse_closing_line,
    seeds_closing_line,
)
from deepfake_pipeline.evaluation.verdict import Verdict


def test_closing_line_names_its_run_and_its_choice_and_parses_back():
    line = closing_line(
        "itw_eval",
        0.91,
        (0.88, 0.94),
        0.12,
        (0.1, 0.15),
        0.55,
        untrained=True,
        n_speakers=7,
        left_out={"too_long": 2},
        n_trials=40,
        run="own_cv5",
        chosen="C chosen by cv5 on mine_all",
    )
    assert line.endswith(
        "[CI over 7 speakers] [40 of 42 trials: too_long 2] run=own_cv5 [C chosen by cv5 on mine_all] "
        "[untrained model: not a detection result]"
    )
    parsed = parse_closing_line(line)
    assert parsed["run"] == "own_cv5" and parsed["chosen"] == "C chosen by cv5 on mine_all"
    assert parsed["auc"] == 0.91 and parsed["untrained"] and parsed["trials"] == 40
    # Without them the line is as before, and parses with None for both.
    plain = parse_closing_line(closing_line("s", 0.5, None, 0.5, None, None))
    assert plain["run"] is None and plain["chosen"] is None
    with pytest.raises(ValueError):
        closing_line("s", 0.5, None, 0.5, None, None, chosen="a tag with ] in it, chosen")


def test_verdict_line_names_its_run_before_the_caveats():
    verdict = Verdict(
        split="s",
        baseline_auc=0.9,
        contrastive_auc=0.92,
        diff=0.02,
        ci=(0.01, 0.03),
        delong_p=0.001,
        n_trials=100,
    )
    assert verdict.line(demo=True, run="demo_contrastive").endswith(
        "meets the 1-point rule run=demo_contrastive [demo corpus]"
    )


def _row(n_spoof, n_bonafide, auc=0.75, eer=0.25):
    return {"n_spoof": n_spoof, "n_bonafide": n_bonafide, "auc": auc, "eer": eer}


def test_attack_table_flags_thin_rows_and_counts_one_class_rows_it_leaves_out():
    table = {
        "A07": _row(40, 30),
        "A08": _row(FEW_TRIALS - 1, 30),  # one spoof short of a handful
        "A09": _row(FEW_TRIALS, FEW_TRIALS),  # exactly a handful: not flagged
        "RealVideo-FakeAudio": _row(12, 0, None, None),
        "FakeVideo-RealAudio": _row(0, 9, None, None),
    }
    lines = attack_table(table, "per method:", "method")
    rows = {line.split()[0]: line for line in lines[2:] if not line.strip().startswith("(")}
    assert set(rows) == {"A07", "A08", "A09"}
    assert "few trials" in rows["A08"] and "few trials" not in rows["A07"] and "few trials" not in rows["A09"]
    assert not any("nan" in line for line in lines)
    notes = [line.strip() for line in lines if line.strip().startswith("(")]
    assert notes[0].startswith(f"(1 row rests on fewer than {FEW_TRIALS} trials of a class")
    assert notes[1].startswith("(2 method values left out: one class only")
    assert "FakeVideo-RealAudio" in notes[1] and "RealVideo-FakeAudio" in notes[1]
    # Every row of one class: the table says so instead of printing nan rows.
    only = attack_table({"x": _row(3, 0, None, None)}, "t:")
    assert only == ["t:", "  (1 attack value left out: one class only, no ROC-AUC or EER: x)"]


def test_the_summary_over_seeds_gives_mean_and_sample_sd_and_names_its_run():
    aucs, eers = [0.90, 0.94, 0.95], [0.12, 0.08, 0.07]
    # worked by hand: mean AUC 0.93, sample variance ((0.03)^2 + 0.01^2 + 0.02^2) / 2 = 0.0007
    line = seeds_closing_line("la_eval", 3, aucs, eers, "run_a", untrained=True, demo=True)
    assert line == (
        "ROC-AUC over 3 seeds test=la_eval: mean 0.9300 sd 0.0265, EER mean 9.00% sd 2.65% run=run_a"
        " [untrained model: not a detection result] [demo corpus]"
    )
    assert seeds_closing_line("x", 2, [0.5, 0.7], [0.3, 0.1], "r").endswith("sd 14.14% run=r")
    with pytest.raises(ValueError, match="one AUC and one EER per seed"):
        seeds_closing_line("x", 3, [0.5, 0.7], [0.3, 0.1], "r")


def test_attack_table_shows_min_tdcf_where_rows_have_it_and_says_why_not():
    table = {
        "A07": {**_row(40, 30), "min_tdcf": 0.41234, "min_tdcf_note": None},
        "A08": {**_row(40, 30), "min_tdcf": None, "min_tdcf_note": "no ASV spoof trials in this cell"},
    }
    lines = attack_table(table, "per attack:")
    assert lines[1].split()[-1] == "min-tDCF"
    assert lines[2].split()[-1] == "0.4123" and lines[3].split()[-1] == "n/a"
    assert lines[-1] == "  (min t-DCF n/a for some rows: no ASV spoof trials in this cell)"
    # 2019 score files: no row has one, the table keeps its columns and says why once
    note = "the 2019 ASV scores list no trials with conditions"
    plain = attack_table({"alaw": {**_row(9, 9), "min_tdcf": None, "min_tdcf_note": note}}, "per codec:", "codec")
    assert "min-tDCF" not in plain[1] and plain[-1] == f"  (min t-DCF n/a: {note})"
