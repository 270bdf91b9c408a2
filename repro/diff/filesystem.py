"""Merge a stack of layers into one filesystem view, applying whiteouts.

Used when two images have different layer counts, so layers cannot be paired by
position: the merged trees are compared instead. Follows the OCI image spec's
"Applying changesets": a `.wh.NAME` entry removes NAME (and everything below it) from
the layers beneath; a `.wh..wh..opq` entry removes every child of its directory that
came from the layers beneath, but not entries of its own layer.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Iterable

from repro.oci.model import Entry

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass
class MergedFS:
    entries: dict[str, Entry] = field(default_factory=dict)  # path -> entry, insertion = first-seen order
    layer_of: dict[str, int] = field(default_factory=dict)  # path -> index of the layer that wrote it

    def _remove_tree(self, path: str) -> None:
        prefix = path + "/" if path != "." else ""
        doomed = [p for p in self.entries if p == path or p.startswith(prefix)]
        for p in doomed:
            del self.entries[p]
            del self.layer_of[p]

    def _remove_children(self, directory: str) -> None:
        prefix = directory + "/" if directory != "." else ""
        doomed = [p for p in self.entries if p != directory and p.startswith(prefix)]
        for p in doomed:
            del self.entries[p]
            del self.layer_of[p]

    def apply(self, layer_index: int, layer_entries: Iterable[Entry]) -> None:
        """Apply one layer's changeset on top of what is merged so far."""
        entries = list(layer_entries)
        # Whiteouts act on the layers beneath only, so apply them before adding this layer.
        for e in entries:
            base = posixpath.basename(e.path)
            parent = posixpath.dirname(e.path) or "."
            if e.type == "opaque" or base == OPAQUE:
                self._remove_children(parent)
            elif e.type == "whiteout" or base.startswith(WHITEOUT_PREFIX):
                target = posixpath.join(parent, base[len(WHITEOUT_PREFIX):]) if parent != "." else base[len(WHITEOUT_PREFIX):]
                self._remove_tree(target)
        for e in entries:
            base = posixpath.basename(e.path)
            if e.type in ("whiteout", "opaque") or base.startswith(WHITEOUT_PREFIX):
                continue
            if e.path in self.entries and self.entries[e.path].type == "dir" and e.type != "dir":
                self._remove_tree(e.path)  # a non-directory replaces a whole directory
            self.entries.pop(e.path, None)  # re-insert so order follows the newest write
            self.entries[e.path] = e
            self.layer_of[e.path] = layer_index
