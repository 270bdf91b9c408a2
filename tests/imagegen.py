"""Deterministic writer of small test images, for everyone's tests.

Describe an image with dataclasses, write it in any of the three formats repro reads:

    from tests import imagegen as g     # the one import style of the test suite
    from tests.imagegen import LayerSpec, ImageSpec, write_image, vary

    spec = ImageSpec(layers=[
        LayerSpec([g.dir("etc"), g.file("etc/hostname", b"box\\n", mtime="1700000000.25")],
                  created_by="COPY hostname /etc/ # buildkit"),
        LayerSpec([g.file("app/run", b"#!/bin/sh\\n", mode=0o755), g.whiteout("tmp/x")],
                  compression="zstd"),
    ], labels={"a": "b"})
    built = write_image(spec, tmp_path / "a.tar")                    # oci-archive (default)
    write_image(spec, tmp_path / "lay", format="oci")                 # OCI layout directory
    write_image(spec, tmp_path / "d.tar", format="docker-archive")    # docker save style
    other = vary(spec, 0, "etc/hostname", content=b"other\\n")         # differs in exactly that
    other = vary_image(spec, labels={"a": "c"})                       # ... or in one image field

`write_image` returns a `Built`: the digests repro should report (image digest, per
manifest: digest, config digest, layer digests, diffIDs) and `files`, every file of the
archive/layout by name, so a test can tamper with one and `write_files` it back.

Everything is deterministic: same spec, same bytes (gzip header mtime 0, fixed tar
metadata for the archive itself, JSON key order fixed).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import posixpath
import tarfile
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable

import zstandard

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "zstd"): "application/vnd.docker.image.rootfs.diff.tar.zstd",
}
EPOCH = 1700000000
CREATED = "2023-11-14T22:13:20Z"
IN_TOTO = "application/vnd.in-toto+json"


# -- specs -------------------------------------------------------------------------


@dataclass
class FileSpec:
    """One tar entry. `path` is the name in the tar (whiteouts: the `.wh.` name).
    `mtime` as a string keeps sub-second digits exactly ("1700000000.25")."""

    path: str
    content: bytes = b""
    type: str = "file"  # file|dir|symlink|hardlink|char|block|fifo|whiteout|opaque
    mode: int | None = None  # default 0o755 dir, 0o777 symlink, 0o644 otherwise
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int | str = EPOCH
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    pax: dict[str, str] = field(default_factory=dict)  # extra PAX records, e.g. {"atime": "1.5"}

    @property
    def effective_mode(self) -> int:
        if self.mode is not None:
            return self.mode
        return {"dir": 0o755, "symlink": 0o777}.get(self.type, 0o644)


def file(path: str, content: bytes = b"", **kw: Any) -> FileSpec:
    return FileSpec(path, content, "file", **kw)


def dir(path: str, **kw: Any) -> FileSpec:  # noqa: A001 - reads well in specs
    return FileSpec(path, b"", "dir", **kw)


def symlink(path: str, target: str, **kw: Any) -> FileSpec:
    return FileSpec(path, b"", "symlink", linkname=target, **kw)


def hardlink(path: str, target: str, **kw: Any) -> FileSpec:
    return FileSpec(path, b"", "hardlink", linkname=target, **kw)


def char(path: str, major: int, minor: int, **kw: Any) -> FileSpec:
    return FileSpec(path, b"", "char", devmajor=major, devminor=minor, **kw)


def block(path: str, major: int, minor: int, **kw: Any) -> FileSpec:
    return FileSpec(path, b"", "block", devmajor=major, devminor=minor, **kw)


def fifo(path: str, **kw: Any) -> FileSpec:
    return FileSpec(path, b"", "fifo", **kw)


def whiteout(deleted: str, **kw: Any) -> FileSpec:
    """Entry that deletes `deleted` from lower layers: `dir/.wh.name`."""
    d, base = posixpath.split(deleted)
    return FileSpec(posixpath.join(d, ".wh." + base), b"", "whiteout", **kw)


def opaque(directory: str, **kw: Any) -> FileSpec:
    """Marks `directory` opaque: `directory/.wh..wh..opq`."""
    return FileSpec(posixpath.join(directory, ".wh..wh..opq"), b"", "opaque", **kw)


@dataclass
class LayerSpec:
    files: list[FileSpec]
    compression: str = "gzip"  # gzip | zstd | none
    created_by: str | None = None  # None: "RUN /bin/sh -c layer-<i> # buildkit"
    comment: str = "buildkit.dockerfile.v0"
    gzip_level: int = 6  # a different level: same diffID, different blob digest
    gzip_mtime: int = 0  # gzip header timestamp
    tar_format: str = "pax"  # pax | gnu | ustar
    media_type: str | None = None  # override the descriptor's media type
    raw_tar: bytes | None = None  # use these uncompressed tar bytes instead of `files`


@dataclass
class ImageSpec:
    layers: list[LayerSpec]
    platform: str = "linux/amd64"
    created: str | None = CREATED
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    workdir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # merged into the config's "config" object
    config_extra: dict[str, Any] = field(default_factory=dict)  # merged into the top-level config
    history: bool = True  # write config history at all
    empty_history: list[tuple[int, str]] = field(default_factory=list)  # (before layer i, created_by), empty_layer
    annotations: dict[str, str] = field(default_factory=dict)  # manifest annotations
    attestation: bool = False  # add a BuildKit-style provenance attestation manifest (forces an index)
    docker_media_types: bool = False  # Docker v2 manifest/config/layer media types
    platform_in_index: bool = True  # put `platform` on the index descriptor
    # Hooks for malformed or tampered-but-consistent images. config_hook/manifest_hook get
    # the document as a dict and may mutate it, or return a dict or raw bytes to use
    # instead; layer_hook(i, blob) returns the (compressed) blob to store. Descriptors
    # above a hooked document are computed from what the hook produced.
    config_hook: Callable[[dict[str, Any]], Any] | None = None
    manifest_hook: Callable[[dict[str, Any]], Any] | None = None
    layer_hook: Callable[[int, bytes], bytes] | None = None


@dataclass
class IndexSpec:
    images: list[ImageSpec]
    annotations: dict[str, str] = field(default_factory=dict)
    nested: bool = True  # index.json -> index blob -> manifests (BuildKit); False: manifests in index.json


def vary(spec: Any, layer: int, path: str, **changes: Any) -> Any:
    """Deep copy of an ImageSpec (or IndexSpec: first image) with one file changed.
    A change of `path` renames it; `remove=True` drops it."""
    out = copy.deepcopy(spec)
    image = out.images[0] if isinstance(out, IndexSpec) else out
    files = image.layers[layer].files
    remove = changes.pop("remove", False)
    _check_fields(FileSpec, changes)
    for i, f in enumerate(files):
        if f.path == path:
            if remove:
                del files[i]
            else:
                for k, v in changes.items():
                    setattr(f, k, v)
            return out
    raise KeyError(f"no {path!r} in layer {layer}")


def vary_image(spec: Any, **changes: Any) -> Any:
    """Deep copy of an ImageSpec (or IndexSpec: first image) with ImageSpec fields changed,
    e.g. vary_image(spec, labels={"v": "2"}, created="2024-01-01T00:00:00Z")."""
    out = copy.deepcopy(spec)
    image = out.images[0] if isinstance(out, IndexSpec) else out
    _check_fields(ImageSpec, changes)
    for k, v in changes.items():
        setattr(image, k, v)
    return out


def _check_fields(cls: type, changes: dict[str, Any]) -> None:
    unknown = set(changes) - {f.name for f in fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")


# -- results -----------------------------------------------------------------------


@dataclass
class BuiltManifest:
    platform: str
    digest: str  # of the manifest (docker-archive: the synthesised one is not known here)
    config_digest: str
    layer_digests: list[str]
    diff_ids: list[str]
    layer_media_types: list[str]
    created_by: list[str | None]  # raw created_by per layer
    attestation_digest: str | None = None


@dataclass
class Built:
    digest: str  # Image.digest as repro should report it
    manifests: list[BuiltManifest]
    files: dict[str, bytes]  # every file of the archive/layout, by name
    blobs: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)  # docker-archive legacy: name -> target

    def blob_name(self, digest: str) -> str:
        return "blobs/" + digest.replace(":", "/")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# -- layers ------------------------------------------------------------------------

_TAR_TYPES = {
    "file": tarfile.REGTYPE, "whiteout": tarfile.REGTYPE, "opaque": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
}  # fmt: skip
_TAR_FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}


def layer_tar(files: Iterable[FileSpec], tar_format: str = "pax") -> bytes:
    """The uncompressed layer tar for `files`, in order."""
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=_TAR_FORMATS[tar_format], encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for f in files:
            info = tarfile.TarInfo(f.path)
            info.type = _TAR_TYPES[f.type]
            info.mode = f.effective_mode
            info.uid, info.gid, info.uname, info.gname = f.uid, f.gid, f.uname, f.gname
            pax: dict[str, str] = {}
            if isinstance(f.mtime, str) and "." in f.mtime:
                info.mtime = int(f.mtime.split(".")[0] or 0)
                pax["mtime"] = f.mtime
            else:
                info.mtime = int(f.mtime)
            info.linkname = f.linkname
            info.devmajor, info.devminor = f.devmajor, f.devminor
            for k, v in f.xattrs.items():
                pax["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            pax.update(f.pax)
            info.pax_headers = pax
            has_data = f.type in ("file", "whiteout", "opaque")
            info.size = len(f.content) if has_data else 0
            tar.addfile(info, io.BytesIO(f.content) if has_data else None)
    return buf.getvalue()


def compress(data: bytes, compression: str, *, level: int = 6, mtime: int = 0) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=level, mtime=mtime)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def normalise(path: str) -> str:
    """What repro's layer index reports as an entry path for a tar name."""
    return "/".join(p for p in path.split("/") if p not in ("", ".")) or "."


def expected_mtime(mtime: int | str) -> str:
    """What repro's layer index reports for a FileSpec mtime."""
    text = str(mtime)
    if "." not in text:
        return str(int(text))
    whole, frac = text.split(".", 1)
    frac = frac.rstrip("0")
    return f"{int(whole or 0)}.{frac}" if frac else str(int(whole or 0))


# -- images ------------------------------------------------------------------------


@dataclass
class _Made:
    """One image manifest's blobs, before they are laid out in some format."""

    manifest: bytes
    manifest_type: str
    config: bytes
    layers: list[tuple[str, bytes, str]]  # (media type, blob, diffID)
    built: BuiltManifest


def _platform_json(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    out = {"architecture": parts[1], "os": parts[0]}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


def make_config(spec: ImageSpec, diff_ids: list[str]) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    if spec.env:
        inner["Env"] = list(spec.env)
    if spec.entrypoint is not None:
        inner["Entrypoint"] = spec.entrypoint
    if spec.cmd is not None:
        inner["Cmd"] = spec.cmd
    if spec.workdir:
        inner["WorkingDir"] = spec.workdir
    if spec.user:
        inner["User"] = spec.user
    if spec.labels:
        inner["Labels"] = dict(spec.labels)
    inner.update(spec.config)
    config: dict[str, Any] = _platform_json(spec.platform)
    config["config"] = inner
    if spec.created is not None:
        config["created"] = spec.created
    if spec.history:
        history: list[dict[str, Any]] = []
        empties = sorted(spec.empty_history)
        for i, layer in enumerate(spec.layers + [None]):  # type: ignore[operator]
            for _, created_by in [e for e in empties if e[0] == i]:
                history.append(_history(spec, created_by, "", empty=True))
            if layer is not None:
                history.append(_history(spec, _created_by(layer, i), layer.comment))
        config["history"] = history
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config.update(spec.config_extra)
    return config


def _created_by(layer: LayerSpec, i: int) -> str:
    return layer.created_by if layer.created_by is not None else f"RUN /bin/sh -c layer-{i} # buildkit"


def _history(spec: ImageSpec, created_by: str, comment: str, empty: bool = False) -> dict[str, Any]:
    h: dict[str, Any] = {}
    if spec.created is not None:
        h["created"] = spec.created
    h["created_by"] = created_by
    if comment:
        h["comment"] = comment
    if empty:
        h["empty_layer"] = True
    return h


def _hooked(doc: dict[str, Any], hook: Callable[[dict[str, Any]], Any] | None) -> bytes:
    if hook is not None:
        out = hook(doc)
        if isinstance(out, bytes):
            return out
        if out is not None:
            doc = out
    return canonical(doc)


def make_manifest(spec: ImageSpec) -> _Made:
    flavour = "docker" if spec.docker_media_types else "oci"
    layers = []
    for i, layer in enumerate(spec.layers):
        tar = layer.raw_tar if layer.raw_tar is not None else layer_tar(layer.files, layer.tar_format)
        blob = compress(tar, layer.compression, level=layer.gzip_level, mtime=layer.gzip_mtime)
        if spec.layer_hook is not None:
            blob = spec.layer_hook(i, blob)
        mt = layer.media_type or LAYER_TYPES[(flavour, layer.compression)]
        layers.append((mt, blob, sha256(tar)))
    config = _hooked(make_config(spec, [d for _, _, d in layers]), spec.config_hook)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if spec.docker_media_types else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if spec.docker_media_types else OCI_CONFIG,
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": mt, "digest": sha256(b), "size": len(b)} for mt, b, _ in layers],
    }  # fmt: skip
    if spec.annotations:
        manifest["annotations"] = dict(spec.annotations)
    manifest_type = manifest["mediaType"]
    data = _hooked(manifest, spec.manifest_hook)
    built = BuiltManifest(
        platform=spec.platform,
        digest=sha256(data),
        config_digest=sha256(config),
        layer_digests=[sha256(b) for _, b, _ in layers],
        diff_ids=[d for _, _, d in layers],
        layer_media_types=[mt for mt, _, _ in layers],
        created_by=[_created_by(l, i) if spec.history else None for i, l in enumerate(spec.layers)],
    )
    return _Made(data, manifest_type, config, layers, built)


def _attestation(made: _Made) -> tuple[bytes, dict[str, bytes]]:
    """A BuildKit-style provenance attestation manifest for `made`, and its blobs."""
    statement = canonical({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "_", "digest": {"sha256": made.built.digest.split(":")[1]}}],
        "predicate": {"buildType": "https://mobyproject.org/buildkit@v1"},
    })  # fmt: skip
    config = canonical({
        "architecture": "unknown", "os": "unknown", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(statement)]},
    })  # fmt: skip
    manifest = canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": IN_TOTO, "digest": sha256(statement), "size": len(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}],
    })  # fmt: skip
    return manifest, {sha256(config): config, sha256(statement): statement}


def _desc(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    d.update({k: v for k, v in extra.items() if v})
    return d


def build_oci(spec: ImageSpec | IndexSpec, *, ref_name: str | None = "latest") -> Built:
    """Files of an OCI layout for `spec` (see write_image)."""
    blobs: dict[str, bytes] = {}
    images = spec.images if isinstance(spec, IndexSpec) else [spec]
    nested = spec.nested if isinstance(spec, IndexSpec) else any(i.attestation for i in images)
    entries: list[dict[str, Any]] = []
    built: list[BuiltManifest] = []
    for image in images:
        made = make_manifest(image)
        blobs[sha256(made.config)] = made.config
        for _, blob, _ in made.layers:
            blobs[sha256(blob)] = blob
        blobs[made.built.digest] = made.manifest
        plat = _platform_json(image.platform) if image.platform_in_index else None
        entries.append(_desc(made.manifest_type, made.manifest, platform=plat))
        if image.attestation:
            att, att_blobs = _attestation(made)
            blobs.update(att_blobs)
            blobs[sha256(att)] = att
            made.built.attestation_digest = sha256(att)
            entries.append(_desc(OCI_MANIFEST, att, platform={"architecture": "unknown", "os": "unknown"},
                                 annotations={"vnd.docker.reference.digest": made.built.digest,
                                              "vnd.docker.reference.type": "attestation-manifest"}))  # fmt: skip
        built.append(made.built)
    names = {"org.opencontainers.image.ref.name": ref_name} if ref_name else {}
    if nested:
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        if isinstance(spec, IndexSpec) and spec.annotations:
            index["annotations"] = dict(spec.annotations)
        data = canonical(index)
        blobs[sha256(data)] = data
        top = [_desc(OCI_INDEX, data, annotations=names)]
        digest = sha256(data)
    elif len(entries) == 1:
        top = [dict(entries[0], **({"annotations": names} if names else {}))]
        digest = top[0]["digest"]
    else:
        top = entries
        digest = ""
    index_json = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top})
    if not digest:
        digest = sha256(index_json)
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index_json}
    for d, b in blobs.items():
        files["blobs/" + d.replace(":", "/")] = b
    return Built(digest, built, files, blobs)


def build_docker(
    images: list[tuple[ImageSpec, list[str]]], *, layout: str = "legacy", symlinks: bool = True
) -> list[Built]:
    """Files of a docker-archive holding `images` (spec, repo tags). `layout` "legacy"
    (`<id>/layer.tar`, `<hex>.json`; repeated layers as symlinks) or "blobs" (Docker 25+
    `blobs/sha256/...`, without the index.json docker also writes)."""
    files: dict[str, bytes] = {}
    symlinked: dict[str, str] = {}
    entries, results = [], []
    for spec, tags in images:
        made = make_manifest(spec)
        config_hex = sha256(made.config).split(":")[1]
        layer_paths, chain = [], ""
        for mt, blob, diff_id in made.layers:
            if layout == "blobs":
                path = "blobs/sha256/" + sha256(blob).split(":")[1]
                files[path] = blob
            else:
                chain = sha256((chain + diff_id).encode()).split(":")[1]
                path = f"{chain}/layer.tar"
                first = next((p for p, b in files.items() if b == blob and p.endswith("/layer.tar")), None)
                if first and symlinks and first != path:
                    symlinked[path] = f"../{first}"
                else:
                    files[path] = blob
                files[f"{chain}/VERSION"] = b"1.0"
                files[f"{chain}/json"] = canonical({"id": chain})
            layer_paths.append(path)
        config_path = f"blobs/sha256/{config_hex}" if layout == "blobs" else f"{config_hex}.json"
        files[config_path] = made.config
        entries.append({"Config": config_path, "RepoTags": tags, "Layers": layer_paths})
        results.append(Built("sha256:" + config_hex, [made.built], files, symlinks=symlinked))
    files["manifest.json"] = canonical(entries)
    return results


def write_files(files: dict[str, bytes], path: str | os.PathLike[str], format: str, *,
                prefix: str = "", symlinks: dict[str, str] | None = None) -> None:  # fmt: skip
    """Write `files` as a directory (format "oci") or an uncompressed tar, member names
    prefixed with `prefix` (e.g. "./", as some tools write)."""
    path = os.fspath(path)
    if format == "oci":
        for name, data in files.items():
            target = os.path.join(path, *name.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        return
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs_done: set[str] = set()
        for name in list(files) + sorted(symlinks or {}):
            d = posixpath.dirname(name)
            if d and d not in dirs_done:
                parts = d.split("/")
                for i in range(1, len(parts) + 1):
                    sub = "/".join(parts[:i])
                    if sub not in dirs_done:
                        dirs_done.add(sub)
                        info = tarfile.TarInfo(prefix + sub)
                        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                        tar.addfile(info)
            info = tarfile.TarInfo(prefix + name)
            info.mtime = 0
            if symlinks and name in symlinks:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, symlinks[name], 0o777
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))


def write_image(
    spec: ImageSpec | IndexSpec,
    path: str | os.PathLike[str],
    format: str = "oci-archive",
    *,
    ref_name: str | None = "latest",
    repo_tags: list[str] | None = None,
    docker_layout: str = "legacy",
    prefix: str = "",
) -> Built:
    """Write `spec` as `format`: "oci-archive" (tar), "oci" (layout dir) or "docker-archive".

    oci: a single ImageSpec without attestation is index.json -> manifest (as BuildKit);
    with an attestation, or an IndexSpec, index.json -> index -> manifests. `ref_name`
    annotates the index.json entry. docker-archive: one image tagged `repo_tags`
    (default ["repro-test:latest"]) in `docker_layout` "legacy" or "blobs".
    """
    if format == "docker-archive":
        if isinstance(spec, IndexSpec):
            raise ValueError("docker-archive holds single-platform images only")
        built = build_docker([(spec, repo_tags if repo_tags is not None else ["repro-test:latest"])],
                             layout=docker_layout)[0]  # fmt: skip
        write_files(built.files, path, format, prefix=prefix, symlinks=built.symlinks)
        return built
    built = build_oci(spec, ref_name=ref_name)
    write_files(built.files, path, format, prefix=prefix)
    return built


def write_docker_archive(
    images: list[tuple[ImageSpec, list[str]]], path: str | os.PathLike[str], *, layout: str = "legacy"
) -> list[Built]:
    """Several images in one docker-archive, each with its repo tags."""
    built = build_docker(images, layout=layout)
    write_files(built[0].files, path, "docker-archive", symlinks=built[0].symlinks)
    return built


def simple_image(**kw: Any) -> ImageSpec:
    """A small two-layer image touching most entry kinds; keyword arguments override ImageSpec fields."""
    layers = [
        LayerSpec([
            dir("etc"),
            file("etc/hostname", b"box\n", mtime="1700000000.25"),
            file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0, uname="root", gname="root"),
            symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        ], created_by="COPY etc /etc # buildkit"),
        LayerSpec([
            dir("app", mode=0o755, uid=1000, gid=1000),
            file("app/run", b"#!/bin/sh\necho hi\n", mode=0o4755, xattrs={"security.capability": b"\x01\x00\x00\x02"}),
            hardlink("app/run2", "app/run"),
            whiteout("etc/old"),
        ], compression="zstd", created_by="RUN /bin/sh -c make # buildkit"),
    ]  # fmt: skip
    return ImageSpec(layers=layers, **kw)


def base_spec() -> ImageSpec:
    """A small two-layer image many tests start from (a tool, /etc files, a date stamp)."""
    return ImageSpec(layers=[
        LayerSpec([dir("bin"), file("bin/tool", b"\x7fELF" + b"x" * 100, mode=0o755)],
                  created_by="COPY tool /bin/ # buildkit"),
        LayerSpec([dir("etc"), file("etc/hostname", b"box\n"), symlink("etc/link", "hostname"),
                   file("etc/stamp", b"Tue Nov 14 22:13:20 UTC 2023\n")],
                  created_by="RUN /bin/sh -c date > /etc/stamp # buildkit"),
    ], labels={"org.example": "1"})
