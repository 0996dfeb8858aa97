"""Parsers that turn a corpus on disk into lists of clips to ingest, one list per split."""

import re
from pathlib import Path

from deepfake_pipeline.common.errors import InputError, PipelineError

DEMO_MARKER = "DEMO_CORPUS.txt"


class CorpusLayoutError(PipelineError, FileNotFoundError):
    """The corpus is not where or how the user said: the message names the expected layout."""


def is_demo_root(root) -> bool:
    """The generated demo corpus leaves a marker at its root; results from it must say so."""
    root = Path(root).resolve()
    return any((folder / DEMO_MARKER).is_file() for folder in [root, *list(root.parents)[:2]])


def safe_id(text: str) -> str:
    """Score files are `utt_id score` lines, so an id must not hold whitespace or separators."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "clip"


def read_csv_strings(path, **options):
    """A user's CSV as strings ("-" and "NA" stay text). One pandas cannot parse (no header,
    unbalanced quotes, not text) is an InputError naming the file: pandas' own message does not."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"{path} cannot be read as a CSV ({error})") from None


def text_lines(path) -> list:
    """The lines of a user's text file (a protocol, a key file); one that is not text is an
    InputError naming it."""
    try:
        return Path(path).read_text().splitlines()
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a text file ({error})") from None
