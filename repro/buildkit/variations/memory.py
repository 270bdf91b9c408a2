"""memory: RUN steps see a machine with half the memory, in /proc/meminfo (what build
tools that size caches or parallelism from free memory read). sysinfo(2), and so glibc's
sysconf(_SC_PHYS_PAGES), still reports the real size: a container cannot change that.
"""

from __future__ import annotations

import re

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation


class Memory(RuntimeVariation):
    name = "memory"
    reprotest = None
    changes = "RUN steps see half the memory in /proc/meminfo"
    default = True

    def unavailable(self, host: Host) -> str | None:
        return None if "MemTotal:" in host.meminfo else "/proc/meminfo has no MemTotal"

    def value(self, index: int) -> str:
        return f"/proc/meminfo MemTotal / {2 ** index}"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "mount", "destination": "/proc/meminfo",
                 "source": files.write("meminfo", scaled(host.meminfo, 2 ** index))}]


def scaled(meminfo: str, divisor: int) -> str:
    """Every kB figure of /proc/meminfo divided by `divisor`."""
    return re.sub(r"(\d+)( kB)$", lambda m: f"{int(m.group(1)) // divisor}{m.group(2)}", meminfo, flags=re.M)


VARIATION = Memory()
