"""Records for images as the OCI image spec describes them.

All records are frozen: a source builds them once while opening an image, and the
differ and the renderers only read them. Raw JSON documents are kept as parsed
(`manifest`, `config`) because the differ compares them key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, ContextManager, Iterator, Mapping, Protocol

from repro.errors import FormatError

# Media types -----------------------------------------------------------------

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})

# annotation BuildKit puts on attestation manifests inside an index
ATTESTATION_REF_TYPE = "vnd.docker.reference.type"
ATTESTATION_REF_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$")


def check_digest(value: Any, where: str) -> str:
    """Return `value` if it is a well-formed sha256/sha512 digest, else raise FormatError."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise FormatError(f"{where}: invalid digest {str(value)[:80]!r}")
    return value


def freeze(obj: Any) -> Any:
    """Deep read-only view of parsed JSON (dicts become MappingProxyType, lists tuples)."""
    if isinstance(obj, dict):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """Inverse of freeze, for json.dumps."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [thaw(v) for v in obj]
    return obj


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """`os/arch[/variant]`, as buildctl and docker take it."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise FormatError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def from_json(cls, obj: Any, where: str) -> "Platform":
        if not isinstance(obj, Mapping):
            raise FormatError(f"{where}: platform is not an object")
        os_, arch = obj.get("os"), obj.get("architecture")
        variant, osv = obj.get("variant", ""), obj.get("os.version", "")
        for name, v in (("os", os_), ("architecture", arch), ("variant", variant), ("os.version", osv)):
            if not isinstance(v, str):
                raise FormatError(f"{where}: platform.{name} is not a string")
        return cls(os_, arch, variant, osv)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    artifact_type: str = ""

    @classmethod
    def from_json(cls, obj: Any, where: str) -> "Descriptor":
        """Parse and validate an OCI descriptor; `where` names it in errors."""
        if not isinstance(obj, Mapping):
            raise FormatError(f"{where}: descriptor is not an object")
        mt = obj.get("mediaType")
        if not isinstance(mt, str) or not mt:
            raise FormatError(f"{where}: descriptor has no mediaType")
        digest = check_digest(obj.get("digest"), where)
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FormatError(f"{where}: descriptor size {size!r} is not a non-negative integer")
        platform = None
        if obj.get("platform") is not None:
            platform = Platform.from_json(obj["platform"], where)
        ann = obj.get("annotations") or {}
        if not isinstance(ann, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in ann.items()
        ):
            raise FormatError(f"{where}: annotations must map strings to strings")
        at = obj.get("artifactType", "")
        if not isinstance(at, str):
            raise FormatError(f"{where}: artifactType is not a string")
        return cls(mt, digest, size, platform, MappingProxyType(dict(ann)), at)

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(ATTESTATION_REF_TYPE) == ATTESTATION_MANIFEST


@dataclass(frozen=True)
class LayerRef:
    """One layer of one image manifest, with the history entry that made it."""

    index: int  # 0-based position in the manifest's `layers`
    descriptor: Descriptor
    diff_id: str  # from the config's rootfs.diff_ids (same position)
    instruction: str | None  # cleaned `created_by` of the non-empty history entry, if any


@dataclass(frozen=True)
class ManifestImage:
    """One image manifest (one platform, or one attestation) with its config and layers."""

    descriptor: Descriptor  # of the manifest itself (synthesised for docker-archive)
    platform: Platform | None  # from the index descriptor, else from the config
    manifest: Mapping[str, Any]  # parsed manifest JSON (frozen)
    config_descriptor: Descriptor
    config: Mapping[str, Any]  # parsed config JSON (frozen); {} for attestation manifests' non-image configs
    layers: tuple[LayerRef, ...]
    attests: str | None = None  # for an attestation manifest: digest of the image manifest it describes

    @property
    def is_attestation(self) -> bool:
        """Only a manifest without image layers: the walker sets `attests` for BuildKit's
        attestation manifests and OCI referrers, never for one that holds tar layers,
        whatever its descriptor's annotations say."""
        return self.attests is not None


@dataclass(frozen=True, slots=True)  # slots: a layer may hold a million of these
class Entry:
    """One tar entry of one layer, as recorded by the layer index.

    `path` is normalised: no leading `/` or `./`, no trailing `/`, `.` for the root.
    Whiteouts keep their `.wh.` names here; `type` says `whiteout` or `opaque`.
    """

    path: str
    type: str  # file | dir | symlink | hardlink | char | block | fifo | whiteout | opaque
    mode: int  # permission bits incl. setuid/setgid/sticky (not the type bits)
    uid: int
    gid: int
    uname: str
    gname: str
    size: int
    mtime: str  # seconds since the epoch as a decimal string, sub-second digits kept ("1700000000.25")
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    pax: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # records not broken out above
    digest: str | None = None  # sha256 of the content, regular files only
    position: int = 0  # 0-based index of the entry in its layer


class Image(Protocol):
    """An opened image reference. Every source (OCI archive, OCI layout, docker-archive,
    registry) implements this, so a caller never asks where an image came from."""

    ref: str  # as the user gave it
    kind: str  # oci-archive | oci | docker-archive | docker
    digest: str  # the top-level manifest or index digest
    index: Mapping[str, Any] | None  # the top-level index JSON, when there is one
    manifests: tuple[ManifestImage, ...]  # every image manifest, nested indexes walked (each descriptor once)
    indexes: Mapping[str, Mapping[str, Any]]  # every index document walked, by digest (frozen)
    # whether the top-level manifest was found through a listing (index.json, manifest.json)
    # that gives its descriptor annotations of its own; False when fetched by name (a registry)
    listed: bool

    def open_layer(self, layer: LayerRef) -> ContextManager[BinaryIO]:
        """The uncompressed layer tar, streamed. Reading it to EOF verifies the blob's
        digest and size and the diffID; a mismatch raises IntegrityError."""
        ...

    def verify_blob(self, layer: LayerRef) -> None:
        """Hash the stored layer blob against its descriptor and check its compression
        magic, without decompressing (for layers a comparison does not read)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Image": ...

    def __exit__(self, *exc: object) -> None: ...


EntryStream = Iterator[tuple[Entry, "bytes | None"]]
