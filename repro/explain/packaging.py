"""Packaging is not reproducibility: two images that hold the same layers and config but
are stored differently (an OCI archive and a docker-archive of one image, or exports with
other media types) differ only in media types, layer compression, annotations and the
digests of documents that are otherwise equal. `explain` gives every finding of such a
comparison the one cause `packaging` (repro/explain/catalogue.py), and `--semantic` sets
them aside (repro/diff/policy.py)."""

from __future__ import annotations

from typing import Iterable

from repro.diff.finding import Finding

PACKAGING_FIELDS = frozenset({"media_type", "compression", "annotations", "digest"})


def packaging_only(findings: Iterable[Finding]) -> bool:
    """Whether two images differ only in how they are packaged: every finding is a media
    type, a layer's compression (diffID equal), an annotation or a digest whose document
    is otherwise equal — nothing in a file, a layer's content or the config — and at
    least one media type is Docker's on one side and OCI's on the other (two OCI builds
    that only compress differently are `compression`, a build setting to pin)."""
    crossing = False
    for f in findings:
        if f.kind == "file" or f.field not in PACKAGING_FIELDS or f.detail.get("role") == "attestation":
            return False
        if f.field == "media_type":
            families = {"docker" if "vnd.docker." in str(v) else "oci" if "vnd.oci." in str(v) else "?"
                        for v in (f.a, f.b)}
            crossing = crossing or families == {"docker", "oci"}
    return crossing
