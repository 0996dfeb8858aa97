"""make_table.py on run folders written here by hand, in the layout steps 3 and 4 and fuse_runs.py
write (metrics.json records, score files): every cell of the CSV and the Markdown is the run's
own metrics.json value, the manifest's SHA-256 are hashlib's of the files, LaTeX escapes `_` and
`%`, each caveat is a footnote on the row or cell it concerns, breakdown rows on few trials are
flagged and one-class rows left out with a count."""

import csv
import hashlib
import json
import re

import pytest

from deepfake_pipeline.cli.make_table import main as make_table

SPLIT_A, SPLIT_B = "toy_eval", "wild_eval"


def _record(split, auc, eer, *, n_speakers=20, min_tdcf=None, closing_tag="", per_attack=None, per_condition=None):
    return {
        "split": split,
        "untrained": False,
        "demo": False,
        "auc": auc,
        "auc_ci": [auc - 0.03125, min(1.0, auc + 0.0234375)],
        "eer": eer,
        "eer_interpolated": eer + 0.001,
        "eer_ci": [eer - 0.0125, eer + 0.015625],
        "min_tdcf": min_tdcf,
        "min_tdcf_note": None if min_tdcf is not None else "no ASV scores for this corpus split",
        "n_speakers": n_speakers,
        "n_trials": 80,
        "per_attack": per_attack or {},
        "per_condition": per_condition or {},
        "silence_only": {"auc": 0.5, "clearly_beaten": True},
        "score_file": f"scores/{split}.txt",
        "closing_line": f"ROC-AUC test={split} {auc:.4f} ... silence-only 0.5000{closing_tag}",
    }


def _write_run(results, name, tests, *, kind="eval_logreg", untrained=False, demo=False, seeds=None):
    run = results / name
    (run / "scores").mkdir(parents=True)
    config = {"format": "run_config", "format_version": 1, "args": {"run": name}, "features": {}}
    (run / "config.json").write_text(json.dumps(config))
    metrics = {"format": "run_metrics", "format_version": 1, "untrained": untrained, "demo": demo, "tests": {}}
    if kind == "fusion":
        metrics["fusion"] = {"systems": ["a", "b"]}
    for label, record in tests.items():
        if seeds is None:
            record = {**record, "untrained": untrained, "demo": demo}
            metrics["tests"][label] = record
            (run / record["score_file"]).write_text(f"{label}_0001 {record['auc']!r}\n")
        else:  # a step-4 run: one record per seed
            metrics["baseline_run"] = str(results / "base")
            metrics["seeds"] = seeds
            per_seed = {}
            for i, seed in enumerate(seeds):
                seeded = {**record, "auc": record["auc"] - 0.01 * i, "score_file": f"scores/{label}.seed{seed}.txt"}
                per_seed[str(seed)] = seeded
                (run / seeded["score_file"]).write_text(f"{label}_0001 {seeded['auc']!r} seed {seed}\n")
            metrics["tests"][label] = {"split": label, "silence_only_auc": 0.5, "per_seed": per_seed}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.fixture
def results(tmp_path):
    results = tmp_path / "results"
    attacks = {
        "A01": {"n_spoof": 40, "n_bonafide": 40, "auc": 0.91, "eer": 0.125},
        "A_2%": {"n_spoof": 1, "n_bonafide": 40, "auc": 0.5, "eer": 0.23},  # one spoof clip: flagged
    }
    codecs = {
        "mp3": {"n_spoof": 30, "n_bonafide": 20, "auc": 0.8, "eer": 0.2},
        "none": {"n_spoof": 10, "n_bonafide": 0, "auc": None, "eer": None},  # one class: left out
    }
    _write_run(
        results,
        "demo_spectral",
        {
            SPLIT_A: _record(
                SPLIT_A, 0.9019, 0.16931, min_tdcf=0.3702, per_attack=attacks, per_condition={"codec": codecs}
            ),
            SPLIT_B: _record(
                SPLIT_B, 0.75, 0.3, n_speakers=3, closing_tag=" [CI over 3 speakers] [70 of 80 trials: too_long 10]"
            ),
        },
        demo=True,
    )
    shortcut = _record(SPLIT_A, 0.6, 0.4, min_tdcf=0.9, per_attack=attacks)
    shortcut["silence_only"] = {"auc": 0.7, "clearly_beaten": False}
    _write_run(
        results,
        "emb_untrained",
        {SPLIT_A: shortcut, SPLIT_B: _record(SPLIT_B, 0.7, 0.35, n_speakers=0)},
        untrained=True,
    )
    _write_run(results, "contrastive", {SPLIT_A: _record(SPLIT_A, 0.95, 0.1, min_tdcf=0.2)}, seeds=[0, 1])
    return results


RUNS = ("demo_spectral", "emb_untrained", "contrastive")


def _make(results, out, capsys, runs=RUNS, *extra):
    rc = make_table(["--runs", *(str(results / r) for r in runs), "--out", str(out), *extra])
    return rc, capsys.readouterr()


@pytest.fixture
def table(results, tmp_path, capsys):
    out = tmp_path / "table"
    rc, printed = _make(results, out, capsys)
    assert rc == 0, printed.err
    return out


def _metrics(results, run):
    return json.loads((results / run / "metrics.json").read_text())


def _at(payload, path):
    for key in path:
        payload = payload[key]
    return payload


def test_csv_cells_are_the_runs_metrics_json_values(results, table):
    rows = list(csv.DictReader((table / "table.csv").open()))
    assert rows
    for row in rows:
        run = row["run"].rsplit("/", 1)[-1]
        value = _at(_metrics(results, run), row["metrics_json_path"].split("/"))
        assert float(row["value"]) == value  # exact: written with repr
    headline = {(r["system"], r["split"], r["metric"]): r for r in rows if r["table"] == "headline"}
    spectral_eer = headline[("demo_spectral", SPLIT_A, "eer")]
    assert float(spectral_eer["ci_low"]) == 0.16931 - 0.0125 and float(spectral_eer["ci_high"]) == 0.16931 + 0.015625
    # a step-4 run is one row per seed, each its seed's record
    assert float(headline[("contrastive seed 1", SPLIT_A, "auc")]["value"]) == pytest.approx(0.94)
    assert ("contrastive seed 0", SPLIT_B, "auc") not in headline  # never tested there


def _markdown_tables(text):
    """{title: [[cells of the heading], [cells of each row] ...]} of the Markdown file."""
    tables, title = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
            tables[title] = []
        elif line.startswith("|") and not line.startswith("|---"):
            tables[title].append([cell.strip() for cell in line.strip("|").split(" | ")])
    return tables


MARKS = re.compile(r" \[([0-9,]+)\]$")


def _plain(cell):
    return MARKS.sub("", cell)


def test_markdown_cells_are_the_values_rounded_as_the_closing_lines_round_them(results, table):
    tables = _markdown_tables((table / "table.md").read_text())
    heading, *rows = tables["Headline: every system on every test split"]
    assert heading == [
        "system",
        f"{SPLIT_A} EER % (95% CI)",
        f"{SPLIT_A} min t-DCF",
        f"{SPLIT_A} ROC-AUC (95% CI)",
        f"{SPLIT_B} EER % (95% CI)",  # no min t-DCF column: no system has ASV scores there
        f"{SPLIT_B} ROC-AUC (95% CI)",
    ]
    by_system = {_plain(row[0]): [_plain(c) for c in row[1:]] for row in rows}
    assert list(by_system) == ["demo_spectral", "emb_untrained", "contrastive seed 0", "contrastive seed 1"]
    for system, run in (("demo_spectral", "demo_spectral"), ("emb_untrained", "emb_untrained")):
        tests = _metrics(results, run)["tests"]
        a, b = tests[SPLIT_A], tests[SPLIT_B]
        expected = [
            f"{100 * a['eer']:.2f} ({100 * a['eer_ci'][0]:.2f}-{100 * a['eer_ci'][1]:.2f})",
            f"{a['min_tdcf']:.4f}",
            f"{a['auc']:.4f} ({a['auc_ci'][0]:.4f}-{a['auc_ci'][1]:.4f})",
            f"{100 * b['eer']:.2f} ({100 * b['eer_ci'][0]:.2f}-{100 * b['eer_ci'][1]:.2f})",
            f"{b['auc']:.4f} ({b['auc_ci'][0]:.4f}-{b['auc_ci'][1]:.4f})",
        ]
        assert by_system[system] == expected
    assert by_system["demo_spectral"][0] == "16.93 (15.68-18.49)"  # one case by hand
    assert by_system["contrastive seed 0"][3:] == ["n/a", "n/a"]


def test_the_manifest_traces_every_cell_to_its_files(results, table):
    manifest = json.loads((table / "table_manifest.json").read_text())
    assert manifest["format"] == "table_manifest" and manifest["format_version"] == 1
    n_csv = sum(1 for _ in csv.DictReader((table / "table.csv").open()))
    assert len(manifest["cells"]) == n_csv
    for cell in manifest["cells"]:
        run = results / cell["run"].rsplit("/", 1)[-1]
        assert cell["config_sha256"] == hashlib.sha256((run / "config.json").read_bytes()).hexdigest()
        assert cell["metrics_sha256"] == hashlib.sha256((run / "metrics.json").read_bytes()).hexdigest()
        assert cell["score_file_sha256"] == hashlib.sha256(open(cell["score_file"], "rb").read()).hexdigest()
        assert _at(_metrics(results, run.name), cell["metrics_json_path"]) == cell["value"]
    seeds = {c["score_file"].rsplit("/", 1)[-1] for c in manifest["cells"] if c["system"].startswith("contrastive")}
    assert seeds == {f"{SPLIT_A}.seed0.txt", f"{SPLIT_A}.seed1.txt"}


def test_latex_escapes_underscores_and_percent_signs(table):
    tex = (table / "table.tex").read_text()
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    for line in body:
        assert not re.search(r"(?<!\\)[_%]", line), line
    assert "demo\\_spectral" in tex and "A\\_2\\%" in tex and "EER \\% (95\\% CI)" in tex
    assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") == 3  # headline, attack and codec of toy_eval


def _footnotes(markdown):
    return dict(re.findall(r"^\[([0-9]+)\] (.+?)  $", markdown, re.M))


def _marks_of(cell):
    match = MARKS.search(cell)
    return set(match.group(1).split(",")) if match else set()


def test_each_caveat_is_a_footnote_on_what_it_concerns(table):
    markdown = (table / "table.md").read_text()
    notes = _footnotes(markdown)
    number = {text: n for n, text in notes.items()}

    def numbered(fragment):
        found = [n for text, n in number.items() if fragment in text]
        assert len(found) == 1, (fragment, notes)
        return found[0]

    demo, untrained = numbered("demo corpus"), numbered("untrained model")
    thin, no_ids = numbered("CI over 3 speakers"), numbered("CI over trials: no speaker ids")
    rejected = numbered("70 of 80 listed trials scored (left out: too_long 10)")
    shortcut = numbered("emb_untrained, test=toy_eval: does not clearly beat the silence-only shortcut")
    rows = {_plain(r[0]): r for r in _markdown_tables(markdown)["Headline: every system on every test split"][1:]}
    spectral, emb = rows["demo_spectral"], rows["emb_untrained"]
    assert demo in _marks_of(spectral[0]) and untrained in _marks_of(emb[0])  # the whole row's
    assert {thin, rejected} <= _marks_of(spectral[4]) and {thin, rejected} <= _marks_of(spectral[5])
    assert not _marks_of(spectral[1])  # the other split's cells carry neither
    assert shortcut in _marks_of(emb[1]) and no_ids in _marks_of(emb[4])
    tex = (table / "table.tex").read_text()
    assert "CI over 3 speakers" in tex and "$^{" in tex
    csv_notes = {r["notes"] for r in csv.DictReader((table / "table.csv").open()) if r["system"] == "emb_untrained"}
    assert any("untrained model" in n for n in csv_notes)


def test_thin_breakdown_rows_are_flagged_and_one_class_rows_left_out(table):
    markdown = (table / "table.md").read_text()
    tables = _markdown_tables(markdown)
    attack = {_plain(r[0]): r for r in tables[f"Per attack, test={SPLIT_A}"][1:]}
    assert attack["A_2%"][1] == "1 / 40" and _marks_of(attack["A_2%"][0])
    assert not _marks_of(attack["A01"][0])
    thin = _footnotes(markdown)[next(iter(_marks_of(attack["A_2%"][0])))]
    assert "1 spoof and 40 bona fide trials" in thin
    codec = tables[f"Per codec, test={SPLIT_A}"]
    assert [_plain(r[0]) for r in codec[1:]] == ["mp3"]
    assert "1 codec value(s) holding only one class left out (no EER or AUC): none." in markdown


def test_existing_tables_need_overwrite_and_bad_runs_are_refused(results, table, tmp_path, capsys):
    rc, printed = _make(results, table, capsys)
    assert rc == 2 and printed.err.startswith("error: ") and "--overwrite" in printed.err
    assert _make(results, table, capsys, RUNS, "--overwrite")[0] == 0
    (tmp_path / "not_a_run").mkdir()
    rc, printed = (
        make_table(["--runs", str(tmp_path / "not_a_run"), "--out", str(tmp_path / "t2")]),
        capsys.readouterr(),
    )
    assert rc == 2 and len(printed.err.strip().splitlines()) == 1 and "has no config.json" in printed.err
    (results / "demo_spectral" / "scores" / f"{SPLIT_A}.txt").unlink()
    rc, printed = _make(results, tmp_path / "t3", capsys)
    assert rc == 2 and "could not be traced" in printed.err
    assert not (tmp_path / "t3" / "table.md").exists()


def test_a_breakdown_whose_every_row_holds_one_class_is_a_note(results, tmp_path, capsys):
    only_one_class = {"faceswap": {"n_spoof": 2, "n_bonafide": 0, "auc": None, "eer": None}}
    record = _record(SPLIT_A, 0.9, 0.1, per_condition={"method": only_one_class})
    _write_run(results, "methods", {SPLIT_A: record})
    rc, printed = _make(results, tmp_path / "t", capsys, ["methods"])
    assert rc == 0, printed.err
    markdown = (tmp_path / "t" / "table.md").read_text()
    assert "## Per method" not in markdown
    assert f"Per method, test={SPLIT_A}: no table, 1 method value(s) holding only one class left out" in markdown


def test_systems_scored_on_other_trials_of_a_split_are_footnoted(results, tmp_path, capsys):
    record = _record(SPLIT_A, 0.9, 0.1)
    record["n_trials"] = 95
    _write_run(results, "more_trials", {SPLIT_A: record})
    rc, printed = _make(results, tmp_path / "t", capsys, ["demo_spectral", "more_trials"])
    assert rc == 0, printed.err
    notes = _footnotes((tmp_path / "t" / "table.md").read_text())
    assert f"test={SPLIT_A}: scored on 95 trials, while the systems of this table scored 80, 95 on it" in " ".join(
        notes.values()
    )


def test_entry_points_and_scripts_call_the_cli_mains():
    import importlib
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    for name, script in (("deepfake-fuse-runs", "fuse_runs.py"), ("deepfake-make-table", "make_table.py")):
        module, function = scripts[name].split(":")
        assert callable(getattr(importlib.import_module(module), function))
        assert f"from {module} import {function}" in (root / script).read_text()


def test_the_headline_is_printed_as_written(results, tmp_path, capsys):
    rc, printed = _make(results, tmp_path / "t", capsys)
    assert rc == 0
    written = (tmp_path / "t" / "table.md").read_text()
    headline = printed.out[: printed.out.index("[make_table] wrote")]
    assert written.startswith(headline.rstrip("\n")) and "## Headline" in headline and "## Per attack" not in headline


def test_a_breakdown_with_min_tdcf_per_row_shows_it(results, tmp_path, capsys):
    codecs = {"mp3": {"n_spoof": 30, "n_bonafide": 20, "auc": 0.8, "eer": 0.2, "min_tdcf": 0.4321}}
    _write_run(results, "tdcf_rows", {SPLIT_A: _record(SPLIT_A, 0.9, 0.1, per_condition={"codec": codecs})})
    rc, printed = _make(results, tmp_path / "t", capsys, ["tdcf_rows"])
    assert rc == 0, printed.err
    heading, row = _markdown_tables((tmp_path / "t" / "table.md").read_text())[f"Per codec, test={SPLIT_A}"]
    assert heading[2:] == ["tdcf_rows EER %", "tdcf_rows min t-DCF", "tdcf_rows ROC-AUC"]
    assert row[2:] == ["20.00", "0.4321", "0.8000"]
