"""`--diffoscope`: deeper drill-down into the few files that still differ.

diffoscope is GPL-3, so repro never imports it: it runs as a subprocess on both sides
of each differing file (bounded count, size, time and output), and its text output is
embedded in the finding's detail. Missing diffoscope is trouble (exit 2) only when the
user asked for it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from types import MappingProxyType
from typing import Callable, Optional

from repro.diff.finding import Finding
from repro.errors import ToolMissing

ContentLookup = Callable[[Finding], "tuple[Optional[bytes], Optional[bytes]]"]

MAX_FILES = 10
MAX_OUTPUT = 64 << 10
TIMEOUT = 60.0


def find_diffoscope() -> str:
    """diffoscope on PATH, else the venv that scripts/install-bench-tools.sh makes."""
    found = shutil.which("diffoscope")
    if found:
        return found
    tools = os.environ.get("REPRO_TOOLS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "repro", "tools")
    cands = sorted(glob.glob(os.path.join(tools, "diffoscope", "*", "venv", "bin", "diffoscope")))
    if cands:
        return cands[-1]
    raise ToolMissing("--diffoscope needs diffoscope: `pip install diffoscope` (or scripts/install-bench-tools.sh)")


def drill_down(findings: list[Finding], contents: ContentLookup, *, executable: str | None = None,
               max_files: int = MAX_FILES, timeout: float = TIMEOUT) -> list[Finding]:
    """Return the findings with `detail.diffoscope` added to up to `max_files` content
    findings (unexplained ones first). Never drops or reorders findings."""
    exe = executable or find_diffoscope()
    order = sorted((i for i, f in enumerate(findings) if f.kind == "file" and f.field == "content"),
                   key=lambda i: findings[i].cause is not None)
    out = list(findings)
    for i in order[:max_files]:
        f = findings[i]
        a, b = contents(f)
        if a is None or b is None:
            continue
        text = _run(exe, os.path.basename(f.path or "file") or "file", a, b, timeout)
        out[i] = f.with_(detail=MappingProxyType({**dict(f.detail), "diffoscope": text}))
    return out


def _run(exe: str, name: str, a: bytes, b: bytes, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="repro-diffoscope-") as tmp:
        pa, pb = os.path.join(tmp, "a", name), os.path.join(tmp, "b", name)
        for p, data in ((pa, a), (pb, b)):
            os.makedirs(os.path.dirname(p))
            with open(p, "wb") as fh:
                fh.write(data)
        try:
            proc = subprocess.run([exe, "--text", "-", "--no-progress", pa, pb], capture_output=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"(diffoscope did not finish within {timeout:.0f} s)"
        except OSError as e:
            return f"(diffoscope could not run: {e.strerror})"
        text = proc.stdout.decode("utf-8", "replace").replace(tmp, "")
        if proc.returncode not in (0, 1):
            text += "\n(diffoscope exit %d: %s)" % (proc.returncode, proc.stderr.decode("utf-8", "replace")[-500:])
        if len(text) > MAX_OUTPUT:
            text = text[:MAX_OUTPUT] + "\n(output cut at %d KiB)" % (MAX_OUTPUT >> 10)
        return text
