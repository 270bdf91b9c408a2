"""exec_path (strict): RUN steps get an extra (empty) directory at the end of PATH, so a
build that records PATH shows it.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation

EXTRA = "/repro/capture-the-path"


class ExecPath(RuntimeVariation):
    name = "exec_path"
    reprotest = "exec_path"
    changes = f"RUN steps get {EXTRA} appended to PATH"

    def value(self, index: int) -> str:
        return f"PATH=…:{EXTRA}"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "env_append", "name": "PATH", "value": ":" + EXTRA}]


VARIATION = ExecPath()
