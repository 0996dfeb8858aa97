"""Parsers that turn a corpus on disk into lists of clips to ingest, one list per split."""

import re
from pathlib import Path

from deepfake_pipeline.common.errors import PipelineError

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
