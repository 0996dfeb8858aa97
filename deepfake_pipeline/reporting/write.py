"""make_table.py's outputs in `--out DIR`: table.md, table.tex, table.csv and table_manifest.json,
which names for each cell the run folder, the SHA-256 of its config.json and metrics.json, the
key path of the value inside metrics.json, and the score file the run computed it from with that
file's SHA-256, so that a reader can trace any number back to the trials it rests on.

The manifest is written last: a folder holding tables without it is an unfinished write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deepfake_pipeline.common import atomic
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.run_dir import write_json
from deepfake_pipeline.reporting import render
from deepfake_pipeline.reporting.runs import read_all
from deepfake_pipeline.reporting.tables import all_tables, numbered_notes

OUTPUTS = ("table.md", "table.tex", "table.csv", "table_manifest.json")


def preamble(systems) -> list:
    runs = sorted({str(s.run) for s in systems})
    lines = [
        f"Tables of {len(systems)} system(s) from {len(runs)} run folder(s), made by make_table.py; every value "
        "is read from its run's metrics.json and traced, cell by cell, in table_manifest.json."
    ]
    if any(r.untrained for s in systems for r in s.tests.values()):
        lines.append(
            "NOTE: some rows rest on an UNTRAINED model: their numbers are a smoke test, not a detection result."
        )
    if any(r.demo for s in systems for r in s.tests.values()):
        lines.append(
            "NOTE: some rows come from the generated demo corpus: they say nothing about real spoofing attacks."
        )
    return lines


def manifest(tables, numbers: dict, systems) -> dict:
    cells = []
    for table in tables:
        for row in table.rows:
            for cell in row.cells:
                if cell is None:
                    continue
                system, record = cell.system, cell.record
                cells.append(
                    {
                        "table": table.key,
                        "system": system.name,
                        "split": record.label,
                        "row": None if table.key == "headline" else row.label,
                        "metric": cell.metric,
                        "value": cell.value,
                        "ci": list(cell.ci) if cell.ci else None,
                        "metrics_json_path": cell.json_path,
                        "ci_json_path": [*record.json_path, *cell.ci_key] if cell.ci_key and cell.ci else None,
                        "footnotes": [numbers[n] for n in [*row.notes, *cell.notes]],
                        "run": str(system.run),
                        "config_sha256": system.config_sha256,
                        "metrics_sha256": system.metrics_sha256,
                        "score_file": str(system.run / record.score_file),
                        "score_file_sha256": record.score_sha256,
                    }
                )
    return versions.stamp(
        "table_manifest",
        {
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "systems": [
                {
                    "system": s.name,
                    "kind": s.kind,
                    "run": str(s.run),
                    "config_sha256": s.config_sha256,
                    "metrics_sha256": s.metrics_sha256,
                }
                for s in systems
            ],
            "footnotes": {str(n): text for text, n in numbers.items()},
            "cells": cells,
        },
    )


def existing_outputs(out_dir) -> list:
    return [name for name in OUTPUTS if (Path(out_dir) / name).exists()]


def write_tables(run_paths, out_dir) -> tuple:
    """Read the runs, write the four files; returns ({file name: path}, the headline table and its
    notes in Markdown, for the command to print)."""
    systems = read_all(run_paths)
    tables = all_tables(systems)
    numbers = numbered_notes(tables)
    out_dir = atomic.make_dirs(Path(out_dir))
    lines = preamble(systems)
    written = {
        "table.md": atomic.write_text(out_dir / "table.md", render.markdown(tables, numbers, lines)),
        "table.tex": atomic.write_text(out_dir / "table.tex", render.latex(tables, numbers, lines)),
        "table.csv": atomic.write_text(out_dir / "table.csv", render.csv_text(tables, numbers)),
    }
    write_json(out_dir / "table_manifest.json", manifest(tables, numbers, systems))
    written["table_manifest.json"] = out_dir / "table_manifest.json"
    return written, render.markdown(tables[:1], numbers, lines)
