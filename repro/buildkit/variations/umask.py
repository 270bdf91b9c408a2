"""umask (strict): RUN steps run with umask 0002 instead of BuildKit's 0022, so files they
create are group-writable unless the build sets modes itself.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation


class Umask(RuntimeVariation):
    name = "umask"
    reprotest = "umask"
    changes = "RUN steps run with umask 0002 instead of BuildKit's 0022"

    def value(self, index: int) -> str:
        return "umask 0002"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "umask", "value": 0o002}]


VARIATION = Umask()
