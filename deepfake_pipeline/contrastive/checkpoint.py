"""Checkpoints of a training run: written to a temporary file and renamed, so a run killed at
any moment leaves either the previous checkpoint or the new one, never half of one.

Read with `weights_only=True`: torch's restricted unpickler, which builds tensors, containers and
plain values only. A checkpoint naming any other object (a class, a function to call) is
refused, not run, like a damaged one: results/<run>/ folders are handed between people."""

import re
from pathlib import Path

import torch

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(PipelineError, RuntimeError):
    """A checkpoint that cannot be resumed; the message says what to do."""


def save_checkpoint(path, payload: dict) -> None:
    path = Path(path)
    atomic.make_dirs(path.parent)
    # Through a Python file: torch.save given a name opens and writes it in C++, where a full disk
    # or an unwritable folder is a RuntimeError, not the OSError the closing line reads.
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, handle)


def _why_unreadable(error: Exception) -> str:
    # torch's own message runs to a paragraph and suggests weights_only=False, exactly what must
    # not be done with a file from someone else: keep the object it refused, or its first clause.
    text = str(error)
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if refused:
        return f"it names {refused.group(1)}"
    first = text.strip().split(". ")[0].strip()
    return first or type(error).__name__


def load_checkpoint(path, config: dict) -> dict | None:
    """The checkpoint at `path`, or None when there is none. A checkpoint written under another
    configuration is refused: resuming it would silently mix two experiments."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle.UnpicklingError for a foreign object, RuntimeError/EOFError when cut
        raise CheckpointMismatch(
            f"{path} is damaged or holds more than tensors and plain values ({_why_unreadable(error)}); it was "
            "not loaded: delete it to train that seed afresh, or rerun with --overwrite"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or payload.get("config") != config:
        raise CheckpointMismatch(
            f"{path} was written by a run with a different configuration; "
            "pick another --run name, or delete the checkpoint to start this run afresh"
        )
    return payload
