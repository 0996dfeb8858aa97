"""Checkpoints of a training run: written to a temporary file and renamed, so a run killed at
any moment leaves either the previous checkpoint or the new one, never half of one."""

from pathlib import Path

import torch

from deepfake_pipeline.common import atomic

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(RuntimeError):
    pass


def save_checkpoint(path, payload: dict) -> None:
    path = Path(path)
    atomic.make_dirs(path.parent)
    # Through a Python file: torch.save given a name opens and writes it in C++, where a full disk
    # or an unwritable folder is a RuntimeError, not the OSError the closing line reads.
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, handle)


def load_checkpoint(path, config: dict) -> dict | None:
    """The checkpoint at `path`, or None when there is none. A checkpoint written under another
    configuration is refused: resuming it would silently mix two experiments."""
    path = Path(path)
    if not path.is_file():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("config") != config:
        raise CheckpointMismatch(
            f"{path} was written by a run with a different configuration; "
            "pick another --run name, or delete the checkpoint to start this run afresh")
    return payload
