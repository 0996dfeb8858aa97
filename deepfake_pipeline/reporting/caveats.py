"""The caveats a table's footnotes carry: what the runs themselves said about each number (the
tags of their closing lines: untrained model, demo corpus, a CI over few speakers, trials listed
but not scored; the silence-only shortcut warnings), and what the table adds about its own rows
(few trials of a class, rows left out). Each text names what it is about, so that one footnote can
serve every cell it applies to."""

from __future__ import annotations

import re

from deepfake_pipeline.evaluation.closing import FEW_SPEAKERS

# A breakdown row with fewer trials than this of a class is flagged: its EER moves by steps of
# 1/n or more, and an attack with one spoof clip reads 23 % official, 46 % interpolated.
THIN_ROW = 5

UNTRAINED = "untrained model: not a detection result"
DEMO = "demo corpus: generated audio, these numbers say nothing about real spoofing attacks"
NO_CI = "no confidence interval: the run was made with --n-boot 0"
NO_SPEAKERS = "CI over trials: no speaker ids, so clips of one speaker were resampled as if independent"
COUNTS_DIFFER = "the systems scored different numbers of these trials: the smallest counts are shown"
EER_CI_NOTE = (
    "EER: the official ASVspoof EER, in %; its 95% CI is the speaker-clustered bootstrap interval of the "
    "interpolated EER (within half a step of the official one), as the runs' closing lines give it."
)
TDCF_NOTE = "min t-DCF: the runs record a point value only, without an interval."
BREAKDOWN_NOTE = (
    "Each attack's (or spoof-only condition's) spoofed trials are scored against all bona fide trials of the "
    "split; other conditions on their own trials. Values from the runs' metrics.json, without intervals."
)

# The closing lines' `[N of M trials: reason count, ...]`: trials the corpus listed but the run did
# not score (step 1's rejects, copies left out).
_TRIALS_TAG = re.compile(r"\[(\d+) of (\d+) trials: ([^\]]+)\]")


def thin_ci(n_speakers: int) -> str:
    return f"CI over {n_speakers} speakers: too few clusters to trust the interval"


def other_trials(label: str, n_trials, counts: list) -> str:
    return (
        f"test={label}: scored on {n_trials} trials, while the systems of this table scored "
        f"{', '.join(map(str, counts))} on it: not the same trials (another manifest, --keep-duplicates?)"
    )


def thin_row(n_spoof: int, n_bona: int) -> str:
    return (
        f"rests on {n_spoof} spoof and {n_bona} bona fide trials (fewer than {THIN_ROW} of a class): "
        "the EER moves by large steps"
    )


def left_out_rows(values: list, heading: str) -> str:
    shown = ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
    return f"{len(values)} {heading} value(s) holding only one class left out (no EER or AUC): {shown}."


def trials_tag(closing_line: str | None) -> str | None:
    """The run's own words on trials it did not score, from its closing line."""
    match = _TRIALS_TAG.search(closing_line or "")
    if match is None:
        return None
    scored, listed, reasons = match.groups()
    return f"{scored} of {listed} listed trials scored (left out: {reasons})"


def of_record(system, record) -> list:
    """The caveats of one system's numbers on one test split, in a fixed order."""
    values = record.record
    notes = []
    if record.untrained:
        notes.append(UNTRAINED)
    if record.demo:
        notes.append(DEMO)
    if values.get("auc_ci") is None:
        notes.append(NO_CI)
    elif values.get("n_speakers") is not None and values["n_speakers"] < FEW_SPEAKERS:
        notes.append(NO_SPEAKERS if values["n_speakers"] == 0 else thin_ci(values["n_speakers"]))
    tag = trials_tag(values.get("closing_line"))
    if tag:
        notes.append(f"test={record.label}: {tag}")
    notes.extend(f"{system.name}, test={record.label}: {warning}" for warning in record.shortcut)
    return notes
