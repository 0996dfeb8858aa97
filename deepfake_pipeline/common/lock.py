"""One run per output folder: a lock file beside the folder names the PID and host of the run
that writes it. A second run on the same output stops at once, naming the holder; a lock left by
a process that is gone (killed, crashed, a rebooted machine) is taken over with a note.

The lock lies beside the folder (`<folder>.lock`), not inside it: `--overwrite` deletes the
folder, and the folder's own files are what the resume and integrity checks read."""

import contextlib
import os
import socket
from pathlib import Path

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError


class LockHeld(PipelineError, RuntimeError):
    """Another live run holds the lock; the message names it and says what to do."""


def lock_path_for(folder) -> Path:
    folder = Path(folder)
    return folder.with_name(f"{folder.name}.lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    # A zombie (dead, not yet reaped by its parent) has stopped writing too.
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
    return True


def _read_holder(path: Path):
    """(pid, host) named by the lock file, or None when it is gone or unreadable (damaged: it is
    created whole)."""
    try:
        pid, host = path.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _try_create(path: Path, content: str) -> bool:
    """Create the lock whole or not at all: written under a temporary name, then hard-linked to
    its name, which fails when the name exists (atomic, unlike a rename, which would replace it)."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(content)
    except OSError as error:  # a full disk or an unwritable folder
        atomic.discard_temporary(tmp, error)
        raise
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: an exclusive create
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
    finally:
        tmp.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def output_lock(folder, what: str = "this output", note=None):
    """Hold the lock of `folder` for the duration of the block. `note(line)` is told when a dead
    holder's lock is taken over."""
    folder = Path(folder)
    path = lock_path_for(folder)
    atomic.make_dirs(path.parent)
    me = (os.getpid(), socket.gethostname())
    content = f"{me[0]} {me[1]}\n"
    for _ in range(3):
        with atomic.writing(path):
            created = _try_create(path, content)
        if created:
            break
        holder = _read_holder(path)
        if holder is not None and holder[1] != me[1]:
            raise LockHeld(
                f"{what} is locked by PID {holder[0]} on host {holder[1]} ({path}): wait for that run to finish, "
                f"or, if it is no longer running, delete {path} and rerun the same command"
            )
        if holder is not None and holder[0] != me[0] and _pid_alive(holder[0]):
            raise LockHeld(
                f"{what} is being written by another run, PID {holder[0]} ({path}): wait for it to finish "
                f"or stop it (kill {holder[0]}), then rerun the same command"
            )
        if note is not None and holder is not None:
            note(f"took over the lock {path} of PID {holder[0]}, which is no longer running")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        raise LockHeld(f"could not take the lock {path}: delete it if no run is writing {what}, then rerun")
    try:
        yield path
    finally:
        if _read_holder(path) == me:
            with contextlib.suppress(OSError):
                os.unlink(path)
