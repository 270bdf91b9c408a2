"""environment (strict): RUN steps get one extra environment variable, so a build that
captures its whole environment (`env > file`, a build-info dump) shows it.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation


class Environment(RuntimeVariation):
    name = "environment"
    reprotest = "environment"
    changes = "RUN steps get an extra environment variable (REPRO_CAPTURE_ENVIRONMENT)"

    def value(self, index: int) -> str:
        return f"REPRO_CAPTURE_ENVIRONMENT=varied-{index}"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "env", "name": "REPRO_CAPTURE_ENVIRONMENT", "value": f"varied-{index}"}]


VARIATION = Environment()
