"""Progress lines for long runs that read well in a `nohup.out` file: one plain line every few
seconds (never carriage returns), stamped with the wall-clock time so a stalled run can be dated,
with done/total, clips per second, audio-seconds per second and an ETA.

Progress and other notes go to standard error; standard output is kept for results (the closing
lines, the scores of `--score`), so `script > results.txt` holds exactly those."""

import sys
import time


def timestamp(wall=time.time) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall()))


def note(*lines, stream=None) -> None:
    """Timestamped progress notes (resuming, already complete, ...) on standard error."""
    stream = stream if stream is not None else sys.stderr
    for line in lines:
        print(f"{timestamp()} {line}", file=stream, flush=True)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts work done in this process; `already_done` is work a resumed run found finished,
    which counts towards done/total but not towards the rates."""

    def __init__(
        self,
        label,
        total,
        unit="clips",
        every_s=10.0,
        already_done=0,
        stream=None,
        clock=time.monotonic,
        wall=time.time,
    ):
        self.label = label
        self.total = int(total)
        self.unit = unit
        self.every_s = every_s
        self.done = int(already_done)
        self.done_here = 0
        self.audio_s = 0.0
        self.stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._wall = wall
        self._start = clock()
        self._last_print = None

    def update(self, n=1, audio_seconds=0.0, extra=""):
        self.done += n
        self.done_here += n
        self.audio_s += audio_seconds
        now = self._clock()
        if self._last_print is None or now - self._last_print >= self.every_s or self.done >= self.total:
            self._print(now, extra)

    def line(self, now=None, extra=""):
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        rate = self.done_here / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [
            f"{timestamp(self._wall)} [{self.label}] {self.done:,}/{self.total:,} {self.unit} ({pct:.1f}%)",
            f"{rate:.1f} {self.unit}/s",
        ]
        if self.audio_s:
            parts.append(f"{self.audio_s / elapsed:.1f} audio-s/s")
        remaining = self.total - self.done
        parts.append(
            f"ETA {format_duration(remaining / rate)}"
            if rate > 0 and remaining > 0
            else f"elapsed {format_duration(elapsed)}"
        )
        if extra:
            parts.append(extra)
        return " | ".join(parts)

    def _print(self, now, extra=""):
        self._last_print = now
        print(self.line(now, extra), file=self.stream, flush=True)
