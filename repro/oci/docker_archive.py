"""docker-archive source: the tar `docker save` and `buildctl --output type=docker` write.

Its `manifest.json` lists, per image, a config file, repo tags and layer files — either
the legacy layout (`<id>/layer.tar`, `<hex>.json`) or the Docker 25+ one (`blobs/sha256/`).
There is no registry manifest in it, so one is synthesised (canonical JSON, media type
DOCKER_MANIFEST) and the walker reads it like any other; the image digest is the config
digest, which is what docker calls the image ID.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any, BinaryIO

from repro.errors import FormatError, InputError, IntegrityError
from repro.oci import model as m
from repro.oci.archive import read_member
from repro.oci.compression import sniff
from repro.oci.limits import Limits
from repro.oci.reference import Reference, normalise_repo_tag
from repro.oci.tarindex import TarIndex, member_name
from repro.oci.verify import CHUNK, parse_json
from repro.oci.walker import Blobs, SourceImage, build_image

_LAYER_TYPES = {"none": m.DOCKER_LAYER, "gzip": m.DOCKER_LAYER_GZIP, "zstd": m.DOCKER_LAYER_ZSTD}
_HEX_NAME = re.compile(r"(?:^|/)(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?$")


class DockerBlobs(Blobs):
    """Blobs by digest: files in the tar, plus the synthesised manifest in memory."""

    def __init__(self, tar: TarIndex) -> None:
        self.tar = tar
        self.files: dict[str, str] = {}  # digest -> member name
        self.memory: dict[str, bytes] = {}
        # Compressed layers: their digest is what the archive's bytes hash to (or claim to,
        # by name), anchored to nothing; only the config's diffID is. Checking such a blob
        # means decompressing it (SourceImage.verify_blob), whatever the other side holds.
        self.unanchored: set[str] = set()  # (Blobs.unanchored)

    def size(self, digest: str) -> int | None:
        if digest in self.memory:
            return len(self.memory[digest])
        name = self.files.get(digest)
        return self.tar.members[name].size if name is not None else None

    def open(self, digest: str) -> BinaryIO:
        if digest in self.memory:
            return io.BytesIO(self.memory[digest])
        return self.tar.open(self.files[digest])  # KeyError if missing: the walker names it

    def close(self) -> None:
        self.tar.close()


def _entries(doc: Any, label: str) -> list[dict[str, Any]]:
    what = f"{label}: manifest.json"
    if not isinstance(doc, list) or not doc:
        raise FormatError(f"{what}: not a non-empty list of images")
    for i, e in enumerate(doc):
        if not isinstance(e, dict):
            raise FormatError(f"{what}: [{i}] is not an object")
        if not isinstance(e.get("Config"), str):
            raise FormatError(f"{what}: [{i}].Config is not a string")
        layers = e.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(l, str) for l in layers):
            raise FormatError(f"{what}: [{i}].Layers is not a list of strings")
        tags = e.get("RepoTags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise FormatError(f"{what}: [{i}].RepoTags is not a list of strings")
    return doc


def _choose(entries: list[dict[str, Any]], name: str, label: str) -> dict[str, Any]:
    tags = [t for e in entries for t in (e.get("RepoTags") or [])]
    listed = ", ".join(tags) if tags else "none"
    if name.startswith("@"):
        if name[1:].isdigit() and int(name[1:]) < len(entries):
            return entries[int(name[1:])]
        raise InputError(f"{label}: no image {name} (the archive holds {len(entries)})")
    if name:
        want = normalise_repo_tag(name)
        for e in entries:
            if any(normalise_repo_tag(t) == want for t in e.get("RepoTags") or []):
                return e
        raise InputError(f"{label}: no image tagged {name!r} (tags: {listed})")
    if len(entries) > 1:
        raise InputError(
            f"{label}: the archive holds {len(entries)} images; choose one with "
            f"docker-archive:PATH:REPO:TAG or :@N (tags: {listed})"
        )
    return entries[0]


def _member(tar: TarIndex, path: str, what: str) -> str:
    name = member_name(path)
    if not tar.has(name):
        raise IntegrityError(f"{tar.label}: {what} {path} is missing from the archive")
    return name


def _hash_member(tar: TarIndex, name: str, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with tar.open(name) as f:
        while data := f.read(CHUNK):
            h.update(data)
    return f"{algo}:{h.hexdigest()}"


def _diff_ids(config: Any) -> list[Any]:
    """rootfs.diff_ids if well-formed enough to use; the walker validates it properly."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return ids if isinstance(ids, list) else []


def open_docker_archive(ref: Reference, tar: TarIndex, limits: Limits, verify_all: bool) -> SourceImage:
    """`tar` is already indexed; this source owns it from here."""
    label = tar.label
    blobs = DockerBlobs(tar)
    try:
        if not tar.has("manifest.json"):
            raise FormatError(f"{label}: no manifest.json in the archive")
        entries = _entries(parse_json(read_member(tar, "manifest.json", limits), f"{label}: manifest.json"), label)
        entry = _choose(entries, ref.name, label)

        config_name = _member(tar, entry["Config"], "config file")
        config_bytes = read_member(tar, config_name, limits)
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        named = _HEX_NAME.search(config_name)
        if named and named.group(1) != config_digest.split(":")[1]:
            raise IntegrityError(f"{label}: config {config_name} does not hash to the digest in its name")
        blobs.files[config_digest] = config_name
        diff_ids = _diff_ids(parse_json(config_bytes, f"config {config_digest[:19]}…"))

        if len(entry["Layers"]) > limits.max_layers:
            raise limits.exceeded("max_layers", f"{label}: {len(entry['Layers'])} layers")
        layers = []
        for i, path in enumerate(entry["Layers"]):
            name = _member(tar, path, "layer file")
            with tar.open(name) as f:
                compression = sniff(f.read(4))
            named = re.match(r"^blobs/sha256/([0-9a-f]{64})$", name)
            if compression == "none" and i < len(diff_ids) and isinstance(diff_ids[i], str):
                digest = diff_ids[i]  # stored uncompressed: blob digest is the diffID (checked on read)
            elif named:
                digest = "sha256:" + named.group(1)
            else:
                digest = _hash_member(tar, name)  # compressed layer named by id, not content
            m.check_digest(digest, f"{label}: layer {i} digest")
            earlier = blobs.files.get(digest)
            if earlier is not None and earlier != name:
                # Two members under one digest (two layers with one diffID): blobs are
                # read by digest, so only one member would ever be opened and the other
                # never checked. Both must hash to the digest now.
                for member in (earlier, name):
                    if _hash_member(tar, member, digest.partition(":")[0]) != digest:
                        raise IntegrityError(f"{label}: layer file {member} does not hash to {digest}, "
                                             f"the diffID it is listed under")
            blobs.files[digest] = name
            if compression != "none":
                blobs.unanchored.add(digest)
            layers.append({"mediaType": _LAYER_TYPES[compression], "size": tar.members[name].size, "digest": digest})

        manifest = {
            "schemaVersion": 2,
            "mediaType": m.DOCKER_MANIFEST,
            "config": {"mediaType": m.DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
            "layers": layers,
        }
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs.memory[digest] = data
        root = m.Descriptor(m.DOCKER_MANIFEST, digest, len(data))
    except BaseException:
        blobs.close()
        raise
    return build_image(ref.text, "docker-archive", blobs, [root], limits, verify_all, digest=config_digest)
