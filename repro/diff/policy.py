"""What a comparison deliberately does not count: `--ignore GLOB` and `--semantic`.

Ignoring is an explicit user choice and is always reported: ignored findings are kept
apart (not deleted) and the policy is written into every report and attestation, so a
reader knows what was not compared. Explaining (repro/explain) never hides anything.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from repro.diff.finding import Finding

IMAGE_NAME_ANNOTATIONS = frozenset({"org.opencontainers.image.ref.name", "io.containerd.image.name"})
# buildkit/rewritten-timestamp: the epoch BuildKit clamped a layer's mtimes to (rewrite-timestamp)
TIME_ANNOTATIONS = frozenset({"org.opencontainers.image.created", "buildkit/rewritten-timestamp"})
TIME_PAX = frozenset({"atime", "ctime", "mtime", "LIBARCHIVE.creationtime"})


def _only_keys(f: Finding, allowed: frozenset[str]) -> bool:
    keys = f.detail.get("keys")
    return bool(keys) and all(k in allowed for k in keys)


# The --semantic preset: (name, what it ignores, predicate). Documented in docs/report-format.md.
SEMANTIC_RULES: tuple[tuple[str, str, Callable[[Finding], bool]], ...] = (
    ("timestamps", "file mtime; config created and history[].created; "
     "org.opencontainers.image.created and buildkit/rewritten-timestamp annotations; PAX atime/ctime records",
     lambda f: (f.kind == "file" and f.field == "mtime")
     or (f.kind == "config" and f.field == "created")
     or (f.kind == "config" and f.field == "history" and f.detail.get("key") == "created")
     or (f.field == "annotations" and f.detail.get("key") in TIME_ANNOTATIONS)
     or (f.kind == "file" and f.field == "pax" and _only_keys(f, TIME_PAX))),
    ("history", "config history entries (created_by, comment, empty_layer)",
     lambda f: f.kind == "config" and f.field == "history"),
    ("file-order", "the order of entries inside a layer",
     lambda f: f.field == "order"),
    ("tar-format", "PAX records, layer compression, and digests whose documents or tars "
     "are otherwise equal",
     lambda f: (f.kind == "file" and f.field == "pax")
     or (f.kind == "layer" and f.field in ("compression", "diff_id", "media_type"))
     or (f.kind in ("manifest", "config") and f.field == "digest" and f.detail.get("role") != "attestation")
     or (f.kind == "index" and f.field == "digest" and f.detail.get("formatting") is True)),
    ("packaging", "Docker v2 vs OCI media types of manifests and configs (the same image in another format)",
     lambda f: f.kind in ("manifest", "config") and f.field == "media_type"),
    ("image-name-annotations", "org.opencontainers.image.ref.name and io.containerd.image.name",
     lambda f: f.field == "annotations" and f.detail.get("key") in IMAGE_NAME_ANNOTATIONS),
    # Provenance holds build times and a random invocation id by design (moby/buildkit#3421),
    # and a published image usually has one where a rebuild with attestations off has none.
    ("attestations", "attestation manifests (provenance, SBOM): present on one side only, or different",
     lambda f: f.detail.get("role") == "attestation"
     or (f.field == "annotations" and str(f.detail.get("key", "")).startswith("vnd.docker.reference."))),
)


@dataclass(frozen=True)
class Policy:
    semantic: bool = False
    ignore: tuple[str, ...] = ()  # path globs, as given (leading "/" or "./" dropped)
    config: str = ""  # the repro.toml behind this policy (repro.cli.config), as canonical JSON; "" if none

    @classmethod
    def make(cls, semantic: bool, ignore: tuple[str, ...] | list[str],
             config: dict[str, Any] | None = None) -> "Policy":
        return cls(semantic, tuple(_norm_glob(g) for g in ignore),
                   json.dumps(config, sort_keys=True, separators=(",", ":")) if config else "")

    def reason(self, f: Finding) -> str | None:
        """Why a finding is ignored (`ignore:GLOB` or `semantic:RULE`), or None if it counts."""
        if f.path is not None:
            for g in self.ignore:
                if fnmatch.fnmatchcase(f.path, g) or fnmatch.fnmatchcase(f.path, g.rstrip("/") + "/*"):
                    return f"ignore:{g}"
        if self.semantic:
            for name, _, pred in SEMANTIC_RULES:
                if pred(f):
                    return f"semantic:{name}"
        return None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mode": "semantic" if self.semantic else "bit-for-bit",
            "ignore": list(self.ignore),
            "semantic_rules": [{"name": n, "ignores": d} for n, d, _ in SEMANTIC_RULES] if self.semantic else [],
        }
        if self.config:  # the digest then covers the file's hash and settings too
            doc["config"] = json.loads(self.config)
        doc["digest"] = "sha256:" + hashlib.sha256(
            json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return doc


def _norm_glob(g: str) -> str:
    while g.startswith("./"):
        g = g[2:]
    return g.lstrip("/")
