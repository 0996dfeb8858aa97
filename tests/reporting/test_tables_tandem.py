"""The headline table gets t-EER and min a-DCF columns for a test split where any run recorded
them, with the run's reason as a footnote where another run has none, and none at all where no
run has them."""

from pathlib import Path

from deepfake_pipeline.reporting import render, runs, tables


def _record(label, **values):
    record = {"auc": 0.9, "auc_ci": [0.85, 0.95], "eer": 0.1, "eer_ci": [0.08, 0.12], "n_speakers": 30}
    record.update(values)
    return runs.TestRecord(label, label, record, ["tests", label], f"scores/{label}.txt", "0" * 64)


def _system(name, records):
    return runs.System(name, Path(name), "eval_logreg", "0" * 64, "0" * 64, {r.label: r for r in records})


def test_tandem_columns_only_where_a_run_has_them():
    with_asv = _system(
        "a",
        [
            _record("la21_eval", min_tdcf=0.31, t_eer=0.0412, min_a_dcf=0.1234, tandem_note=None),
            _record(
                "wild", min_tdcf=None, t_eer=None, min_a_dcf=None, tandem_note="no ASV scores for this corpus split"
            ),
        ],
    )
    no_join = _system("b", [_record("la21_eval", min_tdcf=0.35, t_eer=None, min_a_dcf=None, tandem_note="ids differ")])
    table = tables.headline([with_asv, no_join])
    assert [(c.group, c.metric) for c in table.columns] == [
        ("la21_eval", "eer"),
        ("la21_eval", "min_tdcf"),
        ("la21_eval", "t_eer"),
        ("la21_eval", "min_a_dcf"),
        ("la21_eval", "auc"),
        ("wild", "eer"),
        ("wild", "auc"),
    ]
    a, b = table.rows
    assert [a.cells[2].value, a.cells[3].value] == [0.0412, 0.1234]
    assert [b.cells[2].value, b.cells[3].value] == [None, None]
    assert b.cells[2].notes == ["no t-EER or a-DCF: ids differ"] == b.cells[3].notes
    assert tables.TANDEM_NOTE in table.notes
    # t-EER printed in percent like the EER, a-DCF as a cost
    assert render.cell_text(a.cells[2]) == "4.12" and render.cell_text(a.cells[3]) == "0.1234"


def test_no_tandem_columns_when_no_run_has_them():
    table = tables.headline([_system("a", [_record("la19_eval", min_tdcf=0.3, t_eer=None, min_a_dcf=None)])])
    assert [c.metric for c in table.columns] == ["eer", "min_tdcf", "auc"]
    assert tables.TANDEM_NOTE not in table.notes
