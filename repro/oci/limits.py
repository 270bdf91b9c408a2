"""Safety limits for reading untrusted images.

An image is input from anyone: a hostile one could nest indexes forever, list a million
manifests, or claim a terabyte layer. Each limit has a generous default and a CLI flag of
the same name; the LimitError says which flag raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from repro.errors import LimitError

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    max_index_depth: int = 8  # nested indexes below the top-level one
    max_manifests: int = 1024  # index and manifest documents visited in one image
    max_layers: int = 1024  # layers in one manifest
    max_json_bytes: int = 16 * MiB  # any one index, manifest or config document
    max_entries_per_layer: int = 300_000  # tar entries in one layer: memory grows with them (docs/security.md)
    max_layer_bytes: int = 64 * GiB  # one layer, compressed or uncompressed

    def exceeded(self, name: str, what: str) -> LimitError:
        """A LimitError for limit `name`, e.g. exceeded("max_layers", "manifest sha256:…: 2000 layers")."""
        value = getattr(self, name)
        flag = "--" + name.replace("_", "-")
        return LimitError(f"{what}: exceeds {name}={value}; raise with {flag}")
