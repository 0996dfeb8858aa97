"""Pool workers end when the run that started them dies.

joblib's loky workers (loky 3.6 in joblib 1.5) do not watch their parent: after a `kill -9` of
the run they carry on with the batch in hand and the calls already queued, writing shards for
30 s and more into a folder that a rerun may already be working in. A worker loop calls
`exit_if_orphaned(parent_pid)` between items: once its parent is gone the process has been
re-parented (to init or a subreaper), and it ends at once. Nothing is lost: every file is written
atomically, and the rerun redoes the unfinished shard."""

import os


def exit_if_orphaned(parent_pid: int) -> None:
    """End this process when it is a worker of `parent_pid` and that parent has died. A no-op in
    the parent itself (joblib runs one job in-process)."""
    if parent_pid != os.getpid() and os.getppid() != parent_pid:
        os._exit(1)  # no one is left to report to; skip atexit and the pool's own shutdown
