"""The one polling helper of the test suite: wait until something is true, or fail.

A wait, not a speed check: `timeout` only bounds how long a test hangs when the thing
waited for never happens."""

from __future__ import annotations

import subprocess
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, what: str = "condition",
             proc: subprocess.Popen | None = None, interval: float = 0.05) -> T:
    """Call `predicate` until it returns something true and return that. Fail with
    `what` after `timeout` seconds, or as soon as `proc` (if given) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}: {err}")
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
