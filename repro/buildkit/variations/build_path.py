"""build_path: the context is sent from a copy at another path, with another directory
name. BuildKit sends files, not the client's path, so nothing inside a build sees it; it
is kept because reprotest varies it and a frontend or provenance that records the path
would be caught.
"""

from __future__ import annotations

from repro.buildkit.variations._base import ContextVariation


class BuildPath(ContextVariation):
    name = "build_path"
    reprotest = "build_path"
    changes = "the context is sent from a copy at another path, under another directory name"
    default = True

    def value(self, index: int) -> str:
        return f"context copied to …/<name>-varied-{index}"

    def apply(self, root: str, epoch: int, index: int) -> None:
        pass  # the copy's path is chosen by the orchestrator's context copy (see _context.py)


VARIATION = BuildPath()
