"""The invariants every image source must satisfy (go-containerregistry's `validate/`):
digests, sizes, diffIDs, platforms, instructions and layer entries come out as imagegen
wrote them, whatever the container format. Used by tests/oci/test_sources.py and by the
registry tests."""

from __future__ import annotations

import hashlib

from repro.oci import clean_instruction, iter_entries
from repro.oci.model import ManifestImage
from tests import imagegen as g


def read_layer(image, layer) -> tuple[list, bytes]:
    """All entries, and the sha256 of the uncompressed stream computed independently."""
    h = hashlib.sha256()

    class Tee:
        def read(self, n=-1):
            data = stream.read(n)
            h.update(data)
            return data

    with image.open_layer(layer) as stream:
        entries = list(iter_entries(Tee(), capture_limit=1 << 20))
    return entries, "sha256:" + h.hexdigest()


def validate(image, built: g.Built, spec: g.ImageSpec | g.IndexSpec, kind: str) -> None:
    """The invariants every source must satisfy for an image imagegen wrote."""
    specs = spec.images if isinstance(spec, g.IndexSpec) else [spec]
    assert image.kind == kind
    assert image.digest == built.digest
    images = [mi for mi in image.manifests if not mi.is_attestation]
    assert len(images) == len(specs) == len(built.manifests)
    for mi, want, ispec in zip(images, built.manifests, specs):
        assert isinstance(mi, ManifestImage)
        assert str(mi.platform) == ispec.platform
        assert mi.config_descriptor.digest == want.config_digest
        assert mi.config["rootfs"]["diff_ids"] == tuple(want.diff_ids)
        if kind != "docker-archive":
            assert mi.descriptor.digest == want.digest
            assert [l.descriptor.media_type for l in mi.layers] == want.layer_media_types
        assert [l.descriptor.digest for l in mi.layers] == want.layer_digests
        assert [l.diff_id for l in mi.layers] == want.diff_ids
        assert [l.index for l in mi.layers] == list(range(len(ispec.layers)))
        assert [l.instruction for l in mi.layers] == [
            clean_instruction(c) if c is not None else None for c in want.created_by
        ]
        for layer, lspec in zip(mi.layers, ispec.layers):
            entries, uncompressed = read_layer(image, layer)
            assert uncompressed == layer.diff_id
            assert [e.path for e, _ in entries] == [g.normalise(f.path) for f in lspec.files]
            for (e, content), f in zip(entries, lspec.files):
                assert e.type == f.type
                assert e.mode == f.effective_mode
                assert e.mtime == g.expected_mtime(f.mtime)
                if f.type == "file":
                    assert content == f.content
                    assert e.digest == g.sha256(f.content)
    attestations = [mi for mi in image.manifests if mi.is_attestation]
    assert [a.attests for a in attestations] == [
        w.attestation_digest and w.digest for w in built.manifests if w.attestation_digest
    ]
