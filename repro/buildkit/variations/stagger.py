"""stagger: later builds start later, so a clock read at second resolution differs even
in programs libfaketime cannot reach (static binaries such as busybox `date`, Go).

Every build of a check waits until all of them are ready (daemons up), then the control
starts, and varied build i starts STEP * i seconds after it.
"""

from __future__ import annotations

from repro.buildkit.variations._base import StartVariation

STEP = 2.0  # seconds between the starts of consecutive builds


class Stagger(StartVariation):
    name = "stagger"
    reprotest = None  # reprotest runs its builds one after the other, which staggers them by a whole build
    changes = "the build starts a few seconds after the control (wall-clock time read at second resolution)"
    default = True

    def delay(self, index: int) -> float:
        return STEP * index

    def value(self, index: int) -> str:
        return f"started {self.delay(index):g}s after the control"


VARIATION = Stagger()
