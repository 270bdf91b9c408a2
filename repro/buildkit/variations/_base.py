"""What a variation is: a name, what it changes, where it is applied, what it needs,
whether it is on by default, and one hook for its place.

Places (`where`):
  context  the copy of the build context a varied build sends (ContextVariation.apply)
  start    when the build's client starts, relative to the control's (StartVariation.delay)
  runtime  the OCI runtime spec of every RUN step, through the runc wrapper of repro's
           own daemons (RuntimeVariation.edits; see _runc_wrapper.py for the edit ops)

Build 1 (index 0) is the control and is never varied; varied builds have index 1, 2, ...
and a variation may choose a different value for each.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from typing import Any, ClassVar

CONTEXT, START, RUNTIME = "context", "start", "runtime"
PLACES = (START, CONTEXT, RUNTIME)

Edit = dict[str, Any]  # one op for the runc wrapper (see _runc_wrapper.py)


class Variation:
    """One thing a varied build changes. Subclass ContextVariation, StartVariation or
    RuntimeVariation in a module of this package, and name an instance VARIATION."""

    name: ClassVar[str]                 # reprotest's name where it has one
    reprotest: ClassVar[str | None]     # reprotest's name for the same thing (None: reprotest has none)
    changes: ClassVar[str]              # what it changes, one line
    where: ClassVar[str]                # CONTEXT, START or RUNTIME
    needs: ClassVar[str] = ""           # what it needs beyond repro's own daemons ("" = nothing)
    default: ClassVar[bool] = False     # in the realistic default set (two BuildKit machines differ so)
    strict: ClassVar[bool] = True       # in `--vary all`; False only for opt-in extras

    def unavailable(self, host: Host) -> str | None:
        """Why this machine cannot apply it at all (None: it can)."""
        return None

    def value(self, index: int) -> str:
        """What varied build `index` gets, for the report ("clock +1d 1h 1m 1s")."""
        return self.changes

    def __repr__(self) -> str:
        return f"<variation {self.name}>"


class ContextVariation(Variation):
    where = CONTEXT

    def apply(self, root: str, epoch: int, index: int) -> None:
        """Change the context copy at `root` (already made, at another path)."""
        raise NotImplementedError


class StartVariation(Variation):
    where = START

    def delay(self, index: int) -> float:
        """Seconds after the control's client starts that build `index`'s may start."""
        raise NotImplementedError


class RuntimeVariation(Variation):
    where = RUNTIME

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        """The wrapper's edit ops for every RUN step of build `index` (each gets
        `variation` set to this name). `files` makes files for read-only bind mounts."""
        raise NotImplementedError


class Files:
    """Files a runtime variation bind-mounts into RUN steps, kept in the daemon's dir."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def write(self, name: str, text: str) -> str:
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path


# the machine ------------------------------------------------------------------------

FAKETIME_DIRS = ("/usr/lib/{triplet}/faketime", "/usr/lib/faketime", "/usr/lib64/faketime")
FAKETIME_LIBRARY = "libfaketime.so.1"


@dataclass(frozen=True)
class Host:
    """What the variations need to know about this machine."""

    triplet: str                         # Debian multiarch triplet: "x86_64-linux-gnu"
    elf_machine: int                     # e_machine of this machine's programs (62 = x86-64)
    cpus: tuple[int, ...]                # the CPUs this process may run on
    meminfo: str                         # /proc/meminfo
    cpuinfo: str                         # /proc/cpuinfo
    faketime_dir: str | None             # the directory holding libfaketime.so.1
    faketime_glibc: tuple[int, int]      # the newest GLIBC_x.y symbol version libfaketime needs
    faketime_needs: tuple[str, ...]      # the libraries libfaketime needs (libm.so.6, libc.so.6)
    static_busybox: str | None = None    # a statically linked busybox (runs in any rootfs of this arch)

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def probe() -> Host:
        triplet = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
        with open(sys.executable, "rb") as f:
            head = f.read(20)
        faketime = next((d for d in (p.format(triplet=triplet) for p in FAKETIME_DIRS)
                         if os.path.isfile(os.path.join(d, FAKETIME_LIBRARY))), None)
        glibc, needs = (0, 0), ()
        if faketime:
            with open(os.path.join(faketime, FAKETIME_LIBRARY), "rb") as f:
                data = f.read()
            versions = [(2, int(m)) for m in re.findall(rb"GLIBC_2\.(\d+)", data)]
            glibc = max(versions, default=(0, 0))
            needs = tuple(sorted({n.decode() for n in re.findall(rb"lib[A-Za-z0-9_+-]+\.so\.\d+", data)}
                                 - {FAKETIME_LIBRARY, "libfaketimeMT.so.1"}))
        return Host(triplet=triplet, elf_machine=int.from_bytes(head[18:20], "little"),
                    cpus=tuple(sorted(os.sched_getaffinity(0))), meminfo=_read("/proc/meminfo"),
                    cpuinfo=_read("/proc/cpuinfo"), faketime_dir=faketime, faketime_glibc=glibc,
                    faketime_needs=needs, static_busybox=_static_busybox())


def _static_busybox() -> str | None:
    """Debian's busybox-static: an ELF executable with no program interpreter."""
    for path in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if path and os.path.isfile(path) and not _has_interpreter(path):
            return os.path.realpath(path)
    return None


def _has_interpreter(path: str) -> bool:
    """True unless `path` is a 64-bit little-endian ELF without PT_INTERP (a static binary)."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return True
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except (OSError, struct.error):
        return True
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
