"""Registry source: `docker://HOST/REPO[:TAG|@DIGEST]`, read over the distribution API
(HTTP through repro.oci.registry_client, with oras-py as the client).

Like the other sources it is only a `Blobs` for the shared walker, which verifies every
document and blob. A registry keeps indexes and manifests apart from blobs
(/manifests/ and /blobs/), so this one also implements `size_of` and `open_descriptor`.

What is fetched when an image is opened: the top-level manifest or index, every index
and manifest under it (with a platform: only that platform's manifest and its
attestations), every config (small JSON), and a HEAD per layer (it exists, its size).
Layer blobs are downloaded only when a caller opens one, streamed and verified while
read; a comparison never opens a layer whose diffID is the same on both sides, so those
are never downloaded.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import BinaryIO

from repro.errors import FormatError, IntegrityError
from repro.oci import model as m
from repro.oci.limits import Limits
from repro.oci.reference import Reference
from repro.oci.registry_client import RegistryClient
from repro.oci.registry_options import RegistryOptions
from repro.oci.verify import short
from repro.oci.walker import Blobs, SourceImage, build_image

ACCEPT = (m.OCI_INDEX, m.DOCKER_LIST, m.OCI_MANIFEST, m.DOCKER_MANIFEST)
DOCUMENT_TYPES = m.INDEX_TYPES | m.MANIFEST_TYPES
SCHEMA1_TYPES = frozenset({
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
})


class RegistryBlobs(Blobs):
    """Blobs of one repository. Documents (indexes, manifests) are fetched whole, once,
    when the walker asks for their size; everything else is streamed on open."""

    remote = True  # reading a blob downloads it: see SourceImage.verify_blob
    listed = False  # the top-level manifest is fetched by name: no listing annotates it

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self._documents: dict[str, bytes] = {}
        self._sizes: dict[str, int | None] = {}

    def seed(self, digest: str, body: bytes) -> None:
        self._documents[digest] = body

    # the Blobs protocol: content by digest, from /blobs/

    def size(self, digest: str) -> int | None:
        if digest not in self._sizes:
            self._sizes[digest] = self.client.blob_size(digest)
        return self._sizes[digest]

    def open(self, digest: str) -> BinaryIO:
        stream = self.client.open_blob(digest)
        if stream is None:
            raise KeyError(digest)  # the walker names the missing blob
        return stream  # type: ignore[return-value]

    # by descriptor: indexes and manifests from /manifests/

    def size_of(self, desc: m.Descriptor) -> int | None:
        if desc.media_type in DOCUMENT_TYPES:
            return len(self._document(desc))
        size = self.size(desc.digest)
        return desc.size if size == -1 else size  # -1: the registry did not say

    def open_descriptor(self, desc: m.Descriptor) -> BinaryIO:
        if desc.media_type in DOCUMENT_TYPES:
            return io.BytesIO(self._document(desc))
        return self.open(desc.digest)

    def _document(self, desc: m.Descriptor) -> bytes:
        if desc.digest not in self._documents:
            # one byte past the descriptor's size is enough to know it is wrong
            body, _, _ = self.client.get_manifest(desc.digest, ACCEPT, desc.size)
            self._documents[desc.digest] = body
        return self._documents[desc.digest]

    def close(self) -> None:
        self._documents.clear()
        self.client.close()


def open_registry(ref: Reference, limits: Limits, verify_all: bool, platform: m.Platform | None,
                  options: RegistryOptions) -> SourceImage:
    """Resolve REF's tag or digest to its top-level manifest or index, then walk it."""
    client = RegistryClient(ref.registry, ref.repository, options, label=ref.text)
    blobs = RegistryBlobs(client)
    try:
        reference = ref.digest or ref.tag
        body, content_type, said = client.get_manifest(reference, ACCEPT, limits.max_json_bytes)
        if len(body) > limits.max_json_bytes:
            raise limits.exceeded("max_json_bytes", f"{ref.text}: manifest")
        digest = _check_root_digest(ref, body, said)
        media_type = _media_type(body, content_type, ref.text)
        blobs.seed(digest, body)
        root = m.Descriptor(media_type, digest, len(body))
    except BaseException:
        blobs.close()
        raise
    return build_image(ref.text, "docker", blobs, [root], limits, verify_all, digest=digest, platform=platform)


def _check_root_digest(ref: Reference, body: bytes, said: str) -> str:
    """The digest of the bytes received; the one asked for (REPO@DIGEST) or announced
    (Docker-Content-Digest) must be it, or the registry sent something else."""
    algo = ref.digest.partition(":")[0] if ref.digest else "sha256"
    digest = f"{algo}:{hashlib.new(algo, body).hexdigest()}"
    if ref.digest and digest != ref.digest:
        raise IntegrityError(f"{ref.text}: digest mismatch: the registry sent a manifest for {ref.digest} "
                             f"whose content hashes to {short(digest)}")
    if said.startswith(algo + ":") and said != digest:
        raise IntegrityError(f"{ref.text}: digest mismatch: the registry says the manifest is {said} "
                             f"but its content hashes to {short(digest)}")
    return digest


def _media_type(body: bytes, content_type: str, label: str) -> str:
    """The top-level document's media type: the registry's Content-Type when it is one we
    read, else the document's own mediaType, else its shape (OCI leaves mediaType optional)."""
    if content_type in SCHEMA1_TYPES:
        raise FormatError(f"{label}: Docker schema 1 manifests are not supported (pull and push it again "
                          f"with a current tool to convert it)")
    if content_type in DOCUMENT_TYPES:
        return content_type
    try:
        doc = json.loads(body)
    except ValueError:
        raise FormatError(f"{label}: the registry's manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{label}: the registry's manifest is not a JSON object")
    declared = doc.get("mediaType")
    if declared in DOCUMENT_TYPES:
        return declared
    if declared in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise FormatError(f"{label}: Docker schema 1 manifests are not supported")
    if "manifests" in doc:
        return m.OCI_INDEX
    if "config" in doc or "layers" in doc:
        return m.OCI_MANIFEST
    raise FormatError(f"{label}: the registry sent a document of unknown type {content_type or 'none'!r}")
