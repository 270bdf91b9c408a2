"""The generic walk from a root to verified ManifestImages, shared by every source.

This is go-containerregistry's `partial` idea: a source only provides blobs by digest
(`Blobs`: stored size, raw stream) and its root (index.json, or a synthesised manifest);
everything else — index → nested indexes → manifests → config → LayerRefs, and every
check on the way — is here, once, so all sources are equally suspicious.
"""

from __future__ import annotations

import hashlib
import zlib
from contextlib import contextmanager
from typing import AbstractSet, Any, BinaryIO, Iterator, Mapping, Protocol, Sequence

import zstandard

from repro.errors import FormatError, InputError, IntegrityError, LimitError, ReproError
from repro.oci import model as m
from repro.oci.compression import check_magic, compression_of, decompress
from repro.oci.history import layer_instructions
from repro.oci.limits import Limits
from repro.oci.verify import CHUNK, BlobIntegrityError, VerifyingReader, parse_json, short

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # BuildKit and docker save write both
IMAGE_CONFIG_TYPES = frozenset({m.OCI_CONFIG, m.DOCKER_CONFIG})


class Blobs(Protocol):
    """What a source must provide: content-addressed blobs, unverified (`size`, `open`,
    `close`). Every source subclasses this protocol, so it also has the optional
    capabilities below, declared here with the defaults a plain store needs; a source
    overrides those that apply to it.

    - A store that keeps blobs apart by what they are (a registry serves indexes and
      manifests from /manifests/, everything else from /blobs/) overrides
      `size_of(descriptor)` and `open_descriptor(descriptor)`.
    - A store where reading a blob means downloading it sets `remote = True`: then
      `verify_blob` does not hash layers a comparison skips (see there).
    - A store that made up a blob's digest from its bytes (docker-archive's compressed
      layers) lists it in `unanchored`: only the diffID vouches for those.
    - A store whose top-level manifest is fetched by name, so that no listing gives its
      descriptor annotations of its own (a registry), sets `listed = False`.
    """

    remote: bool = False
    listed: bool = True
    unanchored: AbstractSet[str] = frozenset()

    def size(self, digest: str) -> int | None:
        """Stored size of the blob, None if it is missing."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """The stored bytes; the caller verifies them."""
        ...

    def close(self) -> None: ...

    def size_of(self, desc: m.Descriptor) -> int | None:
        """Stored size of the blob a descriptor names."""
        return self.size(desc.digest)

    def open_descriptor(self, desc: m.Descriptor) -> BinaryIO:
        """The stored bytes of the blob a descriptor names."""
        return self.open(desc.digest)


class SourceImage:
    """The Image every source returns (see model.Image)."""

    def __init__(
        self,
        ref: str,
        kind: str,
        digest: str,
        index: Mapping[str, Any] | None,
        manifests: Sequence[m.ManifestImage],
        blobs: Blobs,
        limits: Limits,
        indexes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.ref, self.kind, self.digest, self.index = ref, kind, digest, index
        self.listed = blobs.listed
        self.manifests = tuple(manifests)
        self.indexes = dict(indexes or {})
        self._blobs = blobs
        self._limits = limits
        self._closed = False

    def _label(self, layer: m.LayerRef) -> str:
        """`REF: layer 2 of linux/amd64`: a diff reads two images, so name the image too."""
        # identity first: platforms often share equal layers, and the message should
        # name the manifest the caller is actually reading
        owner = next((mi for mi in self.manifests if any(l is layer for l in mi.layers)), None)
        owner = owner or next((mi for mi in self.manifests if layer in mi.layers), None)
        if owner is None:
            where = f"layer {layer.index} ({short(layer.descriptor.digest)})"
        elif owner.is_attestation:
            where = f"layer {layer.index} of attestation manifest {short(owner.descriptor.digest)}"
        elif owner.platform is not None:
            where = f"layer {layer.index} of {owner.platform}"
        else:
            where = f"layer {layer.index} of manifest {short(owner.descriptor.digest)}"
        return f"{self.ref}: {where}"

    @contextmanager
    def open_layer(self, layer: m.LayerRef) -> Iterator[BinaryIO]:
        """The uncompressed layer tar (or, for a non-tar layer such as an attestation
        payload, the blob itself), verified against digest, size and diffID at EOF."""
        if self._closed:
            raise InputError(f"{self.ref}: image is closed")
        label = self._label(layer)
        desc = layer.descriptor
        blob = _Guarded(open_verified(self._blobs, desc), label)
        stream: Any = blob
        try:
            compression = compression_of(desc.media_type)
            if compression is not None:
                stream = _Guarded(decompress(blob, compression, label), label)
                # an uncompressed blob whose digest is its diffID is already being hashed
                if not (compression == "none" and layer.diff_id == desc.digest):
                    stream = VerifyingReader(stream, layer.diff_id, None, label, "diffID", self._limit(label))
            stream = _LayerStream(stream, blob, label)
            yield stream
        except (FormatError, IntegrityError, LimitError) as e:
            # raised by the reader of the stream (the layer tar parser) or by the blob's
            # own checks: make sure the one line says which image and layer
            if label in str(e):
                raise
            raise type(e)(f"{label}: {e}") from e
        finally:
            stream.close()

    def verify_blob(self, layer: m.LayerRef) -> None:
        """Check a layer blob without decompressing it: its bytes hash to the digest and
        size of its descriptor, and its first bytes announce its media type's compression.
        For layers a comparison does not read (equal digests): no verdict on unread bytes.

        Not for a remote store (a registry): hashing would download every layer, and the
        point of comparing by digest is that equal layers are never fetched. There the
        equal digest is the verdict: the published manifest names the very bytes the
        other side has. Opening the image checked that the registry has the blob at its
        size; `verify_all` downloads and hashes every blob."""
        if self._closed:
            raise InputError(f"{self.ref}: image is closed")
        if self._blobs.remote:
            return
        if layer.descriptor.digest in self._blobs.unanchored:
            # a digest the source made up from the bytes (docker-archive's compressed
            # layers): only the diffID vouches for them
            with self.open_layer(layer) as stream:
                while stream.read(CHUNK):
                    pass
            return
        label = self._label(layer)
        desc = layer.descriptor
        blob = _Guarded(open_verified(self._blobs, desc), label)
        try:
            head = blob.read(4)
            while len(head) < 4 and (more := blob.read(4 - len(head))):
                head += more
            compression = compression_of(desc.media_type)
            if compression is not None:
                check_magic(head, compression, label)
            while blob.read(CHUNK):
                pass
        except (FormatError, IntegrityError) as e:
            if label in str(e):
                raise
            raise type(e)(f"{label}: {e}") from e
        finally:
            blob.close()

    def _limit(self, label: str) -> Any:
        limit = self._limits.max_layer_bytes

        def check(count: int) -> None:
            if count > limit:
                raise self._limits.exceeded("max_layer_bytes", f"{label}: uncompressed size")

        return check

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._blobs.close()

    def __enter__(self) -> "SourceImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{self.kind} image {self.ref} {self.digest}>"


def open_verified(blobs: Blobs, desc: m.Descriptor) -> VerifyingReader:
    try:
        raw = blobs.open_descriptor(desc)
    except KeyError:
        raise IntegrityError(f"blob {desc.digest} is missing") from None
    except OSError as e:
        raise IntegrityError(f"blob {desc.digest}: cannot read: {e.strerror or e}") from None
    return VerifyingReader(raw, desc.digest, desc.size, f"blob {desc.digest}")


class _Guarded:
    """Turns low-level read errors (OSError from a vanished file, a decompressor's own
    exceptions) into one-line ReproErrors, so no raw exception reaches a caller."""

    def __init__(self, inner: Any, label: str) -> None:
        self._inner, self._label = inner, label

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except ReproError:
            raise
        except OSError as e:
            raise InputError(f"{self._label}: read failed: {e.strerror or e}") from None
        except (ValueError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise FormatError(f"{self._label}: read failed: {e}") from None

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._inner.close()
        except OSError:
            pass


class _LayerStream(_Guarded):
    """The stream open_layer hands out. Corrupt compressed data is most often a tampered
    blob, so before reporting a FormatError it reads the rest of the blob: if the blob
    does not match its digest, that IntegrityError is the one reported."""

    def __init__(self, inner: Any, blob: _Guarded, label: str) -> None:
        super().__init__(inner, label)
        self._blob = blob

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except FormatError as e:
            blamed = blob_error(self._blob)
            if blamed is not None:
                raise blamed from e
            raise


def blob_error(blob: Any) -> BlobIntegrityError | None:
    """Read `blob` (a verifying stream) to EOF; the IntegrityError it raises, if any."""
    try:
        while blob.read(CHUNK):
            pass
    except BlobIntegrityError as e:
        return e
    except (ReproError, OSError, ValueError):
        return None
    return None


class Walker:
    """Walks documents from a root, verifying each blob before it is parsed."""

    def __init__(self, blobs: Blobs, limits: Limits, platform: m.Platform | None = None) -> None:
        self.blobs, self.limits = blobs, limits
        self.platform = platform  # walk only this platform's manifests (and their attestations)
        self.documents = 0
        self.manifests: list[m.ManifestImage] = []
        self.root_index: Mapping[str, Any] | None = None  # the first index document read
        self.skipped: set[str] = set()  # platforms of index entries left out by `platform`
        # every index document walked, by digest (the differ compares the tree of them)
        self.indexes: dict[str, Mapping[str, Any]] = {}
        # each document is read, verified and parsed once, however often it is listed: a
        # 1 MiB manifest referenced 1000 times costs 1 MiB, not 1 GB
        self._documents: dict[tuple[str, int], Any] = {}  # parsed, never changed
        self._frozen: dict[tuple[str, int], Any] = {}
        self._manifests: dict[tuple[Any, ...], m.ManifestImage] = {}
        self._others: set[str] = set()

    # -- blobs ---------------------------------------------------------------

    def check_stored(self, desc: m.Descriptor, what: str) -> None:
        """Cheap open-time check: the blob exists and has the size its descriptor says."""
        stored = self.blobs.size_of(desc)
        if stored is None:
            raise IntegrityError(f"{what}: blob {desc.digest} is missing")
        if stored != desc.size:
            raise IntegrityError(
                f"{what}: blob {desc.digest} has {stored} bytes but its descriptor says {desc.size}"
            )

    def read_json(self, desc: m.Descriptor, what: str) -> Any:
        """A whole JSON document, verified against its descriptor before parsing, and
        frozen; read once per digest and size."""
        key = (desc.digest, desc.size)
        if key not in self._documents:
            self._documents[key] = self._read_json(desc, what)
        return self._documents[key]

    def frozen(self, desc: m.Descriptor, doc: Any) -> Any:
        """m.freeze(doc) of the document read for `desc`, made once per digest."""
        key = (desc.digest, desc.size)
        if key not in self._frozen:
            self._frozen[key] = m.freeze(doc)
        return self._frozen[key]

    def _read_json(self, desc: m.Descriptor, what: str) -> Any:
        if desc.size > self.limits.max_json_bytes:
            raise self.limits.exceeded("max_json_bytes", f"{what}: {desc.size} bytes")
        self.check_stored(desc, what)
        reader = _Guarded(open_verified(self.blobs, desc), what)
        try:
            data = b"".join(iter(lambda: reader.read(CHUNK), b""))
        finally:
            reader.close()
        return parse_json(data, what)

    def hash_layer(self, desc: m.Descriptor) -> None:
        reader = _Guarded(open_verified(self.blobs, desc), f"blob {desc.digest}")
        try:
            while reader.read(CHUNK):
                pass
        finally:
            reader.close()

    # -- documents -------------------------------------------------------------

    def visit(self, desc: m.Descriptor, depth: int, strict: bool) -> None:
        """Walk one descriptor from an index; unknown media types are skipped as the
        OCI spec asks of index entries, except at the root (`strict`)."""
        self.documents += 1
        if self.documents > self.limits.max_manifests:
            raise self.limits.exceeded("max_manifests", f"image lists {self.documents} documents")
        if desc.media_type in m.INDEX_TYPES:
            if depth >= self.limits.max_index_depth:
                raise self.limits.exceeded("max_index_depth", f"index {short(desc.digest)}: nesting")
            what = f"index {short(desc.digest)}"
            doc = self.read_json(desc, what)
            children = parse_index(doc, what, desc.media_type)
            if self.root_index is None:
                self.root_index = self.frozen(desc, doc)
            first = desc.digest not in self.indexes
            self.indexes[desc.digest] = self.frozen(desc, doc)
            for child in self.chosen(children):
                if first or child.media_type in m.INDEX_TYPES:  # counted again, never re-read
                    self.visit(child, depth + 1, strict=False)
                else:
                    self.documents += 1
                    if self.documents > self.limits.max_manifests:
                        raise self.limits.exceeded("max_manifests", f"image lists {self.documents} documents")
        elif desc.media_type in m.MANIFEST_TYPES:
            key = (desc.media_type, desc.digest, desc.size, desc.platform, desc.artifact_type,
                   tuple(sorted(desc.annotations.items())))
            if key not in self._manifests:  # the same descriptor listed again is the same image
                self._manifests[key] = self.manifest(desc)
                self.manifests.append(self._manifests[key])
        elif strict:
            raise FormatError(f"descriptor {short(desc.digest)}: unknown media type {desc.media_type!r}")
        elif desc.digest not in self._others:
            # Not ours to read (a signature, an SBOM, a future type), but a blob the image
            # references all the same: it must exist at its size, and (where reading is
            # cheap) hash to its digest, as go-containerregistry's validate checks it.
            self._others.add(desc.digest)
            what = f"index entry {short(desc.digest)} ({desc.media_type})"
            if desc.size > self.limits.max_layer_bytes:
                raise self.limits.exceeded("max_layer_bytes", f"{what}: {desc.size} bytes")
            self.check_stored(desc, what)
            if not self.blobs.remote:
                self.hash_layer(desc)

    def chosen(self, children: list[m.Descriptor]) -> list[m.Descriptor]:
        """The index entries to walk: all of them, or with `platform` the manifests for it,
        entries that name no platform (nested indexes, manifests to be read to know), and
        the attestation manifests of the chosen ones. Others are never fetched."""
        if self.platform is None:
            return children
        want = str(self.platform)
        kept: list[m.Descriptor] = []
        for child in children:
            if child.is_attestation:
                continue
            if child.platform is None or str(child.platform) == want:
                kept.append(child)
            else:
                self.skipped.add(str(child.platform))
        digests = {c.digest for c in kept}
        attestations = [c for c in children if c.is_attestation
                        and c.annotations.get(m.ATTESTATION_REF_DIGEST) in digests]
        return [c for c in children if c in kept or c in attestations]

    def manifest(self, desc: m.Descriptor) -> m.ManifestImage:
        what = f"manifest {short(desc.digest)}"
        doc = self.read_json(desc, what)
        _check_document(doc, what, desc.media_type)
        config_desc = m.Descriptor.from_json(doc.get("config"), f"{what}: config")
        raw_layers = doc.get("layers")
        if not isinstance(raw_layers, list):
            raise FormatError(f"{what}: layers is not a list")
        if len(raw_layers) > self.limits.max_layers:
            raise self.limits.exceeded("max_layers", f"{what}: {len(raw_layers)} layers")
        layers = [m.Descriptor.from_json(l, f"{what}: layers[{i}]") for i, l in enumerate(raw_layers)]

        # An attestation (BuildKit's annotation, or an OCI 1.1 referrer with a subject) is
        # compared by digest only; a manifest with image layers is an image whatever it
        # says, or --semantic could be told to skip a whole image.
        attests = _attests(desc, doc, what)
        if attests is not None and any(compression_of(l.media_type) is not None for l in layers):
            attests = None
        is_image = attests is None
        if is_image and config_desc.media_type not in IMAGE_CONFIG_TYPES:
            raise FormatError(f"{what}: config.mediaType {config_desc.media_type!r} is not an image config")
        for i, layer in enumerate(layers):
            if is_image and compression_of(layer.media_type) is None:
                raise FormatError(f"{what}: layers[{i}].mediaType: unknown layer media type {layer.media_type!r}")
            if layer.size > self.limits.max_layer_bytes:
                raise self.limits.exceeded("max_layer_bytes", f"{what}: layers[{i}]: {layer.size} bytes")
            self.check_stored(layer, f"{what}: layers[{i}]")

        config_what = f"config {short(config_desc.digest)}"
        if is_image:
            config = self.read_json(config_desc, config_what)
            diff_ids, instructions = _image_config(config, config_what, len(layers))
        else:
            # attestation/artifact: verify the config blob, but it need not be an image config
            try:
                config = self.read_json(config_desc, config_what)
            except FormatError:
                config = {}
            if not isinstance(config, dict) or config_desc.media_type not in IMAGE_CONFIG_TYPES:
                config = {}
            diff_ids = [l.digest for l in layers]  # payloads are not tars: no diffIDs
            instructions = [None] * len(layers)

        platform = desc.platform
        if platform is None and is_image:
            platform = _config_platform(config)
        refs = tuple(
            m.LayerRef(i, layers[i], diff_ids[i], instructions[i]) for i in range(len(layers))
        )
        return m.ManifestImage(
            descriptor=desc,
            platform=platform,
            manifest=self.frozen(desc, doc),
            config_descriptor=config_desc,
            config=self.frozen(config_desc, config) if config else m.freeze({}),
            layers=refs,
            attests=attests,
        )


def _check_document(doc: Any, what: str, media_type: str | None) -> None:
    if not isinstance(doc, dict):
        raise FormatError(f"{what}: not a JSON object")
    version = doc.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise FormatError(f"{what}: schemaVersion is {version!r}, not 2")
    declared = doc.get("mediaType")
    if declared is not None and media_type is not None and declared != media_type:
        raise FormatError(f"{what}: mediaType {declared!r} differs from its descriptor's {media_type!r}")


def parse_index(doc: Any, what: str, media_type: str | None) -> list[m.Descriptor]:
    _check_document(doc, what, media_type)
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise FormatError(f"{what}: manifests is not a list")
    return [m.Descriptor.from_json(d, f"{what}: manifests[{i}]") for i, d in enumerate(manifests)]


def _attests(desc: m.Descriptor, doc: Mapping[str, Any], what: str) -> str | None:
    """For a BuildKit attestation manifest (or an OCI 1.1 artifact with a subject), the
    digest of the image manifest it describes."""
    if desc.is_attestation:
        return m.check_digest(desc.annotations.get(m.ATTESTATION_REF_DIGEST), f"{what}: {m.ATTESTATION_REF_DIGEST}")
    subject = doc.get("subject")
    if subject is not None:
        return m.Descriptor.from_json(subject, f"{what}: subject").digest
    return None


def _image_config(config: Any, what: str, layer_count: int) -> tuple[list[str], list[str | None]]:
    if not isinstance(config, dict):
        raise FormatError(f"{what}: not a JSON object")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise FormatError(f"{what}: rootfs is not an object")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise FormatError(f"{what}: rootfs.diff_ids is not a list")
    for i, d in enumerate(diff_ids):
        m.check_digest(d, f"{what}: rootfs.diff_ids[{i}]")
    if len(diff_ids) != layer_count:
        raise FormatError(
            f"{what}: rootfs.diff_ids has {len(diff_ids)} entries but the manifest has {layer_count} layers"
        )
    history = config.get("history")
    if history is not None and not isinstance(history, list):
        raise FormatError(f"{what}: history is not a list")
    return diff_ids, layer_instructions(history, layer_count)


def _config_platform(config: Mapping[str, Any]) -> m.Platform | None:
    os_, arch = config.get("os"), config.get("architecture")
    if not (isinstance(os_, str) and isinstance(arch, str) and os_ and arch):
        return None
    variant, osv = config.get("variant", ""), config.get("os.version", "")
    return m.Platform(
        os_, arch, variant if isinstance(variant, str) else "", osv if isinstance(osv, str) else ""
    )


def build_image(
    ref: str,
    kind: str,
    blobs: Blobs,
    roots: Sequence[m.Descriptor],
    limits: Limits,
    verify_all: bool,
    *,
    digest: str,
    index: Mapping[str, Any] | None = None,
    platform: m.Platform | None = None,
) -> SourceImage:
    """Walk `roots` and return the opened image; closes `blobs` on failure.

    `index` is the top-level index when the caller has it (index.json itself); else,
    for a single root that is an index, that index document. With `platform`, index
    entries for other platforms are not read, and an index without that platform is an
    InputError.
    """
    try:
        walker = Walker(blobs, limits, platform)
        for root in roots:
            walker.visit(root, 0, strict=True)
        if platform is not None and walker.skipped and not any(
            str(mi.platform) == str(platform) for mi in walker.manifests if not mi.is_attestation
        ):
            raise InputError(
                f"{ref}: platform {platform} is not in the index; it has: {', '.join(sorted(walker.skipped))}"
            )
        if index is None and len(roots) == 1 and roots[0].media_type in m.INDEX_TYPES:
            index = walker.root_index
        if verify_all:
            seen: set[str] = set()
            for mi in walker.manifests:
                for layer in mi.layers:
                    if layer.descriptor.digest not in seen:
                        seen.add(layer.descriptor.digest)
                        walker.hash_layer(layer.descriptor)
        return SourceImage(ref, kind, digest, index, walker.manifests, blobs, limits, walker.indexes)
    except BaseException:
        blobs.close()
        raise


def open_from_index_json(
    ref: str, kind: str, blobs: Blobs, data: bytes, refname: str, limits: Limits, verify_all: bool, label: str
) -> SourceImage:
    """An OCI layout's root: index.json, with the image chosen by REFNAME if given.

    One chosen descriptor is the image (its digest is the image digest, as skopeo and
    registries see it). Several unnamed ones (platform manifests listed directly, as some
    tools write) make index.json itself the top-level index, digested as stored.
    """
    try:
        what = f"{label}: index.json"
        doc = parse_json(data, what)
        descs = parse_index(doc, what, m.OCI_INDEX if isinstance(doc, dict) and "mediaType" in doc else None)
        roots = _select(descs, refname, label, kind)
    except BaseException:
        blobs.close()
        raise
    if len(roots) == 1:
        return build_image(ref, kind, blobs, roots, limits, verify_all, digest=roots[0].digest)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return build_image(ref, kind, blobs, roots, limits, verify_all, digest=digest, index=m.freeze(doc))


def _name(desc: m.Descriptor) -> str:
    return desc.annotations.get(CONTAINERD_NAME) or desc.annotations.get(REF_NAME) or ""


def _select(descs: list[m.Descriptor], refname: str, label: str, kind: str) -> list[m.Descriptor]:
    names = sorted({_name(d) for d in descs if _name(d)})
    if refname:
        chosen = [
            d for d in descs if refname in (d.annotations.get(REF_NAME), d.annotations.get(CONTAINERD_NAME))
        ]
        if not chosen:
            listed = ", ".join(names) if names else "none"
            raise InputError(f"{label}: no image named {refname!r} in index.json (names: {listed})")
        return chosen
    if not descs:
        raise InputError(f"{label}: index.json lists no images")
    if len(descs) > 1 and len(names) > 1:
        raise InputError(
            f"{label}: index.json holds {len(names)} images; choose one with {kind}:PATH:NAME "
            f"(names: {', '.join(names)})"
        )
    return descs
