"""Per-condition and per-attack min t-DCF, and the attack x condition grid, as the ASVspoof 2021
evaluation package (``eval-package/main.py``) computes them.

The package fills one table whose rows are attacks (plus ``Pooled``) and whose columns are the
values of one condition (LA: ``codec``; plus ``Pooled``). In cell (attack a, value c):

- CM: bona fide trials with ``c``; spoof trials of attack ``a`` with ``c``.
- ASV: target and nontarget trials with ``c``; spoof trials of attack ``a`` with ``c``. The ASV
  operating point is the EER threshold of that cell's target vs nontarget trials, so each
  condition has its own C0, C1, C2 (``compute_tDCF_C012``).
- ``Pooled`` drops the filter: the pooled row is the per-condition number, the pooled column the
  per-attack one (all bona fide and all target/nontarget, the attack's spoofs).
- A cell lacking a CM class or an ASV class gets NaN.

A condition that only spoofs have (``vocoder``) filters only the spoofs, on both sides, as the
package's ``spoof`` factor type does. Where the ASV scores carry no trials table (ASVspoof 2019
score files hold no conditions) or lack the column, the condition's min t-DCF is None with a
note: pooling the whole split's ASV scores would give each condition the wrong operating point.
"""

from __future__ import annotations

import numpy as np

from deepfake_pipeline.evaluation import tdcf
from deepfake_pipeline.evaluation.closing import FEW_TRIALS
from deepfake_pipeline.formats.labels import BONAFIDE

POOLED = "pooled"
SPOOF_ONLY_CONDITIONS = ("vocoder", "attack_tag")  # as field_metrics: they hold for spoofs only
NO_ASV = "no ASV scores for this corpus split"
ONE_CLASS = "one CM class only"


def no_trials_note(version: str, column: str) -> str:
    return (
        f"the {version} ASV scores list no trials with conditions, so no {column} operating point "
        "of the ASV can be formed (not pooled over the split)"
    )


class _PreparedASV:
    """The ASV trials as arrays, converted once per table: a grid of the 2021 LA eval split asks
    ~100 cells of ~1M ASV trials, and converting per cell took a minute."""

    def __init__(self, asv):
        self.scores, self.version = asv
        self.trials = self.scores.trials
        self._columns: dict = {}
        if self.trials is not None:
            self.score = self.trials["score"].to_numpy(dtype=np.float64)

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            self._columns[name] = self.trials[name].to_numpy().astype(str)
        return self._columns[name]

    def where(self, name: str, value) -> np.ndarray:
        """Mask of the trials whose `name` is `value`, kept for the other cells of its row."""
        if (name, value) not in self._columns:
            self._columns[name, value] = self.column(name) == str(value)
        return self._columns[name, value]


def _prepared(asv):
    return asv if asv is None or isinstance(asv, _PreparedASV) else _PreparedASV(asv)


def _asv_classes(asv, column=None, value=None, attack=None):
    """(target, nontarget, spoof) ASV scores of one cell, or a note saying why there are none."""
    if asv is None:
        return NO_ASV
    if column is None:
        scores = asv.scores
        spoof = scores.spoof if attack is None else scores.spoof[scores.spoof_attack == attack]
        classes = (scores.target, scores.nontarget, spoof)
    else:
        if asv.trials is None:
            return no_trials_note(asv.version, column)
        if column not in asv.trials.columns:
            return f"the ASV trials have no {column} column (not pooled over the split)"
        score, match = asv.score, asv.where(column, value)
        shared = np.ones(score.size, bool) if column in SPOOF_ONLY_CONDITIONS else match
        spoof = asv.where("key", "spoof") & match
        if attack is not None:
            spoof &= asv.where("attack", attack)
        target, nontarget = asv.where("key", "target") & shared, asv.where("key", "nontarget") & shared
        classes = (score[target], score[nontarget], score[spoof])
    missing = [name for name, part in zip(("target", "nontarget", "spoof"), classes, strict=True) if part.size == 0]
    if missing:
        return f"no ASV {' or '.join(missing)} trials in this cell"
    return classes


def cell_metrics(labels, scores, attacks=None, values=None, column=None, asv=None, attack=None, value=None) -> dict:
    """EER (official) and min t-DCF of one cell; ``attack``/``value`` None pool over that axis.
    ``asv``: (ASVScores, "2019" | "2021"), or None."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    is_bona = labels == BONAFIDE
    bona, spoof = is_bona.copy(), ~is_bona
    if attack is not None:
        spoof &= np.asarray(attacks).astype(str) == attack
    if value is not None:
        match = np.asarray(values).astype(str) == str(value)
        spoof &= match
        if column not in SPOOF_ONLY_CONDITIONS:
            bona &= match
    n_bona, n_spoof = int(bona.sum()), int(spoof.sum())
    row: dict = {"n_bonafide": n_bona, "n_spoof": n_spoof, "eer": None, "min_tdcf": None, "min_tdcf_note": None}
    if not (n_bona and n_spoof):
        row["min_tdcf_note"] = ONE_CLASS
        return row
    row["eer"] = tdcf.official_eer_from_classes(scores[bona], scores[spoof]).eer
    asv = _prepared(asv)
    classes = _asv_classes(asv, None if value is None else column, value, attack)
    if isinstance(classes, str):
        row["min_tdcf_note"] = classes
        return row
    compute = tdcf.min_tdcf_2019 if asv.version == "2019" else tdcf.min_tdcf_2021
    try:
        row["min_tdcf"] = compute(scores[bona], scores[spoof], *classes).min_tdcf
    except ValueError as error:  # soft scores or a degenerate ASV operating point
        row["min_tdcf_note"] = str(error)
    return row


def min_tdcf_fields(cell: dict) -> dict:
    return {"min_tdcf": cell["min_tdcf"], "min_tdcf_note": cell["min_tdcf_note"]}


def per_condition_tdcf(labels, scores, values, column: str, asv) -> dict:
    """{value: {"min_tdcf", "min_tdcf_note"}}: the pooled row of the package's table, one
    condition value at a time, from that value's own CM and ASV trials."""
    labels, asv = np.asarray(labels), _prepared(asv)
    values = np.asarray(values).astype(str)
    present = values[labels != BONAFIDE] if column in SPOOF_ONLY_CONDITIONS else values
    return {
        value: min_tdcf_fields(cell_metrics(labels, scores, None, values, column, asv, value=value))
        for value in sorted(set(present))
    }


def per_attack_tdcf(labels, scores, attacks, asv) -> dict:
    """{attack: {"min_tdcf", "min_tdcf_note"}}: the pooled column of the package's table (all
    bona fide and ASV target/nontarget trials, the attack's own CM and ASV spoofs)."""
    labels, asv = np.asarray(labels), _prepared(asv)
    attacks = np.asarray(attacks).astype(str)
    return {
        attack: min_tdcf_fields(cell_metrics(labels, scores, attacks, None, None, asv, attack=attack))
        for attack in sorted(set(attacks[labels != BONAFIDE]))
    }


def condition_grid(labels, scores, attacks, values, column: str, asv) -> dict:
    """{attack or POOLED: {value or POOLED: cell}} for a condition both classes have; each cell
    as :func:`cell_metrics`."""
    if column in SPOOF_ONLY_CONDITIONS:
        raise ValueError(f"{column} holds for spoofs only: its grid with the attacks is not a grid")
    labels, asv = np.asarray(labels), _prepared(asv)
    attacks, values = np.asarray(attacks).astype(str), np.asarray(values).astype(str)
    rows = [*sorted(set(attacks[labels != BONAFIDE])), None]
    columns = [*sorted(set(values)), None]
    return {
        POOLED if a is None else a: {
            POOLED if v is None else v: cell_metrics(labels, scores, attacks, values, column, asv, a, v)
            for v in columns
        }
        for a in rows
    }


def condition_grids(labels, scores, attacks, conditions: dict, asv) -> dict:
    """{column: grid} for each condition column both classes have, when there are attacks."""
    if attacks is None or not conditions:
        return {}
    return {
        column: condition_grid(labels, scores, attacks, values, column, asv)
        for column, values in conditions.items()
        if column not in SPOOF_ONLY_CONDITIONS
    }


def _cell_text(cell: dict) -> str:
    if cell["eer"] is None:
        return ""
    tdcf_text = "n/a" if cell["min_tdcf"] is None else f"{cell['min_tdcf']:.4f}"
    thin = "*" if min(cell["n_bonafide"], cell["n_spoof"]) < FEW_TRIALS else ""
    return f"{100 * cell['eer']:.2f}/{tdcf_text}{thin}"


def grid_lines(grid: dict, column: str, title: str) -> list:
    """The grid as printed lines: rows attacks, columns the condition's values, cells
    "EER %/min t-DCF"; thin cells starred, one-class cells blank, both counted below."""
    values = list(next(iter(grid.values())))
    texts = {attack: [_cell_text(row[v]) for v in values] for attack, row in grid.items()}
    width = max(12, *(len(t) for row in texts.values() for t in row), *(len(v) for v in values))
    lines = [title, f"  {'attack':<10} " + " ".join(f"{v:>{width}}" for v in values)]
    lines += [f"  {attack:<10} " + " ".join(f"{t:>{width}}" for t in row) for attack, row in texts.items()]
    cells = [cell for row in grid.values() for cell in row.values()]
    thin = sum(1 for c in cells if c["eer"] is not None and min(c["n_bonafide"], c["n_spoof"]) < FEW_TRIALS)
    blank = sum(1 for c in cells if c["eer"] is None)
    if thin:
        lines.append(f"  (* {thin} cell(s) rest on fewer than {FEW_TRIALS} trials of a class: too few to quote)")
    if blank:
        lines.append(f"  ({blank} cell(s) left blank: one class only, no EER or min t-DCF)")
    notes = sorted({c["min_tdcf_note"] for c in cells if c["eer"] is not None and c["min_tdcf_note"]})
    lines += [f"  (min t-DCF n/a: {note})" for note in notes]
    return lines
