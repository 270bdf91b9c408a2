"""`repro doctor`: can this machine run the builds repro needs? One Check per prerequisite."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass

from repro import BUILDKIT_VERSION
from repro.buildkit.tools import INSTALL_HINT, find_buildkit, find_helper
from repro.errors import ToolMissing


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run: {e}"
    return ((out.stdout or out.stderr).strip().splitlines() or [""])[0]


def check_buildkit() -> Check:
    try:
        tools = find_buildkit()
    except ToolMissing as e:
        return Check("buildkit", False, str(e).split(":", 1)[0], INSTALL_HINT)
    return Check("buildkit", True, f"buildctl {tools.buildctl}, buildkitd {tools.buildkitd} ({tools.version})")


def check_helper(name: str, package: str, *, required: bool = True, why: str = "") -> Check:
    try:
        path = find_helper(name, "")
    except ToolMissing:
        if required:
            return Check(name, False, "not found" + (f" ({why})" if why else ""), f"apt-get install {package}")
        return Check(name, True, f"not found; only needed {why}", f"apt-get install {package}")
    detail = path
    if name == "runc":
        detail += ": " + _version([path, "--version"])
    elif name == "rootlesskit":
        detail += ": " + _version([path, "--version"])
    elif name in ("newuidmap", "newgidmap"):
        st = os.stat(path)
        if not st.st_mode & 0o4000 and not _has_file_caps(path):
            return Check(name, False, f"{path} is neither setuid root nor has file capabilities",
                         f"apt-get install --reinstall {package}")
    return Check(name, True, detail)


def _has_file_caps(path: str) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def check_userns() -> Check:
    clone = _read("/proc/sys/kernel/unprivileged_userns_clone")  # Debian kernels only
    max_ns = _read("/proc/sys/user/max_user_namespaces")
    apparmor = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")  # Ubuntu >= 23.10
    parts = [f"max_user_namespaces={max_ns}",
             f"unprivileged_userns_clone={clone if clone is not None else 'absent (not a Debian-patched kernel)'}"]
    if apparmor is not None:
        parts.append(f"apparmor_restrict_unprivileged_userns={apparmor}")
    detail = ", ".join(parts)
    if max_ns is not None and max_ns.isdigit() and int(max_ns) == 0:
        return Check("user namespaces", False, detail, "sysctl -w user.max_user_namespaces=15000")
    if clone == "0":
        return Check("user namespaces", False, detail, "sysctl -w kernel.unprivileged_userns_clone=1")
    if apparmor == "1":
        return Check("user namespaces", False, detail, "add an AppArmor profile for rootlesskit, or "
                     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    return Check("user namespaces", True, detail)


def check_subids() -> Check:
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        return Check("subuid/subgid", True, "running as root: rootful daemons need no subordinate ids")
    missing = []
    for path in ("/etc/subuid", "/etc/subgid"):
        text = _read(path) or ""
        if not any(line.split(":")[0] in (user, str(os.geteuid())) for line in text.splitlines() if line):
            missing.append(path)
    if missing:
        return Check("subuid/subgid", False, f"no range for {user} in {', '.join(missing)}",
                     f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}")
    return Check("subuid/subgid", True, f"{user} has ranges in /etc/subuid and /etc/subgid")


def check_overlayfs() -> Check:
    fs = _read("/proc/filesystems") or ""
    if any(line.split()[-1:] == ["overlay"] for line in fs.splitlines()):
        return Check("overlayfs", True, "overlay in /proc/filesystems (buildkitd's snapshotter=auto uses it)")
    return Check("overlayfs", True, "overlay not in /proc/filesystems: buildkitd falls back to the native "
                 "snapshotter (slower; hardlinks may differ from overlayfs builds)", "modprobe overlay")


def check_cgroups() -> Check:
    mounts = _read("/proc/self/mounts") or ""
    types = {line.split()[2] for line in mounts.splitlines()
             if len(line.split()) > 2 and line.split()[1].startswith("/sys/fs/cgroup")}
    if types == {"cgroup2"}:
        kind = "v2 (unified)"
    elif "cgroup2" in types:
        kind = "hybrid (v1 controllers + v2 unified)"
    elif "cgroup" in types:
        kind = "v1"
    else:
        kind = "not mounted"
    detail = f"cgroup {kind}"
    if os.geteuid() != 0:
        detail += "; rootless builds do not use cgroup limits, so this only matters for resource controls"
    return Check("cgroups", kind != "not mounted", detail,
                 "" if kind != "not mounted" else "mount cgroup2 on /sys/fs/cgroup")


def check_buildx() -> Check:
    """docker buildx is optional: only `--builder buildx[:NAME]` needs it."""
    from repro.buildkit.buildx import BUILDX_VERSION, INSTALL_HINT, find_buildx

    try:
        bx = find_buildx()
    except ToolMissing as e:
        return Check("buildx", True, f"not usable ({str(e).split(':', 1)[0]}); only needed for --builder buildx",
                     INSTALL_HINT)
    note = "" if bx.version == BUILDX_VERSION else f"; repro is tested with {BUILDX_VERSION}"
    return Check("buildx", True, f"docker buildx {bx.version} via {bx.docker}{note}")


def check_environment() -> Check:
    host = os.environ.get("BUILDKIT_HOST")
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    notes = []
    if host:
        notes.append(f"BUILDKIT_HOST={host}: `repro build` uses that daemon unless --addr is given")
    if sde:
        notes.append(f"SOURCE_DATE_EPOCH={sde} is ignored unless passed with --source-date-epoch")
    return Check("environment", True, "; ".join(notes) or "no BUILDKIT_HOST, no SOURCE_DATE_EPOCH")


def doctor() -> list[Check]:
    rootless = os.geteuid() != 0
    why = "for rootless daemons (when not root)"
    checks = [
        check_buildkit(),
        check_helper("runc", "runc"),
        check_helper("unshare", "util-linux", required=not rootless, why="for rootful daemons"),
        check_helper("setpriv", "util-linux"),
        check_helper("rootlesskit", "rootlesskit", required=rootless, why=why),
        check_helper("newuidmap", "uidmap", required=rootless, why=why),
        check_helper("newgidmap", "uidmap", required=rootless, why=why),
        check_userns() if rootless or shutil.which("rootlesskit") else
        Check("user namespaces", True, "running as root: not needed"),
        check_subids(),
        check_overlayfs(),
        check_cgroups(),
        check_buildx(),
        check_environment(),
    ]
    if BUILDKIT_VERSION not in checks[0].detail and checks[0].ok:
        checks[0] = Check("buildkit", False, checks[0].detail, INSTALL_HINT)
    return checks
