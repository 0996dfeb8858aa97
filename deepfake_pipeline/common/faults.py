"""Fault injection for the resume tests: SIGKILL this process after its Nth file event (a
temporary file written, or a file renamed into place). Only tests set the variable."""

import os
import signal

CRASH_ENV = "DEEPFAKE_PIPELINE_CRASH_AFTER_EVENT"


class CrashSwitch:
    """Counts file events across the whole process, so a test can kill a run at any chosen point."""

    remaining = None
    armed = False

    @classmethod
    def event(cls):
        if not cls.armed:
            value = os.environ.get(CRASH_ENV)
            cls.remaining = int(value) if value else None
            cls.armed = True
        if cls.remaining is None:
            return
        cls.remaining -= 1
        if cls.remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
