"""time: the clock inside RUN steps runs ahead, through libfaketime.

A shift of 1 day 1 h 1 min 1 s changes every resolution of a date, from days down to
seconds, and is small enough that the varied build still works: TLS certificates stay
valid and apt's `Valid-Until` is not passed (a shift of hundreds of days breaks both).
Only dynamically linked glibc programs see it: a rootfs with musl or static binaries
(busybox, Go) keeps the real clock, and the report says so per RUN step; the `stagger`
variation still moves their clock by whole seconds. Monotonic clocks are left alone.
The library is bind-mounted under /dev (a tmpfs of its own), so nothing of it reaches a
layer.
"""

from __future__ import annotations

from repro.buildkit.variations._base import FAKETIME_LIBRARY, Edit, Files, Host, RuntimeVariation

SHIFT = 86400 + 3600 + 60 + 1  # seconds: +1 day 1 h 1 min 1 s
MOUNT = "/dev/.repro-faketime"


class Time(RuntimeVariation):
    name = "time"
    reprotest = "time"
    changes = "the clock inside RUN steps runs ahead (libfaketime; dynamically linked glibc programs)"
    needs = "libfaketime (Debian package libfaketime); a glibc rootfs of this machine's architecture"
    default = True

    def unavailable(self, host: Host) -> str | None:
        if host.faketime_dir is None:
            return "libfaketime is not installed (apt-get install libfaketime)"
        return None

    def value(self, index: int) -> str:
        return f"clock {_ahead(SHIFT * index)} ahead in glibc programs"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "preload", "source_dir": host.faketime_dir, "destination": MOUNT,
                 "library": FAKETIME_LIBRARY, "triplet": host.triplet, "machine": host.elf_machine,
                 "min_glibc": list(host.faketime_glibc), "needs": list(host.faketime_needs),
                 "env": {"FAKETIME": f"+{SHIFT * index}", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}}]


def _ahead(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{days}d {hours}h {minutes}m {secs}s"


VARIATION = Time()
