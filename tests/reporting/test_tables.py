"""make_table (reporting/tables.py) writes each run's attack x condition grid (metrics.json
condition_grid) as its own table in Markdown, LaTeX and CSV, cell for cell the runs' values;
thin cells and cells without a min t-DCF carry footnotes, one-class cells stay empty."""

import csv
import json

from deepfake_pipeline.cli.make_table import main as make_table

SPLIT = "la21_eval"


def _cell(eer, min_tdcf, n_spoof=30, n_bona=20, note=None):
    return {"n_bonafide": n_bona, "n_spoof": n_spoof, "eer": eer, "min_tdcf": min_tdcf, "min_tdcf_note": note}


GRID = {
    "A07": {"alaw": _cell(0.125, 0.40368706012277494), "none": _cell(0.25, 0.5, n_spoof=2), "pooled": _cell(0.2, 0.6)},
    "A08": {
        "alaw": _cell(None, None, n_spoof=0, note="one CM class only"),
        "none": _cell(0.3, None, note="no ASV spoof trials in this cell"),
        "pooled": _cell(0.3, 0.7),
    },
    "pooled": {"alaw": _cell(0.1, 0.45), "none": _cell(0.27, 0.55), "pooled": _cell(0.22, 0.65)},
}


def _write_run(results, name, grid):
    run = results / name
    (run / "scores").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"format": "run_config", "format_version": 1, "args": {}}))
    record = {
        "split": SPLIT,
        "untrained": False,
        "demo": False,
        "auc": 0.9,
        "auc_ci": [0.85, 0.95],
        "eer": 0.22,
        "eer_ci": [0.2, 0.24],
        "min_tdcf": 0.65,
        "min_tdcf_note": None,
        "n_speakers": 20,
        "n_trials": 80,
        "per_attack": {},
        "per_condition": {},
        "condition_grid": {"codec": grid},
        "silence_only": {"auc": 0.5, "clearly_beaten": True},
        "score_file": f"scores/{SPLIT}.txt",
        "closing_line": f"ROC-AUC test={SPLIT} 0.9000 ... silence-only 0.5000",
    }
    metrics = {"format": "run_metrics", "format_version": 1, "untrained": False, "demo": False}
    metrics["tests"] = {SPLIT: record}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / record["score_file"]).write_text(f"{SPLIT}_0001 0.5\n")


def test_the_grid_is_its_own_table_in_every_format(tmp_path, capsys):
    results = tmp_path / "results"
    _write_run(results, "sys_a", GRID)
    out = tmp_path / "t"
    assert make_table(["--runs", str(results / "sys_a"), "--out", str(out)]) == 0, capsys.readouterr().err
    md = (out / "table.md").read_text()
    section = md[md.index(f"## Attack x codec, test={SPLIT}") :].splitlines()
    head = [c.strip() for c in section[2].strip("|").split("|")]
    assert head == ["attack"] + [f"sys_a {v} {m}" for v in ("alaw", "none", "pooled") for m in ("EER %", "min t-DCF")]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in section[4:7]}
    assert list(rows) == ["A07", "A08", "pooled"]
    assert rows["A07"][:2] == ["12.50", "0.4037"] and rows["A07"][2].startswith("25.00 [")  # 2 spoofs: thin
    assert rows["A08"][:2] == ["n/a", "n/a"] and rows["A08"][2] == "30.00"  # one class: empty
    assert rows["A08"][3].startswith("n/a [")  # no min t-DCF: footnoted with the run's reason
    assert "no min t-DCF: no ASV spoof trials in this cell" in md
    assert "rests on 2 spoof and 20 bona fide trials" in md
    tex = (out / "table.tex").read_text()
    assert "\\caption{Attack x codec, test=la21\\_eval}" in tex
    cells = [r for r in csv.DictReader((out / "table.csv").open()) if r["table"] == f"attack_x_codec:{SPLIT}"]
    by_key = {(r["row"], r["metrics_json_path"].split("/")[-2], r["metric"]): r for r in cells}
    assert float(by_key[("A07", "alaw", "min_tdcf")]["value"]) == 0.40368706012277494  # exact, not rounded
    assert by_key[("A07", "alaw", "min_tdcf")]["metrics_json_path"].endswith("condition_grid/codec/A07/alaw/min_tdcf")
    assert ("A08", "alaw", "eer") not in by_key and by_key[("A08", "none", "min_tdcf")]["value"] == ""
    assert len(cells) == 9 * 2 - 2  # every cell but the one-class one, both metrics


def test_a_grid_without_min_tdcf_has_eer_columns_only(tmp_path, capsys):
    results = tmp_path / "results"
    no_asv = {
        a: {v: {**c, "min_tdcf": None, "min_tdcf_note": "no ASV"} for v, c in row.items()} for a, row in GRID.items()
    }
    _write_run(results, "sys_df", no_asv)
    out = tmp_path / "t"
    assert make_table(["--runs", str(results / "sys_df"), "--out", str(out)]) == 0, capsys.readouterr().err
    md = (out / "table.md").read_text()
    head = md[md.index("## Attack x codec") :].splitlines()[2]
    assert "min t-DCF" not in head and head.count("EER %") == 3
