"""The tables written out: Markdown and LaTeX for reading (values rounded as the closing lines
round them, footnote numbers in brackets / superscripts, each table followed by the notes it
uses), CSV for computing (one row per cell, the exact values of metrics.json: EER as a fraction,
as the runs store it).

LaTeX: a `table` float per table with a booktabs `tabular` (\\usepackage{booktabs}); every text
from a run (system names, split ids, attack names, notes) is escaped, so `_` and `%` print as
themselves."""

from __future__ import annotations

import csv
import io
import re

from deepfake_pipeline.reporting.tables import notes_of

MISSING = "n/a"
_DIGITS = {"eer": 2, "auc": 4, "min_tdcf": 4, "t_eer": 2, "min_a_dcf": 4}
_PERCENT = ("eer", "t_eer")


def number(metric: str, value: float) -> str:
    """A value as the closing lines print it: EER in % with 2 decimals, AUC and t-DCF with 4."""
    return f"{100 * value if metric in _PERCENT else value:.{_DIGITS[metric]}f}"


def cell_text(cell) -> str:
    if cell is None or cell.value is None:
        return MISSING
    text = number(cell.metric, cell.value)
    if cell.ci is not None:
        text += f" ({number(cell.metric, cell.ci[0])}-{number(cell.metric, cell.ci[1])})"
    return text


def _marks(notes, numbers, style: str) -> str:
    if not notes:
        return ""
    ids = ",".join(str(n) for n in sorted({numbers[note] for note in notes}))
    return f" [{ids}]" if style == "md" else f"$^{{{ids}}}$"


# ----------------------------------------------------------------------------- Markdown


def _md_escape(text: str) -> str:
    # `_` inside words is no emphasis in GitHub's Markdown: split ids stay as they are typed
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


def markdown(tables, numbers: dict, preamble: list) -> str:
    out = [*preamble, ""]
    for table in tables:
        out.append(f"## {_md_escape(table.title)}")
        out.append("")
        counts = any(row.counts for row in table.rows)
        head = [table.row_heading] + (["spoof / bona fide"] if counts else [])
        head += [f"{column.group} {column.heading}" for column in table.columns]
        out.append("| " + " | ".join(_md_escape(h) for h in head) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for row in table.rows:
            cells = [_md_escape(row.label) + _marks(row.notes, numbers, "md")]
            cells += [row.counts or ""] if counts else []
            cells += [cell_text(c) + (_marks(c.notes, numbers, "md") if c else "") for c in row.cells]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        for note in table.notes:
            out.append(_md_escape(note))
            out.append("")
        for n, text in notes_of(table, numbers):
            out.append(f"[{n}] {_md_escape(text)}  ")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIAL))


def latex_escape(text) -> str:
    """`text` as LaTeX prints it literally (one pass, so an escape is never escaped again)."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], str(text))


def latex(tables, numbers: dict, preamble: list) -> str:
    out = [f"% {line}" for line in preamble] + ["% needs \\usepackage{booktabs}", ""]
    for table in tables:
        counts = any(row.counts for row in table.rows)
        lead = 2 if counts else 1
        out += ["\\begin{table}[htbp]", "\\centering", "\\small"]
        out.append(f"\\caption{{{latex_escape(table.title)}}}")
        out.append("\\begin{tabular}{" + "l" * lead + "r" * len(table.columns) + "}")
        out.append("\\toprule")
        groups = " & ".join(f"\\multicolumn{{{width}}}{{c}}{{{latex_escape(group)}}}" for group, width in table.grouped)
        out.append(" & " * lead + groups + " \\\\")
        first = lead + 1
        rules = []
        for _, width in table.grouped:
            rules.append(f"\\cmidrule(lr){{{first}-{first + width - 1}}}")
            first += width
        out.append(" ".join(rules))
        head = [latex_escape(table.row_heading)] + (["spoof / bona fide"] if counts else [])
        head += [latex_escape(column.heading) for column in table.columns]
        out.append(" & ".join(head) + " \\\\")
        out.append("\\midrule")
        for row in table.rows:
            cells = [latex_escape(row.label) + _marks(row.notes, numbers, "tex")]
            cells += [latex_escape(row.counts or "")] if counts else []
            cells += [latex_escape(cell_text(c)) + (_marks(c.notes, numbers, "tex") if c else "") for c in row.cells]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", ""]
        out.append("\\par\\footnotesize")
        for note in table.notes:
            out.append(latex_escape(note) + "\\par")
        for n, text in notes_of(table, numbers):
            out.append(f"$^{{{n}}}$ {latex_escape(text)}\\par")
        out += ["\\end{table}", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "table",
    "system",
    "split",
    "row",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "notes",
    "run",
    "metrics_json_path",
)


def _exact(value) -> str:
    return "" if value is None else repr(float(value))


def csv_text(tables, numbers: dict) -> str:
    """One line per cell: the exact metrics.json values (EER a fraction), its footnotes' texts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for row in table.rows:
            for cell in row.cells:
                if cell is None:
                    continue
                notes = [*row.notes, *cell.notes]
                writer.writerow(
                    [
                        table.key,
                        cell.system.name,
                        cell.record.label,
                        "" if table.key == "headline" else row.label,
                        cell.metric,
                        _exact(cell.value),
                        _exact(cell.ci[0] if cell.ci else None),
                        _exact(cell.ci[1] if cell.ci else None),
                        " | ".join(f"[{numbers[n]}] {n}" for n in notes),
                        str(cell.system.run),
                        "/".join(map(str, cell.json_path)),
                    ]
                )
    return buffer.getvalue()
