"""A one-line progress display on stderr for long work: builds, layers read, files compared.

Only on a terminal: when stderr is not a TTY (CI logs, pipes, files), or with `--quiet`,
nothing is drawn at all. Never on stdout, where reports go. Redraws are throttled (at
most every `interval` seconds) and cheap to request, so hot loops may report freely;
the line is cleared before anything else is written to stderr and when the work ends.

    with Progress.for_stderr(quiet=False) as p:
        p.status("comparing linux/amd64 layer 1")
        p.count(entries=256, nbytes=1 << 20)   # from any thread

BuildSink turns BuildKit's plain progress lines of parallel builds ("[build 1] #6 [2/3]
RUN ...") into a status per build instead of interleaved logs.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import IO, Callable

_STEP = re.compile(r"^#(?P<n>\d+) (\[[^\]]*\] )?(?P<what>.+)$")  # BuildKit plain progress: "#6 [2/3] RUN ..."


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    """The display. Thread-safe; does nothing when disabled."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._text = ""
        self._entries = 0
        self._bytes = 0
        self._last_draw = float("-inf")
        self._shown = False
        self._started = clock()

    @classmethod
    def for_stderr(cls, *, quiet: bool = False, stream: IO[str] | None = None) -> Progress:
        """Enabled only when the stream (default sys.stderr) is a terminal and not quiet."""
        stream = stream if stream is not None else sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(stream, enabled=tty and not quiet)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    # what callers report ---------------------------------------------------------------

    def status(self, text: str) -> None:
        """What is being done now (replaces the previous status; counters are kept)."""
        if not self.enabled:
            return
        with self._lock:
            self._text = text
            self._draw_locked(force=True)

    def count(self, entries: int = 0, nbytes: int = 0) -> None:
        """Add files compared and bytes read; redraws at most every `interval` seconds."""
        if not self.enabled:
            return
        with self._lock:
            self._entries += entries
            self._bytes += nbytes
            self._draw_locked()

    def clear(self) -> None:
        """Erase the line (before other stderr output, and at the end)."""
        if not self.enabled:
            return
        with self._lock:
            if self._shown:
                self._write("\r\x1b[K")
                self._shown = False

    def echo(self, line: str) -> None:
        """Write a whole line to stderr without tearing the display."""
        with self._lock:
            if self._shown:
                self._write("\r\x1b[K")
                self._shown = False
            self._write(line + "\n")
            if self.enabled and self._text:
                self._draw_locked(force=True)

    # drawing -----------------------------------------------------------------------

    def line(self) -> str:
        """The text the display shows now."""
        parts = [self._text] if self._text else []
        if self._entries or self._bytes:
            parts.append(f"{self._entries} files, {human_bytes(self._bytes)} read")
        parts.append(f"{self._clock() - self._started:.0f}s")
        return " · ".join(parts)

    def _draw_locked(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        width = self._width()
        text = self.line()
        if len(text) > width - 1:
            text = text[:max(0, width - 2)] + "…"
        self._write("\r\x1b[K" + text)
        self._shown = True

    def _width(self) -> int:
        import os

        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            return 80

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False  # stderr went away: stop drawing, never fail the work


class BuildSink:
    """A text stream for build_many's progress output that shows one status per build
    on a Progress line instead of the interleaved plain logs. Keeps nothing else:
    a failed build's error already quotes BuildKit's own error lines."""

    def __init__(self, progress: Progress, n: int) -> None:
        self.progress = progress
        self._steps: dict[str, str] = {}
        self._seen: set[tuple[str, str]] = set()
        self._done: set[str] = set()
        self._n = n
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            data = self._partial + text
            *lines, self._partial = data.split("\n")
            for line in lines:
                self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        label, sep, rest = line.partition("] ")
        if not line.startswith("[") or not sep:
            return
        label = label[1:]
        step = _STEP.match(rest)
        if step and (label, step.group("n")) not in self._seen:  # a step's first line is its title
            self._seen.add((label, step.group("n")))
            self._steps[label] = step.group("what")[:60]
            self.progress.status(self._summary())

    def build_done(self, label: str) -> None:
        with self._lock:
            self._done.add(label)
            self._steps[label] = "done"
            self.progress.status(self._summary())

    def _summary(self) -> str:
        running = "; ".join(f"{k}: {v}" for k, v in sorted(self._steps.items()) if v != "done")
        return f"building {len(self._done)}/{self._n} done" + (f" — {running}" if running else "")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    watched = True  # the lines are drawn as a status: build clients copy their logs here
