"""The tables of a set of systems, as data the renderers (render.py) write out: the headline
table (rows: systems; per test split, EER and its CI, min t-DCF where a system has one, ROC-AUC
and its CI) and, per test split, one table per breakdown the runs recorded (per attack, per
recording condition), whose rows are the attacks or condition values and whose columns are the
systems' EER and ROC-AUC.

Every cell is a value of a run's metrics.json with the key path it was read at; notes are the
caveats the footnotes print (caveats.py says which), so two cells with the same caveat share one
footnote. Breakdown rows holding one class only are left out and counted in a note; rows resting
on few trials of a class are flagged."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepfake_pipeline.reporting import caveats
from deepfake_pipeline.reporting.runs import System, TestRecord


@dataclass
class Cell:
    system: System
    record: TestRecord
    key: list  # keys below record.record, e.g. ["eer"] or ["per_attack", "A01", "eer"]
    metric: str  # eer, min_tdcf, t_eer, min_a_dcf or auc
    value: float | None
    ci: tuple | None  # (lo, hi), or None where the run recorded none
    ci_key: list | None = None
    notes: list = field(default_factory=list)

    @property
    def json_path(self) -> list:
        return [*self.record.json_path, *self.key]


@dataclass
class Column:
    group: str  # the test split (headline) or the system (breakdowns)
    metric: str
    heading: str


@dataclass
class Row:
    label: str
    cells: list  # aligned with the table's columns; None where the system has no such number
    notes: list = field(default_factory=list)
    counts: str | None = None  # breakdowns: "spoof / bona fide" trials


@dataclass
class Table:
    key: str  # e.g. headline, attack:<split>, codec:<split>
    title: str
    row_heading: str
    columns: list
    rows: list
    split: str | None = None  # the test split a breakdown is of
    notes: list = field(default_factory=list)  # said under the table, not numbered

    @property
    def grouped(self) -> list:
        """(group, number of its columns) in order, for a two-line heading."""
        groups: list = []
        for column in self.columns:
            if groups and groups[-1][0] == column.group:
                groups[-1][1] += 1
            else:
                groups.append([column.group, 1])
        return [tuple(g) for g in groups]


HEADINGS = {
    "eer": "EER % (95% CI)",
    "min_tdcf": "min t-DCF",
    "t_eer": "t-EER %",
    "min_a_dcf": "min a-DCF",
    "auc": "ROC-AUC (95% CI)",
}
# Optional headline columns, shown for a split where any run recorded the number.
OPTIONAL = ("min_tdcf", "t_eer", "min_a_dcf")
TANDEM_NOTE = (
    "t-EER and min a-DCF: point values without an interval, of the CM in tandem with the organisers' ASV "
    "scores on the same trials (ASVspoof 5 package definitions; a-DCF of the score sum CM + ASV)."
)
BREAKDOWN_HEADINGS = {"eer": "EER %", "min_tdcf": "min t-DCF", "auc": "ROC-AUC"}


def test_labels(systems) -> list:
    """The test splits in the order the runs first name them."""
    labels: list = []
    for system in systems:
        labels.extend(label for label in system.tests if label not in labels)
    return labels


def _ci(record: dict, key: str):
    value = record.get(key)
    return None if not value or value[0] is None else (float(value[0]), float(value[1]))


def _headline_cell(system, record: TestRecord, metric: str) -> Cell:
    values = record.record
    ci_key = {"eer": "eer_ci", "auc": "auc_ci"}.get(metric)
    cell = Cell(
        system,
        record,
        [metric],
        metric,
        values.get(metric),
        _ci(values, ci_key) if ci_key else None,
        [ci_key] if ci_key else None,
    )
    if metric == "min_tdcf" and cell.value is None and values.get("min_tdcf_note"):
        cell.notes.append(f"no min t-DCF: {values['min_tdcf_note']}")
    if metric in ("t_eer", "min_a_dcf") and cell.value is None and values.get("tandem_note"):
        cell.notes.append(f"no t-EER or a-DCF: {values['tandem_note']}")
    return cell


def headline(systems) -> Table:
    columns = []
    for label in test_labels(systems):
        columns.append(Column(label, "eer", HEADINGS["eer"]))
        for metric in OPTIONAL:
            if any(label in s.tests and s.tests[label].record.get(metric) is not None for s in systems):
                columns.append(Column(label, metric, HEADINGS[metric]))
        columns.append(Column(label, "auc", HEADINGS["auc"]))
    rows = []
    trials = {
        label: sorted({s.tests[label].record.get("n_trials") for s in systems if label in s.tests} - {None})
        for label in test_labels(systems)
    }
    for system in systems:
        per_split = {label: caveats.of_record(system, record) for label, record in system.tests.items()}
        for label, record in system.tests.items():
            if len(trials[label]) > 1:  # rows on one split that are not on the same trials
                per_split[label].append(caveats.other_trials(label, record.record.get("n_trials"), trials[label]))
        common = [note for note in next(iter(per_split.values())) if all(note in n for n in per_split.values())]
        cells: list = []
        for column in columns:
            record = system.tests.get(column.group)
            if record is None:
                cells.append(None)
                continue
            cell = _headline_cell(system, record, column.metric)
            cell.notes = [n for n in per_split[column.group] if n not in common] + cell.notes
            cells.append(cell)
        rows.append(Row(system.name, cells, notes=common))
    notes = [caveats.EER_CI_NOTE]
    if any(c.metric == "min_tdcf" for c in columns):
        notes.append(caveats.TDCF_NOTE)
    if any(c.metric == "t_eer" for c in columns):
        notes.append(TANDEM_NOTE)
    return Table("headline", "Headline: every system on every test split", "system", columns, rows, notes=notes)


def _breakdown(systems, label: str, key: list, name: str, heading: str) -> Table | None:
    """One breakdown (per attack, or one condition column) of test split `label`."""

    def entries(system):
        record = system.tests.get(label)
        table = record.record if record else None
        for step in key:
            table = (table or {}).get(step)
        return record, table or {}

    having = [s for s in systems if entries(s)[1]]
    if not having:
        return None
    values: list = []
    for system in having:
        values.extend(v for v in entries(system)[1] if v not in values)
    # min t-DCF where a run recorded one per row (from that row's own ASV trials, as the 2021 package does)
    with_tdcf = any((row or {}).get("min_tdcf") is not None for s in having for row in entries(s)[1].values())
    metrics = ("eer", "min_tdcf", "auc") if with_tdcf else ("eer", "auc")
    columns = [Column(s.name, metric, BREAKDOWN_HEADINGS[metric]) for s in having for metric in metrics]
    rows, one_class = [], []
    for value in sorted(values):
        per_system = {s.name: entries(s)[1].get(value) for s in having}
        present = [row for row in per_system.values() if row]
        if all(row.get("auc") is None for row in present):
            one_class.append(value)
            continue
        counts = {(row["n_spoof"], row["n_bonafide"]) for row in present}
        n_spoof, n_bona = min(counts)
        row = Row(value, [], counts=f"{n_spoof} / {n_bona}")
        if len(counts) > 1:
            row.notes.append(caveats.COUNTS_DIFFER)
        if min(n_spoof, n_bona) < caveats.THIN_ROW:
            row.notes.append(caveats.thin_row(n_spoof, n_bona))
        for column in columns:
            system = next(s for s in having if s.name == column.group)
            record, table = entries(system)
            entry = table.get(value)
            if entry is None or entry.get(column.metric) is None:
                row.cells.append(None)
                continue
            row.cells.append(
                Cell(system, record, [*key, value, column.metric], column.metric, entry[column.metric], None)
            )
        rows.append(row)
    notes = [caveats.BREAKDOWN_NOTE]
    if one_class:
        notes.append(caveats.left_out_rows(one_class, heading))
    return Table(f"{name}:{label}", f"Per {heading}, test={label}", heading, columns, rows, split=label, notes=notes)


GRID_NOTE = (
    "Attack x condition, as the ASVspoof 2021 package's table: a cell scores the attack's spoofs with that "
    "condition value against the bona fide trials with it, and its min t-DCF uses the ASV trials of the same "
    "value (the attack's own ASV spoofs); pooled drops that filter. Values from the runs' metrics.json."
)


def _pooled_last(keys) -> list:
    return sorted(k for k in keys if k != "pooled") + (["pooled"] if "pooled" in keys else [])


def _grid(systems, label: str, condition: str) -> Table | None:
    """The attack x `condition` grid of test split `label`: one row per attack, per system and
    condition value its EER and (where recorded) min t-DCF."""

    def grid_of(system):
        record = system.tests.get(label)
        return record, ((record.record.get("condition_grid") or {}).get(condition) if record else None) or {}

    having = [s for s in systems if grid_of(s)[1]]
    if not having:
        return None
    attacks = _pooled_last({a for s in having for a in grid_of(s)[1]})
    values = _pooled_last({v for s in having for row in grid_of(s)[1].values() for v in row})
    cells_of = [cell for s in having for row in grid_of(s)[1].values() for cell in row.values()]
    metrics = ("eer", "min_tdcf") if any(c.get("min_tdcf") is not None for c in cells_of) else ("eer",)
    keyed = [(s, v, Column(s.name, m, f"{v} {BREAKDOWN_HEADINGS[m]}")) for s in having for v in values for m in metrics]
    rows = []
    for attack in attacks:
        row = Row(attack, [])
        for system, value, column in keyed:
            record, grid = grid_of(system)
            entry = (grid.get(attack) or {}).get(value)
            if entry is None or entry.get("eer") is None:
                row.cells.append(None)
                continue
            cell = Cell(
                system,
                record,
                ["condition_grid", condition, attack, value, column.metric],
                column.metric,
                entry.get(column.metric),
                None,
            )
            if min(entry["n_spoof"], entry["n_bonafide"]) < caveats.THIN_ROW:
                cell.notes.append(caveats.thin_row(entry["n_spoof"], entry["n_bonafide"]))
            if column.metric == "min_tdcf" and cell.value is None and entry.get("min_tdcf_note"):
                cell.notes.append(f"no min t-DCF: {entry['min_tdcf_note']}")
            row.cells.append(cell)
        rows.append(row)
    title = f"Attack x {condition}, test={label}"
    columns = [column for *_, column in keyed]
    return Table(f"attack_x_{condition}:{label}", title, "attack", columns, rows, split=label, notes=[GRID_NOTE])


def breakdowns(systems) -> list:
    tables = []
    for label in test_labels(systems):
        table = _breakdown(systems, label, ["per_attack"], "attack", "attack")
        if table is not None:
            tables.append(table)
        columns = []
        for system in systems:
            record = system.tests.get(label)
            for column in (record.record.get("per_condition") or {}) if record else {}:
                if column not in columns:
                    columns.append(column)
        for column in columns:
            table = _breakdown(systems, label, ["per_condition", column], column, column)
            if table is not None:
                tables.append(table)
        grids = []
        for system in systems:
            record = system.tests.get(label)
            grids += [c for c in ((record.record.get("condition_grid") or {}) if record else {}) if c not in grids]
        tables += [t for t in (_grid(systems, label, c) for c in grids) if t is not None]
    return tables


def all_tables(systems) -> list:
    """The headline table, then every breakdown that keeps a row; one whose every row holds a
    single class (FakeAVCeleb's methods: each is bona fide or spoof) is said under the headline."""
    first, kept = headline(systems), []
    for table in breakdowns(systems):
        if table.rows:
            kept.append(table)
        else:
            first.notes.append(f"{table.title}: no table, " + table.notes[-1][0].lower() + table.notes[-1][1:])
    return [first, *kept]


def numbered_notes(tables) -> dict:
    """Footnote text -> its number, in the order the tables first use them."""
    numbers: dict = {}
    for table in tables:
        for row in table.rows:
            for note in [*row.notes, *(n for cell in row.cells if cell for n in cell.notes)]:
                numbers.setdefault(note, len(numbers) + 1)
    return numbers


def notes_of(table, numbers: dict) -> list:
    """(number, text) of the footnotes one table uses, in number order."""
    used = {n for row in table.rows for n in row.notes} | {
        n for row in table.rows for cell in row.cells if cell for n in cell.notes
    }
    return sorted((numbers[n], n) for n in used)
