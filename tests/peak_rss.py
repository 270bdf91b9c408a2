"""Peak RSS of one command, measured apart from the test process.

Linux keeps a process's peak RSS (ru_maxrss) across exec, and a child forked from the test
process starts with the parent's peak: after a few hundred tests pytest holds 300 MB, and a
`repro diff` that never used more than 50 MB would read as 300 MB. So the command is
started by a small launcher (a fresh `python -c`), and the launcher reports the peak of its
own child, which starts from the launcher's few MB.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

_LAUNCHER = r"""
import json, os, subprocess, sys, threading
fd, timeout, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
timer = threading.Timer(timeout, proc.kill)
timer.start()
_, status, usage = os.wait4(proc.pid, 0)
timer.cancel()
os.write(fd, json.dumps({"code": os.waitstatus_to_exitcode(status), "rss_kib": usage.ru_maxrss}).encode())
"""


def run_with_peak_rss(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                      timeout: float = 600) -> tuple[int, str, float]:
    """Run ARGV (stdout discarded); (exit code, stderr text, peak RSS in MiB). A run past
    TIMEOUT seconds is killed and fails the calling test."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(write_end), str(timeout), *argv], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                pass_fds=(write_end,))
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        err = proc.communicate(timeout=timeout + 60)[1].decode("utf-8", "replace")
        result = json.loads(pipe.read() or b"null")
    assert result is not None, f"the launcher failed: {err[-2000:]}"
    assert result["code"] != -9, f"{' '.join(argv)} still running after {timeout}s"
    return result["code"], err, result["rss_kib"] / 1024
