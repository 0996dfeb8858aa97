"""What step 1 knows of each source file: its size and modification time when it was decoded,
kept in the shard parts for every clip (rejects included) and in the manifest for accepted ones.

A rerun that would reuse a finished split, or resume one, first compares them with the files as
they are now; any difference (a file replaced, edited, touched, deleted, or one that was missing
and now exists) refuses the run, naming the files, since the store would otherwise hold audio
that no longer matches its sources or mix old and new audio in one split.
"""

import os

import pandas as pd

from deepfake_pipeline.formats.manifest import SOURCE_COLUMNS

ABSENT = -1  # size and time recorded for a source that could not be read (missing, broken link)


def source_stat(path) -> dict:
    """The SOURCE_COLUMNS of one file, as it is now (following links)."""
    try:
        stat = os.stat(path)
    except OSError:
        return dict.fromkeys(SOURCE_COLUMNS, ABSENT)
    return {"source_bytes": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}


def _describe(recorded: dict, now: dict) -> str:
    if recorded["source_bytes"] == ABSENT:
        return "was missing, now exists"
    if now["source_bytes"] == ABSENT:
        return "no longer exists"
    if recorded["source_bytes"] != now["source_bytes"]:
        return f"{recorded['source_bytes']:,} -> {now['source_bytes']:,} bytes"
    return "modified since"


def changed_sources(rows: pd.DataFrame) -> list:
    """`(source_path, how)` for each row whose file differs from what was recorded."""
    changed = []
    for path, size, mtime in zip(rows["source_path"], rows["source_bytes"], rows["source_mtime_ns"], strict=True):
        recorded = {"source_bytes": int(size), "source_mtime_ns": int(mtime)}
        now = source_stat(path)
        if now != recorded:
            changed.append((path, _describe(recorded, now)))
    return changed


def changed_message(split_dir, changed: list) -> str:
    shown = "; ".join(f"{path} ({how})" for path, how in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return (
        f"{len(changed)} source file{'s' if len(changed) > 1 else ''} changed since {split_dir} was "
        f"written: {shown}{more}; its store would no longer match its sources: rerun with --overwrite "
        "to decode the corpus again"
    )
