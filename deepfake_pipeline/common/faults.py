"""Fault injection for the resume and interrupt tests: SIGKILL this process after its Nth file
event (a temporary file written, or a file renamed into place), or stop there and wait for a
signal, so that a test interrupts a run at a chosen point instead of racing it. Only tests set
the variables."""

import os
import signal
import sys
import time

CRASH_ENV = "DEEPFAKE_PIPELINE_CRASH_AFTER_EVENT"
PAUSE_ENV = "DEEPFAKE_PIPELINE_PAUSE_AFTER_EVENT"
# Printed on standard error when the run stops at the chosen event; the test waits for it.
PAUSED = "fault injection: paused after file event"
# A pause that no signal ends lets the run go on after this long (a test that forgot to send one
# then fails on a finished run rather than hanging).
PAUSE_LIMIT_S = 120.0


class CrashSwitch:
    """Counts file events across the whole process, so a test can kill a run at any chosen point."""

    remaining = None
    pause_at = None
    events = 0
    armed = False

    @classmethod
    def event(cls):
        if not cls.armed:
            value = os.environ.get(CRASH_ENV)
            cls.remaining = int(value) if value else None
            pause = os.environ.get(PAUSE_ENV)
            cls.pause_at = int(pause) if pause else None
            cls.armed = True
        cls.events += 1
        if cls.events == cls.pause_at:
            _wait_for_a_signal(cls.events)
        if cls.remaining is None:
            return
        cls.remaining -= 1
        if cls.remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)


def _wait_for_a_signal(event: int) -> None:
    """Stop here until a signal's handler raises (KeyboardInterrupt for SIGINT, the clis'
    Terminated for SIGTERM). Short sleeps: a signal that lands just before one only waits for
    its end, while one long sleep could miss it."""
    print(f"{PAUSED} {event} (pid {os.getpid()})", file=sys.stderr, flush=True)
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
