"""Process, mount and signal housekeeping for ephemeral daemons.

Linux only: reads /proc. Everything here is about leaving nothing behind: processes
found by the temp dir in their command line, mounts found by the temp dir in
/proc/self/mountinfo, temp dirs whose owner has died.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Iterator

log = logging.getLogger("repro.buildkit")

MNT_DETACH = 2


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks): with the pid it names a
    process uniquely, so a recycled pid is not mistaken for the owner."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def processes_mentioning(text: str) -> list[int]:
    """Pids (other than ours) whose command line contains `text`."""
    needle = text.encode()
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry))
    return pids


def kill_processes_mentioning(text: str, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process whose command line names `text` until none is left;
    return the pids that had to be killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in processes_mentioning(text) if not _is_zombie(p)]
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        if time.monotonic() > deadline:
            log.warning("processes still running after SIGKILL: %s", pids)
            return killed
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except OSError:
        return True


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in our mount namespace, deepest first."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = _unescape_mountinfo(line.split()[4])
                if point == path or point.startswith(path + "/"):
                    found.append(point)
    except OSError:
        return []
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_under(path: str) -> list[str]:
    """Lazily unmount everything at or below `path`; return what is still mounted."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for _ in range(3):
            points = mounts_under(path)
            if not points:
                break
            for point in points:
                if libc.umount2(point.encode(), MNT_DETACH) != 0:
                    log.warning("umount %s: %s", point, os.strerror(ctypes.get_errno()))
    return mounts_under(path)


def remove_tree(path: str, *, rootless: bool = False) -> bool:
    """rm -rf `path`; True when it is gone. A rootless daemon's state can hold
    directories owned by subordinate uids that we cannot enter as ourselves: remove
    those from a user namespace that maps our subuid range (unshare --map-auto)."""
    if not os.path.lexists(path):
        return True

    # overlayfs leaves `work/work` dirs with mode 000: as their owner we may open them up
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            if not os.path.islink(sub):
                with contextlib.suppress(OSError):
                    os.chmod(sub, 0o700)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path) and (rootless or os.geteuid() != 0) and shutil.which("unshare"):
        subprocess.run(["unshare", "--map-auto", "--map-root-user", "rm", "-rf", "--", path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120, check=False)
    if os.path.lexists(path):
        log.warning("could not remove %s", path)
        return False
    return True


# Signals ---------------------------------------------------------------------------
#
# A daemon is torn down by its owner's `with` block or close(). Python's default
# SIGTERM kills the interpreter without unwinding, so while daemons are live we turn
# SIGTERM (and SIGHUP) into SystemExit in the main thread: `with` blocks unwind and
# close() runs. atexit closes whatever is still registered at interpreter exit. If the
# interpreter is SIGKILLed, the daemon's wrapper gets SIGKILL too (setpriv --pdeathsig)
# and its namespaces die with it; the temp dir is swept by the next daemon start.

_live: dict[int, Callable[[], None]] = {}
_live_lock = threading.Lock()
_handlers_installed = False
_HANDLED = (signal.SIGTERM, signal.SIGHUP)


def register(key: int, close: Callable[[], None]) -> None:
    with _live_lock:
        _live[key] = close
    install_signal_handlers()


def unregister(key: int) -> None:
    with _live_lock:
        _live.pop(key, None)


def close_all() -> None:
    with _live_lock:
        closers = list(_live.values())
    for close in closers:
        with contextlib.suppress(Exception):
            close()


def install_signal_handlers() -> None:
    """Install the SIGTERM/SIGHUP -> SystemExit handlers (main thread only; handlers a
    program set itself are left alone)."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in _HANDLED:
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _on_signal)
    _handlers_installed = True


def _on_signal(signum: int, _frame: object) -> None:
    with _live_lock:
        busy = bool(_live)
    if not busy:  # nothing to clean up: behave as if no handler were installed
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise SystemExit(128 + signum)


atexit.register(close_all)


@contextlib.contextmanager
def closing_on_interrupt(closers: list[Callable[[], None]]) -> Iterator[None]:
    """Run `closers` if the body is left by an exception (Ctrl-C, SIGTERM, an error),
    so that other threads blocked on those daemons fail fast instead of finishing."""
    try:
        yield
    except BaseException:
        for close in list(closers):
            with contextlib.suppress(Exception):
                close()
        raise
