"""A watch on how files appear: the pipeline promises that every file it writes appears whole
or not at all (common/atomic.py), i.e. only by renaming a temporary file of the same folder into
place. A part written in place survives the kill-and-resume tests whenever the kill falls between
files, yet a kill during its write leaves a half-written part that a rerun takes as done; this
watch catches the in-place write itself, whatever the moment of the kill would have been."""

import os
import re
from pathlib import Path

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.faults import CRASH_ENV, CrashSwitch

_TEMPORARY = re.compile(re.escape(atomic.TMP_MARK) + r"\d+$")


class RenameOnlyWatch:
    """Records every rename into `roots`, and at each rename, each fault-injection event (the
    moment between a write and its rename) and `finish()`, checks that every file under `roots`
    other than a temporary got there by a rename from its own temporary."""

    def __init__(self, monkeypatch, *roots):
        self.roots = [Path(root).resolve() for root in roots]
        self.renamed = set()
        self.problems = []
        self.checks = 0
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            src, dst = Path(src).resolve(), Path(dst).resolve()
            if self._watched(dst):
                self.check(f"before renaming into {dst.name}")
                if src.parent != dst.parent or not (src.name.startswith(dst.name) and _TEMPORARY.search(src.name)):
                    self.problems.append(f"{dst} was renamed from {src}, not from a temporary of its own")
            real_replace(src, dst, *args, **kwargs)
            if self._watched(dst):
                self.renamed.add(dst)

        def event():
            self.check("at a file event")
            real_event()

        real_event = CrashSwitch.event
        monkeypatch.delenv(CRASH_ENV, raising=False)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(CrashSwitch, "event", event)

    def _watched(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.roots)

    def check(self, when: str) -> None:
        self.checks += 1
        for root in self.roots:
            for path in root.rglob("*") if root.is_dir() else ():
                # A run's lock (common/lock.py) is no output: it appears whole by a hard link.
                if path.suffix == ".lock" or _TEMPORARY.search(path.name):
                    continue
                if path.is_file() and path.resolve() not in self.renamed:
                    self.problems.append(f"{path} appeared {when} without being renamed into place")

    def finish(self) -> list:
        """The problems seen (empty when every file appeared by a rename)."""
        self.check("at the end")
        return sorted(set(self.problems))

    def renamed_matching(self, pattern: str) -> list:
        return sorted(p for p in self.renamed if p.match(pattern))
