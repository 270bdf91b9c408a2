"""kernel: RUN steps see another kernel release: `uname -r` says 2.6.x, through the
UNAME26 personality (what `setarch --uname-2.6` and reprotest do), which the runc
wrapper sets and the container inherits. /proc/version still names the real kernel.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation

UNAME26 = 0x0020000  # <linux/personality.h>


class Kernel(RuntimeVariation):
    name = "kernel"
    reprotest = "kernel"
    changes = "RUN steps see another kernel release (uname -r: 2.6.x, personality UNAME26)"
    default = True

    def value(self, index: int) -> str:
        return "uname -r 2.6.x"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "personality", "flags": UNAME26}]


VARIATION = Kernel()
