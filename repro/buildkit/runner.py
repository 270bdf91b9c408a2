"""The one process runner: start a build client (buildctl, `docker buildx`), show its
progress, keep its last lines for an error message, and let another thread stop it.

Every backend (repro.buildkit.buildctl, repro.buildkit.buildx) runs its client through
`run_client`; nothing else in the package starts a build process.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Callable

from repro.errors import BuildError

if TYPE_CHECKING:
    from repro.buildkit.daemon import EphemeralDaemon

PROGRESS_MODES = ("auto", "plain", "tty", "quiet", "rawjson")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
_TAIL_LINES = 2000  # a failed build's log is kept this far back for its error


STEP_OUTPUT_LINES = 12  # a failed step's last output lines shown under the error


@dataclass(frozen=True)
class StepFailure:
    """The step a failed build stopped at, read from the summary BuildKit prints:

        ------
         > [2/3] RUN make:
        0.218 cc -o app main.c
        0.300 main.c:1: error: ...
        ------
        Dockerfile:4
        --------------------
        ...
        error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2
    """

    step: str                 # "[2/3] RUN make"
    location: str             # "Dockerfile:4"; "" when BuildKit named no line
    exit_code: int | None     # the step's process exit code, when a process failed
    output: tuple[str, ...]   # the step's last output lines, without BuildKit's timestamps
    reason: str               # BuildKit's error, e.g. 'failed to calculate checksum of ref ...: "/x": not found'


_STEP_HEAD = re.compile(r"^ > (?P<step>.+):$")
_LOCATION = re.compile(r"^(?P<loc>\S+:\d+)$")
_STAMP = re.compile(r"^\d+\.\d+ ")
_EXIT = re.compile(r"did not complete successfully: exit code: (\d+)")
_PARSE = re.compile(r"^dockerfile parse error on line \d+: ")  # the frontend refused the Dockerfile: no step ran


def step_failure(lines: list[str]) -> StepFailure | None:
    """The failed step of a build's output (plain or tty), or None when BuildKit named
    none (the daemon died, the frontend refused the Dockerfile, ...). A step that failed
    before it ran (a COPY of a missing file) has no output block: the Dockerfile excerpt
    BuildKit prints then names it (its `>>>` lines)."""
    loc_at, location = -1, ""
    for i in range(len(lines) - 2, -1, -1):
        m = _LOCATION.match(lines[i].strip())
        if m and lines[i + 1].strip().startswith("-----"):
            loc_at, location = i, m.group("loc")
            break
    head_at, step = -1, ""
    for i in range(loc_at if loc_at >= 0 else len(lines) - 1, 0, -1):
        m = _STEP_HEAD.match(lines[i].rstrip())
        if m and lines[i - 1].strip() == "------":
            head_at, step = i, m.group("step")
            break
    output: list[str] = []
    if head_at >= 0:
        i = head_at + 1
        while i < len(lines) and lines[i].strip() != "------":
            output.append(_STAMP.sub("", lines[i].rstrip()))
            i += 1
    elif loc_at >= 0:  # no output block: the excerpt's marked lines are the instruction
        marked = []
        for line in lines[loc_at + 2:loc_at + 40]:
            if line.strip().startswith("-----"):
                break
            _, sep, text = line.partition("| >>> ")
            if sep:
                marked.append(text.strip())
        step = " ".join(m for m in marked if m)
    if not step and not location:
        return None
    errors = buildkit_error_lines(lines[max(loc_at, head_at, 0):])
    reason = (errors[-1] if errors else "").removeprefix("failed to solve: ")
    if location and _PARSE.match(reason):  # "Dockerfile:2: unknown instruction: RUNN": the line is the location
        step, reason = "", _PARSE.sub("", reason)
    code = _EXIT.search(reason)
    step = step if len(step) <= 160 else step[:159] + "…"
    return StepFailure(step, location, int(code.group(1)) if code else None,
                       tuple(l for l in output if l.strip())[-STEP_OUTPUT_LINES:], reason)


@dataclass(frozen=True)
class ClientRun:
    """How a client process ended: its exit status and its last output lines (ANSI stripped)."""

    code: int
    lines: list[str]

    def error_text(self) -> str:
        """BuildKit's own error lines from a failed build's output, else its last lines."""
        errors = (buildkit_error_lines(self.lines) or [ln.strip() for ln in self.lines[-5:] if ln.strip()]
                  or [f"exit status {self.code}"])
        return "; ".join(errors[-3:])

    def failure(self, who: str) -> BuildError:
        """The error for this failed run of `who` ("build", "build 2", ...): one line with
        the Dockerfile line, the step and its exit code; the step's last output lines
        as the error's details (shown under it)."""
        step = step_failure(self.lines)
        if step is None:
            return BuildError(f"{who} failed: {self.error_text()}")
        where = f" at {step.location}" if step.location else ""
        what = f"exit code {step.exit_code}" if step.exit_code is not None else (step.reason or self.error_text())
        err = BuildError(f"{who} failed{where}: " + (f"{step.step}: " if step.step else "") + what)
        err.details = step.output
        return err


def progress_mode(progress: str, label: str, sink: IO[str]) -> str:
    """The client's --progress for ours: quiet is plain, captured and not shown; auto is a
    tty display on a terminal unless several builds share it (label), else plain."""
    if progress == "quiet" or (progress == "auto" and label):
        return "plain"
    if progress == "auto":
        with contextlib.suppress(AttributeError, ValueError):
            return "tty" if sink.isatty() else "plain"
        return "plain"
    return progress


def shows_log(progress: str, sink: IO[str]) -> bool:
    """Whether a build client's log is copied to `sink`: always with --progress plain, tty
    or rawjson; never with quiet; with auto only where someone watches it: a terminal, or
    a sink that turns the lines into a status display (repro.cli.progress.BuildSink). Off a
    terminal a successful build leaves no log in CI output; a failed one's error quotes
    the failed step (ClientRun.failure)."""
    if progress != "auto":
        return progress != "quiet"
    watched = getattr(sink, "watched", None)
    if watched is not None:
        return bool(watched)
    try:
        return bool(sink.isatty())
    except (AttributeError, ValueError):
        return False


# Lines BuildKit's client prints that say nothing about the build (buildctl checks whether
# the local filesystem of an oci-layout context supports fs-verity, and warns when not).
_NOISE = re.compile(r'level=warning msg="failed check for fsverity support"')


def run_client(argv: list[str], *, mode: str, show: bool, label: str, sink: IO[str],
               cancel: Cancel | None = None, env: dict[str, str] | None = None,
               tool: str = "buildctl", redact: Callable[[str], str] | None = None) -> ClientRun:
    """Run a build client whose progress display is `mode` (the value its --progress got):
    on a pty when "tty", else with stdout+stderr piped. Copy its output to `sink` when
    `show` (plain lines prefixed with `[label] `). `env` replaces the environment.
    `cancel` registers the process so that another thread can kill it. `redact` rewrites
    every line before it is shown or kept (secret values: repro.buildkit.secrets); it
    needs line-by-line output, so it cannot be combined with "tty"."""
    if redact is not None and mode == "tty":
        raise ValueError("run_client: redact needs plain output, not a tty display")
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    prefix = f"[{label}] " if label else ""
    use_pty = mode == "tty"
    if use_pty:
        master, slave = os.openpty()
        _copy_winsize(sink, slave)
        with contextlib.suppress(OSError):  # bytes pass through unchanged: our terminal adds its own \r
            import termios
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.ONLCR
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
        out_target: int = slave
    else:
        master = slave = -1
        out_target = subprocess.PIPE
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_target,
                                stderr=subprocess.STDOUT if not use_pty else slave, env=env)
    except OSError as e:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        raise BuildError(f"cannot run {tool}: {e}") from None
    if cancel is not None:
        cancel.add_process(proc)
    try:
        if use_pty:
            os.close(slave)
            _pump_pty(master, sink if show else None, tail)
        else:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                if _NOISE.search(line):
                    continue
                if redact is not None:
                    line = redact(line)
                tail.append(_ANSI.sub("", line))
                if show:
                    sink.write(prefix + line + "\n")
                    sink.flush()
        return ClientRun(proc.wait(), list(tail))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if use_pty:
            with contextlib.suppress(OSError):
                os.close(master)


def _pump_pty(master: int, sink: IO[str] | None, tail: deque[str]) -> None:
    partial = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            data = b""
        if not data:
            break
        if sink is not None:
            with contextlib.suppress(AttributeError, ValueError):
                sink.buffer.write(data)  # type: ignore[attr-defined]
                sink.flush()
        partial += data
        *lines, partial = partial.split(b"\n")
        for line in lines:
            tail.append(_ANSI.sub("", line.decode(errors="replace")))
    if partial:
        tail.append(_ANSI.sub("", partial.decode(errors="replace")))


def _copy_winsize(sink: IO[str], fd: int) -> None:
    import fcntl
    import termios
    with contextlib.suppress(OSError, AttributeError, ValueError):
        size = fcntl.ioctl(sink.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def buildkit_error_lines(lines: list[str]) -> list[str]:
    """BuildKit's own error lines from a client's output: the final `error: ...` and the
    progress `ERROR:` lines, in order, without duplicates."""
    found: list[str] = []
    for line in lines:
        text = line.strip()
        text = re.sub(r"^#\d+\s+(\d+\.\d+\s+)?", "", text)
        if text.startswith("error:") or text.startswith("ERROR:") or " ERROR:" in text[:20]:
            text = text.split(":", 1)[1].strip() if text.lower().startswith("error:") else text
            if text and text not in found:
                found.append(text)
    return found


class Cancel:
    """Stops a batch of builds from another thread: kills their client processes (the
    daemon then drops the solve), then closes their ephemeral daemons, in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._daemons: list[EphemeralDaemon] = []
        self._callbacks: list[Callable[[], None]] = []
        self.fired = False

    def add_process(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(proc)
            fired = self.fired
        if fired:
            proc.kill()

    def add_daemon(self, daemon: EphemeralDaemon) -> None:
        with self._lock:
            if self.fired:
                raise BuildError("build cancelled")
            self._daemons.append(daemon)

    def on_fire(self, callback: Callable[[], None]) -> None:
        """Also call `callback` when the batch is stopped (wake up threads waiting on something)."""
        with self._lock:
            self._callbacks.append(callback)
            fired = self.fired
        if fired:
            callback()

    def check(self) -> None:
        """BuildError("build cancelled") once the batch has been stopped."""
        if self.fired:
            raise BuildError("build cancelled")

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            running, daemons, callbacks = list(self._procs), list(self._daemons), list(self._callbacks)
        for callback in callbacks:
            callback()
        for proc in running:
            with contextlib.suppress(OSError):
                proc.kill()
        closers = [threading.Thread(target=d.close, name="repro-daemon-close") for d in daemons]
        for t in closers:
            t.start()
        for t in closers:
            t.join()


class LockedSink:
    """A text stream several build threads write progress lines to."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream, self._lock = stream, threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        return False  # several builds share it: never a tty display

    @property
    def watched(self) -> bool:
        """Whether someone watches the stream behind it (see shows_log)."""
        inner = getattr(self._stream, "watched", None)
        if inner is not None:
            return bool(inner)
        try:
            return bool(self._stream.isatty())
        except (AttributeError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()
