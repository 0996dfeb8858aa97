"""Every file the pipeline writes appears whole or not at all: it is written under a temporary
name in its own folder and renamed into place (a rename within one file system is atomic), so a
run killed at any moment never leaves a half-written file that a rerun could take as finished.

The temporary name carries the writer's PID, so two processes never write the same temporary
file. `on_written`, when given, is called between the write and the rename: the fault-injection
tests kill the process there.

An OSError raised while writing an output carries `pipeline_path`, the output it was writing
(`writing`): that is how the scripts' closing line tells a full disk or an unwritable folder
(cli/common.py) from a file that could not be read. Removing a failed write's temporary file
never replaces the error that stopped the write: on a read-only file system the removal fails
too, and that second error is only noted on the first."""

import contextlib
import os
from pathlib import Path

import numpy as np

TMP_MARK = ".tmp"


def temporary_path(path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")


@contextlib.contextmanager
def writing(path):
    """Mark an OSError raised in the block as one of writing the output `path` (a full disk's
    error names no file, or the temporary one)."""
    try:
        yield
    except OSError as error:
        if not hasattr(error, "pipeline_path"):
            error.pipeline_path = str(path)  # type: ignore[attr-defined]
        raise


def make_dirs(folder) -> Path:
    """`folder` and its parents, as outputs (`writing`)."""
    with writing(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def discard_temporary(tmp: Path, error: BaseException) -> None:
    """Remove the temporary file of a write that failed with `error`; should that fail too (a
    read-only file system refuses even to remove a name that is not there), note it on `error`,
    which stays the one raised."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError as cleanup:
        error.add_note(f"the temporary file {tmp} could not be removed either: {cleanup}")


@contextlib.contextmanager
def atomic_path(path, on_written=None):
    """Yield a temporary path to write; rename it to `path` when the block ends without error,
    delete it when the block fails."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with writing(path):
            yield tmp
    except BaseException as error:
        discard_temporary(tmp, error)
        raise
    if on_written is not None:
        on_written()
    try:
        with writing(path):
            os.replace(tmp, path)
    except OSError as error:
        discard_temporary(tmp, error)
        raise


def write_text(path, text: str, on_written=None) -> Path:
    with atomic_path(path, on_written) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path, data: bytes, on_written=None) -> Path:
    with atomic_path(path, on_written) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_csv(frame, path, on_written=None) -> Path:
    """A pandas DataFrame as CSV without its index."""
    with atomic_path(path, on_written) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def save_npy(path, array, on_written=None) -> Path:
    # Through a handle: np.save given a name without `.npy` would append the suffix itself.
    with atomic_path(path, on_written) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    return Path(path)


def remove_stale_temporaries(folder) -> None:
    """Delete the temporary files that killed runs left in `folder`."""
    for stale in Path(folder).glob(f"*{TMP_MARK}*"):
        if stale.is_file():
            with writing(stale):
                stale.unlink(missing_ok=True)
