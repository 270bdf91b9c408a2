"""context_mtimes: the context's files get other mtimes, as another checkout's do (git
stores none). In sorted path order, entries alternate between newer than
SOURCE_DATE_EPOCH and older; an entry already older stays older, at another time.
rewrite-timestamp clamps the newer ones, so a sound build does not see them; the older
ones pass through a plain COPY unchanged (cause `mtime-older-than-epoch`).
"""

from __future__ import annotations

from repro.buildkit.variations._base import ContextVariation
from repro.buildkit.variations._context import MTIME_OFFSET, shift_mtimes


class ContextMtimes(ContextVariation):
    name = "context_mtimes"
    reprotest = None  # reprotest's builds work on one checkout; its fileordering/build_path keep mtimes
    changes = "the context's files get other mtimes, on both sides of SOURCE_DATE_EPOCH"
    default = True

    def value(self, index: int) -> str:
        return f"mtimes epoch ±{MTIME_OFFSET // 86400}d"

    def apply(self, root: str, epoch: int, index: int) -> None:
        shift_mtimes(root, epoch, index)


VARIATION = ContextMtimes()
