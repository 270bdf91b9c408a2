"""timezone (strict): RUN steps get TZ=GMT-14 (UTC+14; the next varied build GMT+12),
unless the build sets TZ itself. BuildKit sets no TZ, so every BuildKit build runs in UTC:
an image that depends on TZ is still reproduced by BuildKit; `--vary all` asks for more.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation

ZONES = ("GMT-14", "GMT+12")  # POSIX TZ strings: no tzdata needed in the rootfs


class Timezone(RuntimeVariation):
    name = "timezone"
    reprotest = "timezone"
    changes = "RUN steps get a time zone (TZ), where BuildKit sets none"

    def value(self, index: int) -> str:
        return f"TZ={ZONES[(index - 1) % len(ZONES)]}"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "env", "name": "TZ", "value": ZONES[(index - 1) % len(ZONES)]}]


VARIATION = Timezone()
