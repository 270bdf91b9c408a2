"""Find the pinned BuildKit binaries (buildctl + buildkitd) and the helpers the daemons need.

Search order: `buildctl`/`buildkitd` on PATH when both report the pinned version, else
the cache dir that `repro install-buildkit` (repro/buildkit/install.py) fills
(`$REPRO_TOOLS_DIR` or `$XDG_CACHE_HOME/repro/tools`, then `buildkit/<version>/bin`).
A wrong version on PATH is not used: digests depend on the BuildKit version
(cause `builder-version`), so a verifier that silently used another one would lie.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from repro import BUILDKIT_VERSION
from repro.errors import ToolMissing

INSTALL_HINT = (
    "run `repro install-buildkit` (builds it from the Go module proxy), or unpack "
    f"https://github.com/moby/buildkit/releases/download/{BUILDKIT_VERSION}/"
    f"buildkit-{BUILDKIT_VERSION}.linux-amd64.tar.gz and put its bin/ on PATH"
)
_VERSION_RE = re.compile(r"\b(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b")


@dataclass(frozen=True)
class Tools:
    buildctl: str
    buildkitd: str
    version: str  # what the binaries report, e.g. "v0.32.2"


def tools_dir() -> str:
    root = os.environ.get("REPRO_TOOLS_DIR")
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(cache, "repro", "tools")
    return os.path.join(root, "buildkit", BUILDKIT_VERSION, "bin")


def binary_version(path: str) -> str | None:
    """The version a BuildKit binary reports with --version, or None if it cannot say."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _binary_version(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _binary_version(path: str, _mtime: int, _size: int) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # buildctl: "buildctl github.com/moby/buildkit v0.32.2 <revision>"; buildkitd: same shape
    m = _VERSION_RE.search(out.stdout + out.stderr)
    return m.group(1) if m else None


def find_buildkit(version: str = BUILDKIT_VERSION) -> Tools:
    """buildctl + buildkitd of `version`: from PATH, else from the cache dir; else ToolMissing."""
    found: list[str] = []
    candidates = [(shutil.which("buildctl"), shutil.which("buildkitd"))]
    cache = tools_dir()
    candidates.append((os.path.join(cache, "buildctl"), os.path.join(cache, "buildkitd")))
    for ctl, kitd in candidates:
        if not ctl or not kitd or not os.access(ctl, os.X_OK) or not os.access(kitd, os.X_OK):
            continue
        v_ctl, v_kitd = binary_version(ctl), binary_version(kitd)
        if v_ctl == version and v_kitd == version:
            return Tools(buildctl=ctl, buildkitd=kitd, version=version)
        found.append(f"{ctl} is {v_ctl or 'unknown'}, {kitd} is {v_kitd or 'unknown'}")
    have = f" (found {'; '.join(found)})" if found else ""
    raise ToolMissing(f"BuildKit {version} buildctl and buildkitd not found on PATH or in {cache}{have}: "
                      + INSTALL_HINT)


def find_helper(name: str, hint: str) -> str:
    """Path of a helper program (runc, rootlesskit, unshare, ...) or ToolMissing with `hint`."""
    path = shutil.which(name)
    if not path:
        # sbin dirs are not on an unprivileged user's PATH on Debian, but runc lives there
        for d in ("/usr/local/sbin", "/usr/sbin", "/sbin"):
            if os.access(os.path.join(d, name), os.X_OK):
                return os.path.join(d, name)
        raise ToolMissing(f"{name} not found: {hint}")
    return path
