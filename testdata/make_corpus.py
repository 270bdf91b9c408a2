#!/usr/bin/env python3
"""Generate repro's hostile-input corpus: broken images, and valid images that are odd.

Every level of an image is walked and broken in turn: the outer container (tar or
layout directory), every JSON document (syntax, types, missing fields), every
descriptor field (digest, algorithm, size, media type), every blob's bytes, every
compression format, the layer tar itself, the structure (nesting, fan-out, counts) and
docker-archive's own manifest.json. Where a break would otherwise be caught by a digest
check first, the chain above it is re-hashed ("consistent" tampering), so that only the
parser in question stands between the input and a crash.

    python3 testdata/make_corpus.py OUT_DIR          # writes OUT_DIR/<case>/... and OUT_DIR/cases.json
    python3 testdata/make_corpus.py --list           # one line per case: level, name, what it breaks
    python3 testdata/make_corpus.py --big OUT_DIR [SIZE_MIB]   # the two ~1 GiB-layer images only

Each case is run as `repro diff A B [FLAGS] --report-dir DIR`, A and B relative to
OUT_DIR (`@/` marks the corpus root). A broken case must exit 2 with one line naming
`message`; a valid-but-odd case (level "odd") must exit with one of `expect` (0 or 1),
and nothing may be written outside the report directory. Nothing here is committed as
a blob: tests/cli/test_corpus.py generates the corpus into a temp dir each run.

Images are written with tests/imagegen.py; the broken bits are then applied to its
output (or through its hooks), so every case is deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import sys
import tarfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests import imagegen as g  # noqa: E402  (needs ROOT on sys.path)

GOOD = "@/good.tar"  # the reference image every broken case is diffed against


@dataclass(frozen=True)
class Case:
    name: str
    level: str  # container | json | descriptor | blob | compression | layer-tar | structure | docker-manifest | limits | odd
    breaks: str  # what is wrong (or odd), in words
    a: str  # image reference; "@/" is the corpus root
    b: str
    expect: tuple[int, ...]  # allowed exit codes: (2,) for broken images
    message: str  # the one-line error must contain this ("" for odd cases)
    flags: tuple[str, ...] = ()

    def argv(self, root: str, report_dir: str | None = None) -> list[str]:
        """`repro` arguments for this case, with the corpus at `root`."""
        resolve = lambda ref: ref.replace("@/", root.rstrip("/") + "/")  # noqa: E731
        argv = ["diff", resolve(self.a), resolve(self.b), *self.flags]
        if report_dir is not None:
            argv += ["--report-dir", report_dir]
        return argv


_REGISTRY: list[tuple[str, str, tuple[int, ...], tuple[str, ...], str, Callable[[Path], Any]]] = []


def case(level: str, breaks: str, message: str = "", expect: tuple[int, ...] = (2,), flags: tuple[str, ...] = ()):
    """Register a case writer under the module-level name it is bound to (`json_config_syntax`
    is case `json-config-syntax`). The writer gets its own directory and returns the B
    reference (A is the good image), or (A, B) for odd cases."""

    def register(fn: Callable[[Path], Any]) -> Callable[[Path], Any]:
        def make(d: Path) -> Any:
            return fn(d)

        _REGISTRY.append((level, breaks, expect, flags, message, make))
        return make

    return register


def _registry() -> list[tuple[str, str, str, tuple[int, ...], tuple[str, ...], str, Callable[[Path], Any]]]:
    names = {id(v): k.replace("_", "-") for k, v in globals().items() if callable(v)}
    return [(names[id(entry[-1])], *entry) for entry in _REGISTRY]


# -- helpers -----------------------------------------------------------------------------

sha256 = g.sha256
canonical = g.canonical


def good_spec(**kw: Any) -> g.ImageSpec:
    """The reference image: a gzip layer and a zstd layer with most entry kinds."""
    return g.simple_image(**kw)


def good_files(**kw: Any) -> tuple[g.Built, dict[str, bytes]]:
    built = g.build_oci(good_spec(**kw))
    return built, dict(built.files)


def blob_name(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/")


def write_tar(files: dict[str, bytes], path: Path, **kw: Any) -> str:
    g.write_files(files, path, "oci-archive", **kw)
    return path.name


def _retarget(node: Any, old: str, new: str, size: int) -> bool:
    """Point every descriptor for `old` in a parsed document at `new` (digest and size)."""
    changed = False
    if isinstance(node, dict):
        if node.get("digest") == old:
            node["digest"], node["size"] = new, size
            changed = True
        for key, value in node.items():
            if key == "vnd.docker.reference.digest" and value == old:
                node[key] = new
                changed = True
            else:
                changed |= _retarget(value, old, new, size)
    elif isinstance(node, list):
        for value in node:
            changed |= _retarget(value, old, new, size)
    return changed


def replace_blob(files: dict[str, bytes], old: str, data: bytes) -> str:
    """Replace blob `old` with `data` and re-hash every document that points at it, up to
    index.json: consistent tampering, so digests all agree. Returns the new digest."""
    new = sha256(data)
    files.pop(blob_name(old), None)
    files[blob_name(new)] = data
    needle = old.encode()
    for name, content in list(files.items()):
        if name == blob_name(new) or needle not in content:
            continue
        try:
            doc = json.loads(content)
        except ValueError:
            continue
        if _retarget(doc, old, new, len(data)):
            if name.startswith("blobs/"):
                replace_blob(files, sha256(content), canonical(doc))
            else:
                files[name] = canonical(doc)
    return new


def edit_json(files: dict[str, bytes], digest: str, edit: Callable[[Any], Any]) -> str:
    """Apply `edit` to the parsed blob `digest` (mutate it, or return a replacement:
    a document, or raw bytes) and re-hash the chain above it."""
    doc = json.loads(files[blob_name(digest)])
    out = edit(doc)
    data = out if isinstance(out, bytes) else canonical(doc if out is None else out)
    return replace_blob(files, digest, data)


def edit_index_json(files: dict[str, bytes], edit: Callable[[Any], Any]) -> None:
    doc = json.loads(files["index.json"])
    out = edit(doc)
    files["index.json"] = out if isinstance(out, bytes) else canonical(doc if out is None else out)


def tar_header(name: bytes, *, size: int = 0, typeflag: bytes = b"0", mode: int = 0o644,
               size_field: bytes | None = None, linkname: bytes = b"") -> bytes:
    """One ustar header with a correct checksum; `size_field` overrides the size bytes."""
    h = bytearray(512)
    h[0 : len(name[:100])] = name[:100]
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"%011o\0" % g.EPOCH
    h[156:157] = typeflag
    h[157 : 157 + len(linkname)] = linkname
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def tar_member(name: bytes, data: bytes = b"", typeflag: bytes = b"0", **kw: Any) -> bytes:
    return tar_header(name, size=len(data), typeflag=typeflag, **kw) + data + bytes(-len(data) % 512)


def pax_member(records: dict[str, str] | bytes) -> bytes:
    if isinstance(records, bytes):
        return tar_member(b"PaxHeaders/x", records, typeflag=b"x")
    body = b""
    for key, value in records.items():
        rec = f" {key}={value}\n".encode()
        n = len(rec)
        while len(str(n).encode()) + len(rec) != n:
            n = len(str(n).encode()) + len(rec)
        body += str(n).encode() + rec
    return tar_member(b"PaxHeaders/x", body, typeflag=b"x")


def pax_record(key: bytes, value: bytes) -> bytes:
    """One `LEN KEY=VALUE\\n` record, bytes as given (keys and values need not be UTF-8)."""
    rec = b" " + key + b"=" + value + b"\n"
    n = len(rec)
    while len(str(n).encode()) + len(rec) != n:
        n = len(str(n).encode()) + len(rec)
    return str(n).encode() + rec


END = bytes(1024)
GOOD_TAR = tar_member(b"etc/hostname", b"box\n") + END


def raw_layer_image(tar: bytes, compression: str = "gzip", **kw: Any) -> g.ImageSpec:
    """A one-layer image whose layer tar is exactly `tar` (diffID and descriptor match it)."""
    return g.ImageSpec([g.LayerSpec([], compression=compression, raw_tar=tar, **kw)])


def hooked_layer_image(hook: Callable[[bytes], bytes], compression: str = "gzip", tar: bytes = GOOD_TAR) -> g.ImageSpec:
    """A one-layer image whose stored (compressed) blob is hook(blob), re-hashed: the
    descriptor matches the stored bytes, the diffID is the original tar's."""
    return g.ImageSpec([g.LayerSpec([], compression=compression, raw_tar=tar)],
                       layer_hook=lambda i, blob: hook(blob))


def write_spec(spec: Any, d: Path, fmt: str = "oci-archive", **kw: Any) -> str:
    name = {"oci": "layout", "docker-archive": "docker.tar"}.get(fmt, "image.tar")
    g.write_image(spec, d / name, fmt, **kw)
    prefix = {"oci": "oci:", "docker-archive": "docker-archive:"}.get(fmt, "")
    return f"{prefix}@/{d.name}/{name}"


def write_built(files: dict[str, bytes], d: Path, fmt: str = "oci-archive", **kw: Any) -> str:
    if fmt == "oci":
        g.write_files(files, d / "layout", "oci")
        return f"oci:@/{d.name}/layout"
    if fmt == "docker-archive":
        g.write_files(files, d / "docker.tar", "docker-archive", **kw)
        return f"docker-archive:@/{d.name}/docker.tar"
    g.write_files(files, d / "image.tar", "oci-archive", **kw)
    return f"@/{d.name}/image.tar"


def drop(container: Any, key: Any) -> None:
    """del container[key], as an expression that returns None (a hook's "edited in place")."""
    del container[key]


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def docker_files(spec: g.ImageSpec | None = None) -> tuple[g.Built, dict[str, bytes]]:
    built = g.build_docker([(spec or good_spec(), ["repro-test:latest"])], layout="blobs")[0]
    return built, dict(built.files)


def edit_docker_manifest(files: dict[str, bytes], edit: Callable[[Any], Any]) -> None:
    doc = json.loads(files["manifest.json"])
    out = edit(doc)
    files["manifest.json"] = out if isinstance(out, bytes) else canonical(doc if out is None else out)


# == container: the outer tar or layout directory =========================================


@case("container", "a zero-byte file given as the image", "not a tar archive")
def container_empty_file(d: Path) -> str:
    (d / "image.tar").write_bytes(b"")
    return f"@/{d.name}/image.tar"


@case("container", "the OCI tar gzipped as a whole (an .tar.gz given as an image)", "compressed file, not a tar")
def container_gzipped_archive(d: Path) -> str:
    built, files = good_files()
    write_tar(files, d / "plain.tar")
    (d / "image.tar").write_bytes(gzip.compress((d / "plain.tar").read_bytes(), mtime=0))
    (d / "plain.tar").unlink()
    return f"@/{d.name}/image.tar"


@case("container", "the archive cut short in the middle of a layer blob", "truncated")
def container_truncated_archive(d: Path) -> str:
    built, files = good_files()
    write_tar(files, d / "image.tar")
    data = (d / "image.tar").read_bytes()
    layer = files[blob_name(built.manifests[0].layer_digests[0])]
    cut = data.index(layer) + len(layer) // 2
    (d / "image.tar").write_bytes(data[:cut])
    return f"@/{d.name}/image.tar"


@case("container", "random bytes where the first tar header should be", "not a tar archive")
def container_garbage_header(d: Path) -> str:
    (d / "image.tar").write_bytes(hashlib.sha512(b"repro").digest() * 40)
    return f"@/{d.name}/image.tar"


@case("container", "a tar holding blobs but neither index.json nor manifest.json", "neither index.json nor manifest.json")
def container_no_index(d: Path) -> str:
    built, files = good_files()
    del files["index.json"]
    return write_built(files, d)


@case("container", "oci-archive: names a tar without index.json", "no index.json in the archive")
def container_oci_archive_without_index(d: Path) -> str:
    built, files = good_files()
    del files["index.json"]
    write_built(files, d)
    return f"oci-archive:@/{d.name}/image.tar"


@case("container", "a layout directory without its oci-layout marker", "not an OCI layout")
def container_layout_without_marker(d: Path) -> str:
    built, files = good_files()
    del files["oci-layout"]
    return write_built(files, d, "oci")


@case("container", "a layout directory without index.json", "has no index.json")
def container_layout_without_index(d: Path) -> str:
    built, files = good_files()
    del files["index.json"]
    return write_built(files, d, "oci")


@case("container", "oci-layout marker without imageLayoutVersion", "oci-layout has no imageLayoutVersion")
def container_layout_marker_wrong(d: Path) -> str:
    built, files = good_files()
    files["oci-layout"] = b'{"imageLayoutVersion": 1}'
    return write_built(files, d, "oci")


@case("container", "index.json of a layout is a FIFO (reading it would block forever)", "has no index.json")
def container_layout_index_is_fifo(d: Path) -> str:
    built, files = good_files()
    del files["index.json"]
    ref = write_built(files, d, "oci")
    os.mkfifo(d / "layout" / "index.json")
    return ref


@case("container", "the image path is a FIFO", "not a regular file")
def container_fifo(d: Path) -> str:
    os.mkfifo(d / "image.tar")
    return f"@/{d.name}/image.tar"


@case("container", "oci-archive: names a directory", "is a directory")
def container_directory_as_archive(d: Path) -> str:
    (d / "dir").mkdir()
    return f"oci-archive:@/{d.name}/dir"


@case("container", "a layer blob in the tar is a symlink pointing out of the archive (../../etc/passwd)", "is missing")
def container_member_symlink_escapes(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].layer_digests[0])
    del files[name]
    g.write_files(files, d / "image.tar", "oci-archive", symlinks={name: "../../../../../etc/passwd"})
    return f"@/{d.name}/image.tar"


@case("container", "a layer blob in a layout is a symlink to /dev/zero", "is missing")
def container_layout_blob_symlink_to_device(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].layer_digests[0])
    del files[name]
    ref = write_built(files, d, "oci")
    os.symlink("/dev/zero", d / "layout" / name)
    return ref


@case("container", "index.json in the tar is a hard link to itself", "neither index.json nor manifest.json")
def container_member_link_loop(d: Path) -> str:
    built, files = good_files()
    del files["index.json"]
    write_built(files, d)
    with tarfile.open(d / "image.tar", "a") as tar:
        for name, target in (("index.json", "index2.json"), ("index2.json", "index.json")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return f"@/{d.name}/image.tar"


# == json: every document's syntax, types and fields ======================================


@case("json", "index.json is not valid JSON (cut off)", "index.json: invalid JSON")
def json_index_json_syntax(d: Path) -> str:
    built, files = good_files()
    files["index.json"] = files["index.json"][:-7]
    return write_built(files, d)


@case("json", "index.json is not UTF-8", "index.json: not UTF-8")
def json_index_json_not_utf8(d: Path) -> str:
    built, files = good_files()
    files["index.json"] = b'{"schemaVersion":2,"manifests":[],"x":"\xff\xfe"}'
    return write_built(files, d)


@case("json", "index.json is a JSON array, not an object", "index.json: not a JSON object")
def json_index_json_array(d: Path) -> str:
    built, files = good_files()
    files["index.json"] = b"[]"
    return write_built(files, d)


@case("json", "index.json has no manifests field", "manifests is not a list")
def json_index_json_no_manifests(d: Path) -> str:
    built, files = good_files()
    edit_index_json(files, lambda doc: drop(doc, "manifests"))
    return write_built(files, d)


@case("json", "index.json schemaVersion is the string \"2\"", "schemaVersion is '2', not 2")
def json_index_json_schema_version_string(d: Path) -> str:
    built, files = good_files()
    edit_index_json(files, lambda doc: doc.__setitem__("schemaVersion", "2"))
    return write_built(files, d)


@case("json", "index.json lists no images", "index.json lists no images")
def json_index_json_empty(d: Path) -> str:
    built, files = good_files()
    edit_index_json(files, lambda doc: doc.__setitem__("manifests", []))
    return write_built(files, d)


@case("json", "nested index blob is invalid JSON (consistently re-hashed)", "invalid JSON")
def json_nested_index_syntax(d: Path) -> str:
    built, files = good_files(attestation=True)
    top = json.loads(files["index.json"])["manifests"][0]["digest"]
    edit_json(files, top, lambda doc: canonical(doc)[:-3])
    return write_built(files, d)


@case("json", "nested index has manifests as an object", "manifests is not a list")
def json_nested_index_manifests_object(d: Path) -> str:
    built, files = good_files(attestation=True)
    top = json.loads(files["index.json"])["manifests"][0]["digest"]
    edit_json(files, top, lambda doc: doc.__setitem__("manifests", {"0": doc["manifests"][0]}))
    return write_built(files, d)


@case("json", "manifest is invalid JSON (re-hashed)", "invalid JSON")
def json_manifest_syntax(d: Path) -> str:
    return write_spec(good_spec(manifest_hook=lambda doc: canonical(doc)[:-1] + b",}"), d)


@case("json", "manifest has no config", "config: descriptor is not an object")
def json_manifest_no_config(d: Path) -> str:
    return write_spec(good_spec(manifest_hook=lambda doc: drop(doc, "config")), d)


@case("json", "manifest layers is a string", "layers is not a list")
def json_manifest_layers_string(d: Path) -> str:
    return write_spec(good_spec(manifest_hook=lambda doc: doc.__setitem__("layers", "sha256:x")), d)


@case("json", "manifest schemaVersion 1", "schemaVersion is 1, not 2")
def json_manifest_schema_version_1(d: Path) -> str:
    return write_spec(good_spec(manifest_hook=lambda doc: doc.__setitem__("schemaVersion", 1)), d)


@case("json", "manifest mediaType differs from its descriptor's", "differs from its descriptor")
def json_manifest_media_type_mismatch(d: Path) -> str:
    return write_spec(good_spec(manifest_hook=lambda doc: doc.__setitem__("mediaType", g.DOCKER_MANIFEST)), d)


@case("json", "config is invalid JSON (re-hashed)", "invalid JSON")
def json_config_syntax(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: b"{" + canonical(doc)), d)


@case("json", "config has no rootfs", "rootfs is not an object")
def json_config_no_rootfs(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: drop(doc, "rootfs")), d)


@case("json", "config rootfs.diff_ids is a string", "rootfs.diff_ids is not a list")
def json_config_diff_ids_string(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: doc["rootfs"].__setitem__("diff_ids", "sha256:x")), d)


@case("json", "config lists fewer diff_ids than the manifest has layers", "rootfs.diff_ids has 1 entries but the manifest has 2 layers")
def json_config_diff_ids_count(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: drop(doc["rootfs"]["diff_ids"], -1)), d)


@case("json", "config diff_id is not a digest", "rootfs.diff_ids[0]: invalid digest")
def json_config_diff_id_malformed(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: doc["rootfs"]["diff_ids"].__setitem__(0, "sha256:xyz")), d)


@case("json", "config history is an object", "history is not a list")
def json_config_history_object(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: doc.__setitem__("history", {"created_by": "x"})), d)


@case("json", "config nested 100000 arrays deep (a parser's stack)", "invalid JSON")
def json_config_deep_nesting(d: Path) -> str:
    return write_spec(good_spec(config_hook=lambda doc: b"[" * 100_000 + b"]" * 100_000), d)


@case("json", "manifest with a 10000-digit integer as a layer size", "invalid JSON")
def json_manifest_huge_integer(d: Path) -> str:
    def hook(doc: dict) -> bytes:
        return canonical(doc).replace(b'"size":', b'"size":' + b"9" * 10_000 + b",\"s\":", 1)
    return write_spec(good_spec(manifest_hook=hook), d)


@case("json", "oci-layout marker is not JSON", "oci-layout: invalid JSON")
def json_oci_layout_syntax(d: Path) -> str:
    built, files = good_files()
    files["oci-layout"] = b"imageLayoutVersion=1.0.0"
    return write_built(files, d)


# == descriptor: digest, algorithm, size, media type, platform, annotations ==================


def _index_desc_edit(edit: Callable[[dict], Any]) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        built, files = good_files()
        edit_index_json(files, lambda doc: edit(doc["manifests"][0]))
        return write_built(files, d)
    return make


def _layer_desc_edit(edit: Callable[[dict], Any]) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        return write_spec(good_spec(manifest_hook=lambda doc: edit(doc["layers"][0])), d)
    return make


descriptor_digest_truncated = case("descriptor", "index.json digest with 10 hex digits", "invalid digest")(
    _index_desc_edit(lambda desc: desc.__setitem__("digest", desc["digest"][:17])))
descriptor_digest_md5 = case("descriptor", "layer digest uses an unknown algorithm (md5:)", "invalid digest")(
    _layer_desc_edit(lambda desc: desc.__setitem__("digest", "md5:" + "0" * 32)))
descriptor_digest_uppercase = case("descriptor", "config digest in upper-case hex", "invalid digest")(
    lambda d: write_spec(good_spec(manifest_hook=lambda doc: doc["config"].__setitem__(
        "digest", doc["config"]["digest"].upper().replace("SHA256", "sha256"))), d))
descriptor_digest_path_traversal = case("descriptor", "layer digest sha256:../../../etc/passwd", "invalid digest")(
    _layer_desc_edit(lambda desc: desc.__setitem__("digest", "sha256:../../../../etc/passwd")))
descriptor_digest_dangling = case("descriptor", "layer digest well-formed but names no blob", "is missing")(
    _layer_desc_edit(lambda desc: desc.__setitem__("digest", "sha256:" + "0" * 64)))
descriptor_size_negative = case("descriptor", "layer size -1", "not a non-negative integer")(
    _layer_desc_edit(lambda desc: desc.__setitem__("size", -1)))
descriptor_size_string = case("descriptor", "index.json size as a string", "not a non-negative integer")(
    _index_desc_edit(lambda desc: desc.__setitem__("size", str(desc["size"]))))
descriptor_size_float = case("descriptor", "config size 12.0", "not a non-negative integer")(
    lambda d: write_spec(good_spec(manifest_hook=lambda doc: doc["config"].__setitem__(
        "size", float(doc["config"]["size"]))), d))
descriptor_size_bool = case("descriptor", "layer size true", "not a non-negative integer")(
    _layer_desc_edit(lambda desc: desc.__setitem__("size", True)))
descriptor_size_short = case("descriptor", "layer size one byte less than the stored blob", "its descriptor says")(
    _layer_desc_edit(lambda desc: desc.__setitem__("size", desc["size"] - 1)))
descriptor_size_huge = case("descriptor", "layer size 2**62 (a claimed 4 EiB layer)", "max_layer_bytes")(
    _layer_desc_edit(lambda desc: desc.__setitem__("size", 2**62)))
descriptor_manifest_size_huge = case("descriptor", "index.json says the manifest is 1 TiB", "max_json_bytes")(
    _index_desc_edit(lambda desc: desc.__setitem__("size", 1 << 40)))
descriptor_media_type_missing = case("descriptor", "index.json descriptor without mediaType", "has no mediaType")(
    _index_desc_edit(lambda desc: drop(desc, "mediaType")))
descriptor_media_type_unknown_root = case("descriptor", "index.json entry of an unknown media type", "unknown media type")(
    _index_desc_edit(lambda desc: desc.__setitem__("mediaType", "application/x-evil")))
descriptor_layer_media_type_unknown = case("descriptor", "layer of an unknown media type", "unknown layer media type")(
    _layer_desc_edit(lambda desc: desc.__setitem__("mediaType", "application/vnd.oci.image.layer.v1.tar+lz4")))
descriptor_layer_media_type_wrong_compression = case(
    "descriptor", "gzip layer labelled zstd", "media type says zstd but the data starts with 1f8b")(
    _layer_desc_edit(lambda desc: desc.__setitem__("mediaType", g.LAYER_TYPES[("oci", "zstd")])))
descriptor_config_media_type_layer = case("descriptor", "config labelled as a layer", "is not an image config")(
    lambda d: write_spec(good_spec(manifest_hook=lambda doc: doc["config"].__setitem__(
        "mediaType", g.LAYER_TYPES[("oci", "gzip")])), d))
descriptor_platform_string = case("descriptor", "index.json platform as a string", "platform is not an object")(
    _index_desc_edit(lambda desc: desc.__setitem__("platform", "linux/amd64")))
descriptor_annotations_non_string = case("descriptor", "layer annotation with a number value", "annotations must map strings to strings")(
    _layer_desc_edit(lambda desc: desc.__setitem__("annotations", {"a": 1})))


# == blob: the stored bytes of each kind of blob ==========================================


@case("blob", "one byte flipped in a layer blob (size unchanged, nothing re-hashed)", "digest mismatch")
def blob_layer_flipped(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].layer_digests[0])
    files[name] = flip(files[name], len(files[name]) // 2)
    return write_built(files, d)


@case("blob", "one byte flipped in an uncompressed layer blob, the tar still parses", "digest mismatch")
def blob_uncompressed_layer_flipped(d: Path) -> str:
    spec = g.ImageSpec([g.LayerSpec([g.file("data", b"x" * 4000)], compression="none")])
    built = g.build_oci(spec)
    files = dict(built.files)
    name = blob_name(built.manifests[0].layer_digests[0])
    files[name] = flip(files[name], 1500)
    return write_built(files, d, "oci")


@case("blob", "layer blob has 100 bytes appended", "its descriptor says")
def blob_layer_appended(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].layer_digests[1])
    files[name] += bytes(100)
    return write_built(files, d)


@case("blob", "layer blob missing from the layout", "is missing")
def blob_layer_missing(d: Path) -> str:
    built, files = good_files()
    del files[blob_name(built.manifests[0].layer_digests[1])]
    return write_built(files, d, "oci")


@case("blob", "one byte flipped in the config blob", "digest mismatch")
def blob_config_flipped(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].config_digest)
    files[name] = flip(files[name], 20)
    return write_built(files, d)


@case("blob", "one byte flipped in the manifest blob", "digest mismatch")
def blob_manifest_flipped(d: Path) -> str:
    built, files = good_files()
    name = blob_name(built.manifests[0].digest)
    files[name] = flip(files[name], 20)
    return write_built(files, d)


@case("blob", "one byte flipped in the nested index blob", "digest mismatch")
def blob_index_flipped(d: Path) -> str:
    built, files = good_files(attestation=True)
    name = blob_name(built.digest)
    files[name] = flip(files[name], 20)
    return write_built(files, d)


@case("blob", "the manifest blob replaced by a layer blob of the same image", "its descriptor says")
def blob_manifest_is_a_layer(d: Path) -> str:
    built, files = good_files()
    files[blob_name(built.manifests[0].digest)] = files[blob_name(built.manifests[0].layer_digests[0])]
    return write_built(files, d)


# == compression: gzip, zstd, none; every stream re-hashed so only the decoder is in the way ==


@case("compression", "gzip layer cut in half", "gzip data truncated")
def compression_gzip_truncated(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b[: len(b) // 2]), d)


@case("compression", "gzip header with an unknown compression method", "corrupt gzip data")
def compression_gzip_bad_method(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b[:2] + b"\x07" + b[3:]), d)


@case("compression", "gzip trailer CRC wrong", "corrupt gzip data")
def compression_gzip_bad_crc(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: flip(b, len(b) - 6)), d)


@case("compression", "garbage after the last gzip member", "trailing garbage after gzip data")
def compression_gzip_trailing_garbage(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b + b"GARBAGE!"), d)


@case("compression", "zstd layer cut short", "zstd data truncated")
def compression_zstd_truncated(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b[:-3], compression="zstd"), d)


def _zstd_block_offset(blob: bytes) -> int:
    fhd = blob[4]
    fcs = (1 if (fhd >> 5) & 1 else 0, 2, 4, 8)[fhd >> 6]
    return 5 + (0 if (fhd >> 5) & 1 else 1) + (0, 1, 2, 4)[fhd & 3] + fcs


@case("compression", "zstd block of the reserved type", "reserved block type")
def compression_zstd_reserved_block(d: Path) -> str:
    def hook(b: bytes) -> bytes:
        at = _zstd_block_offset(b)
        return b[:at] + bytes([b[at] | 0b110]) + b[at + 1:]
    return write_spec(hooked_layer_image(hook, compression="zstd"), d)


@case("compression", "zstd frame header with its reserved bit set", "reserved frame header bit")
def compression_zstd_reserved_bit(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b[:4] + bytes([b[4] | 0x08]) + b[5:], compression="zstd"), d)


@case("compression", "garbage after the last zstd frame", "unknown frame magic")
def compression_zstd_trailing_garbage(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b + b"GARBAGE!", compression="zstd"), d)


@case("compression", "an uncompressed tar labelled gzip", "media type says gzip but the data starts with")
def compression_plain_labelled_gzip(d: Path) -> str:
    return write_spec(raw_layer_image(GOOD_TAR, compression="none", media_type=g.LAYER_TYPES[("oci", "gzip")]), d)


@case("compression", "an empty blob labelled gzip", "an empty blob")
def compression_empty_gzip_blob(d: Path) -> str:
    return write_spec(hooked_layer_image(lambda b: b""), d)


@case("compression", "a gzip stream of a tar labelled as an uncompressed tar", "media type says none but the data starts with 1f8b")
def compression_gzip_labelled_plain(d: Path) -> str:
    # the stored blob is gzip, the media type and diffID say plain tar; a consistent image
    # (diffID = blob digest) that the tar parser must refuse rather than misread
    blob = gzip.compress(GOOD_TAR, mtime=0)
    spec = raw_layer_image(blob, compression="none")
    return write_spec(spec, d)


# == layer-tar: the tar stream inside a layer, re-hashed (diffID matches) ===================


def _tar_case(tar: bytes, compression: str = "gzip") -> Callable[[Path], str]:
    return lambda d: write_spec(raw_layer_image(tar, compression=compression), d)


layer_tar_bad_checksum = case("layer-tar", "first header's checksum wrong", "bad header checksum")(
    _tar_case(GOOD_TAR[:148] + b"0000000\0" + GOOD_TAR[156:]))
layer_tar_truncated_in_file = case("layer-tar", "tar ends inside a file's data", "layer tar truncated in big")(
    _tar_case(tar_member(b"big", b"x" * 5000)[:512 + 1000]))
layer_tar_no_end_marker = case("layer-tar", "tar without its end-of-archive blocks", "no end-of-archive marker")(
    _tar_case(GOOD_TAR[:-1024]))
layer_tar_empty_stream = case("layer-tar", "a layer whose tar stream is empty", "empty stream")(
    _tar_case(b""))
layer_tar_random_bytes = case("layer-tar", "4 KiB of random bytes as a layer tar", "bad header checksum")(
    _tar_case(hashlib.sha512(b"noise").digest() * 64))
layer_tar_sparse_entry = case("layer-tar", "a GNU sparse entry (type S)", "unsupported tar entry type")(
    _tar_case(tar_member(b"sparse", b"", typeflag=b"S") + END))
layer_tar_negative_size = case("layer-tar", "a base-256 size field of -1", "negative size")(
    _tar_case(tar_header(b"neg", size_field=b"\xff" * 12) + END))
layer_tar_bad_octal = case("layer-tar", "a size field that is not octal", "invalid size field")(
    _tar_case(tar_header(b"oct", size_field=b"0000000009x\0") + END))
layer_tar_malformed_pax = case("layer-tar", "a PAX header whose record length is wrong", "malformed PAX record")(
    _tar_case(pax_member(b"99 path=x\n") + tar_member(b"f", b"1") + END))
layer_tar_huge_pax = case("layer-tar", "a PAX header claiming 1 GiB", "implausibly large")(
    _tar_case(tar_header(b"PaxHeaders/x", size=1 << 30, typeflag=b"x") + END))
layer_tar_bad_pax_mtime = case("layer-tar", "a PAX mtime that is not a number", "invalid PAX mtime")(
    _tar_case(pax_member({"mtime": "yesterday"}) + tar_member(b"f", b"1") + END))
layer_tar_bad_pax_size = case("layer-tar", "a PAX size that is not a number", "invalid PAX size")(
    _tar_case(pax_member({"size": "lots"}) + tar_member(b"f", b"1") + END))
layer_tar_bad_xattr_base64 = case("layer-tar", "a libarchive xattr whose value is not base64", "invalid base64")(
    _tar_case(pax_member({"LIBARCHIVE.xattr.user.x": "!!!"}) + tar_member(b"f", b"1") + END))
layer_tar_truncated_hostile_name = case(
    "layer-tar", "tar cut inside a file whose name holds a newline and terminal escapes", "layer tar truncated in")(
    _tar_case(tar_member(b"evil\n\x1b]0;pwned\x07\x1b[2J", b"x" * 3000)[:1024]))


# == structure: nesting, fan-out, counts, references between documents =====================


def _index_doc(entries: list[dict]) -> bytes:
    return canonical({"schemaVersion": 2, "mediaType": g.OCI_INDEX, "manifests": entries})


def _chain_of_indexes(files: dict[str, bytes], leaf: dict, depth: int) -> dict:
    desc = leaf
    for _ in range(depth):
        data = _index_doc([desc])
        files[blob_name(sha256(data))] = data
        desc = {"mediaType": g.OCI_INDEX, "digest": sha256(data), "size": len(data)}
    return desc


def _nested(depth: int) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        built, files = good_files()
        leaf = json.loads(files["index.json"])["manifests"][0]
        top = _chain_of_indexes(files, {k: v for k, v in leaf.items() if k != "annotations"}, depth)
        files["index.json"] = _index_doc([top])
        return write_built(files, d)
    return make


structure_index_depth = case("structure", "indexes nested 12 deep (default limit 8)", "exceeds max_index_depth=8")(_nested(12))


@case("structure", "an index fanning out 32 ways to the same index, 4 levels (a million visits)", "exceeds max_manifests=1024")
def structure_index_fan_out(d: Path) -> str:
    built, files = good_files()
    desc = {k: v for k, v in json.loads(files["index.json"])["manifests"][0].items() if k != "annotations"}
    for _ in range(4):
        data = _index_doc([desc] * 32)
        files[blob_name(sha256(data))] = data
        desc = {"mediaType": g.OCI_INDEX, "digest": sha256(data), "size": len(data)}
    files["index.json"] = _index_doc([desc])
    return write_built(files, d)


@case("structure", "index.json lists the same manifest 1100 times", "exceeds max_manifests=1024")
def structure_many_manifests(d: Path) -> str:
    built, files = good_files()
    desc = {k: v for k, v in json.loads(files["index.json"])["manifests"][0].items() if k != "annotations"}
    files["index.json"] = _index_doc([desc] * 1100)
    return write_built(files, d)


@case("structure", "a manifest with 1100 layers (default limit 1024)", "exceeds max_layers=1024")
def structure_many_layers(d: Path) -> str:
    spec = g.ImageSpec([g.LayerSpec([g.file("x", b"1")])], history=False)
    spec.manifest_hook = lambda doc: doc.__setitem__("layers", doc["layers"] * 1100)
    spec.config_hook = lambda doc: doc["rootfs"].__setitem__("diff_ids", doc["rootfs"]["diff_ids"] * 1100)
    return write_spec(spec, d)


@case("structure", "index.json holds two differently named images and no name is given", "choose one")
def structure_ambiguous_index_json(d: Path) -> str:
    built, files = good_files()

    def edit(doc: dict) -> None:
        first = doc["manifests"][0]
        second = dict(first, annotations={"org.opencontainers.image.ref.name": "other"})
        doc["manifests"].append(second)
    edit_index_json(files, edit)
    return write_built(files, d)


@case("structure", "an index entry typed as a manifest points at a gzip layer blob", "not UTF-8 JSON")
def structure_manifest_points_at_layer(d: Path) -> str:
    built, files = good_files()
    layer = built.manifests[0].layer_digests[0]

    def edit(doc: dict) -> None:
        doc["manifests"][0].update(digest=layer, size=len(files[blob_name(layer)]))
    edit_index_json(files, edit)
    return write_built(files, d)


@case("structure", "an attestation manifest whose subject annotation is not a digest", "vnd.docker.reference.digest: invalid digest")
def structure_attestation_bad_subject(d: Path) -> str:
    built, files = good_files(attestation=True)
    edit_json(files, built.digest, lambda doc: doc["manifests"][1]["annotations"].__setitem__(
        "vnd.docker.reference.digest", "not-a-digest"))
    return write_built(files, d)


@case("structure", "an index refers to a manifest that is not in the image", "is missing")
def structure_dangling_manifest(d: Path) -> str:
    built, files = good_files(attestation=True)
    del files[blob_name(built.manifests[0].attestation_digest)]
    return write_built(files, d)


# == docker-manifest: docker-archive's own manifest.json ====================================


def _docker_case(edit: Callable[[Any], Any]) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        built, files = docker_files()
        edit_docker_manifest(files, edit)
        return write_built(files, d, "docker-archive")
    return make


docker_manifest_syntax = case("docker-manifest", "manifest.json is not JSON", "manifest.json: invalid JSON")(
    _docker_case(lambda doc: canonical(doc)[:-2]))
docker_manifest_empty = case("docker-manifest", "manifest.json is an empty list", "not a non-empty list of images")(
    _docker_case(lambda doc: []))
docker_manifest_object = case("docker-manifest", "manifest.json is an object", "not a non-empty list of images")(
    _docker_case(lambda doc: doc[0]))
docker_manifest_config_number = case("docker-manifest", "Config is a number", "Config is not a string")(
    _docker_case(lambda doc: doc[0].__setitem__("Config", 7)))
docker_manifest_layers_string = case("docker-manifest", "Layers is a string", "Layers is not a list of strings")(
    _docker_case(lambda doc: doc[0].__setitem__("Layers", "layer.tar")))
docker_manifest_repo_tags_mixed = case("docker-manifest", "RepoTags holds a number", "RepoTags is not a list of strings")(
    _docker_case(lambda doc: doc[0].__setitem__("RepoTags", ["a:1", 2])))
docker_manifest_layer_path_escapes = case("docker-manifest", "a layer path ../../../etc/passwd", "is missing from the archive")(
    _docker_case(lambda doc: doc[0]["Layers"].__setitem__(0, "../../../../etc/passwd")))
docker_manifest_config_missing = case("docker-manifest", "Config names a file not in the archive", "is missing from the archive")(
    _docker_case(lambda doc: doc[0].__setitem__("Config", "nope.json")))
docker_manifest_layer_count = case(
    "docker-manifest", "one layer fewer than the config's diff_ids", "rootfs.diff_ids has 2 entries but the manifest has 1 layers")(
    _docker_case(lambda doc: drop(doc[0]["Layers"], -1)))
docker_manifest_two_images = case("docker-manifest", "two images and no tag chosen", "choose one")(
    _docker_case(lambda doc: doc.append(dict(doc[0], RepoTags=["other:1"]))))


@case("docker-manifest", "the config file's content does not hash to its name", "does not hash to the digest in its name")
def docker_config_tampered(d: Path) -> str:
    built, files = docker_files()
    config = json.loads(files["manifest.json"])[0]["Config"]
    files[config] = flip(files[config], 10)
    return write_built(files, d, "docker-archive")


@case("docker-manifest", "an uncompressed layer file changed after the config was written", "digest mismatch")
def docker_plain_layer_tampered(d: Path) -> str:
    spec = g.ImageSpec([g.LayerSpec([g.file("data", b"y" * 3000)], compression="none")])
    built = g.build_docker([(spec, ["t:1"])], layout="legacy")[0]
    files = dict(built.files)
    layer = json.loads(files["manifest.json"])[0]["Layers"][0]
    files[layer] = flip(files[layer], 1000)
    return write_built(files, d, "docker-archive")


@case("docker-manifest", "two uncompressed layers with one diffID; the first file holds other bytes (only the "
      "last file of a digest used to be read)", "does not hash to")
def docker_shared_diff_id_first_tampered(d: Path) -> str:
    same = [g.file("data", b"y" * 3000)]
    spec = g.ImageSpec([g.LayerSpec(same, compression="none"), g.LayerSpec(same, compression="none")])
    built = g.build_docker([(spec, ["t:1"])], layout="legacy", symlinks=False)[0]
    files = dict(built.files)
    first = json.loads(files["manifest.json"])[0]["Layers"][0]
    files[first] = flip(files[first], 1000)
    return write_built(files, d, "docker-archive")


@case("docker-manifest", "a compressed layer file swapped for another valid gzip tar, the archive diffed with "
      "itself (equal made-up digests used to be trusted)", "diffID mismatch")
def docker_compressed_layer_swapped(d: Path) -> tuple[str, str]:
    built = g.build_docker([(good_spec(), ["t:1"])], layout="legacy")[0]
    files = dict(built.files)
    first = json.loads(files["manifest.json"])[0]["Layers"][0]
    files[first] = g.compress(GOOD_TAR, "gzip")
    ref = write_built(files, d, "docker-archive")
    return ref, ref  # type: ignore[return-value]


# == limits: each safety limit, and its flag, on otherwise valid images ======================
# The layers must differ from the good image's so that the differ reads them.


def _variant(d: Path, **kw: Any) -> str:
    spec = g.vary(good_spec(**kw), 0, "etc/hostname", content=b"other\n")
    return write_spec(spec, d)


limits_json_bytes = case("limits", "a config over --max-json-bytes 300", "max_json_bytes=300; raise with --max-json-bytes",
                         flags=("--max-json-bytes", "300"))(_variant)
limits_entries = case("limits", "a layer with more entries than --max-entries-per-layer 2",
                      "raise with --max-entries-per-layer", flags=("--max-entries-per-layer", "2"))(_variant)
limits_layer_bytes = case("limits", "a layer larger uncompressed than --max-layer-bytes 2048",
                          "max_layer_bytes=2048; raise with --max-layer-bytes", flags=("--max-layer-bytes", "2048"))(_variant)
limits_layers = case("limits", "two layers against --max-layers 1", "max_layers=1; raise with --max-layers",
                     flags=("--max-layers", "1"))(_variant)
limits_manifests = case("limits", "an index, an image and an attestation against --max-manifests 2",
                        "max_manifests=2; raise with --max-manifests", flags=("--max-manifests", "2"))(
    lambda d: _variant(d, attestation=True))
limits_index_depth = case("limits", "indexes nested 3 deep against --max-index-depth 2",
                          "max_index_depth=2; raise with --max-index-depth", flags=("--max-index-depth", "2"))(_nested(3))


@case("limits", "a gzip bomb: 64 MiB of zeros in a 64 KiB blob, against --max-layer-bytes 16777216",
      "max_layer_bytes=16777216", flags=("--max-layer-bytes", str(16 << 20)))
def limits_gzip_bomb(d: Path) -> str:
    blob, diff_id = big_layer_blob(64 << 20, tail=b"")
    return write_blob_image(d / "image.tar", blob, diff_id) and f"@/{d.name}/image.tar"


# == odd: valid images that must diff normally (exit 0 or 1) ================================


def _odd_pair(d: Path, files_a: list[g.FileSpec], files_b: list[g.FileSpec] | None = None,
              **kw: Any) -> tuple[str, str]:
    a = g.ImageSpec([g.LayerSpec(files_a, **kw)])
    b = g.ImageSpec([g.LayerSpec(files_b if files_b is not None else files_a, **kw)])
    g.write_image(a, d / "a.tar")
    g.write_image(b, d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


HOSTILE_NAMES = ["../../escape", "/abs/olute", "a/../../up", "..", "./../x", "ok/../../../x", "a//b///c",
                 "back\\slash\\..\\..\\x", "-rf", " space ", "report.json", "a/report.json"]


@case("odd", "entry names with .., absolute paths, backslashes, option-like and report-like names", expect=(1,))
def odd_hostile_names(d: Path) -> tuple[str, str]:
    return _odd_pair(d, [g.file(n, b"A") for n in HOSTILE_NAMES], [g.file(n, b"B") for n in HOSTILE_NAMES])


@case("odd", "symlinks and hardlinks aiming out of the image, then files written through them", expect=(1,))
def odd_hostile_links(d: Path) -> tuple[str, str]:
    def files(c: bytes) -> list[g.FileSpec]:
        return [g.symlink("etc", "/etc"), g.file("etc/passwd", c), g.symlink("up", "../../../.."),
                g.file("up/pwned", c), g.hardlink("shadow", "/etc/shadow"), g.hardlink("esc", "../../x"),
                g.symlink("abs", "/"), g.file("abs/tmp/pwned", c)]
    return _odd_pair(d, files(b"A"), files(b"B"))


@case("odd", "names that are not UTF-8 (latin-1, lone continuation bytes)", expect=(1,))
def odd_non_utf8_names(d: Path) -> tuple[str, str]:
    names = [b"caf\xe9", b"\x80\x81", b"dir\xff/file\xfe"]
    decoded = [n.decode("utf-8", "surrogateescape") for n in names]
    return _odd_pair(d, [g.file(n, b"A") for n in decoded], [g.file(n, b"B") for n in decoded],
                     tar_format="gnu")


@case("odd", "names with newlines, tabs, NUL-free control characters and terminal escapes", expect=(1,))
def odd_control_characters(d: Path) -> tuple[str, str]:
    names = ["new\nline", "tab\there", "esc\x1b[31mred\x1b[0m", "title\x1b]0;pwned\x07", "bell\x07"]
    return _odd_pair(d, [g.file(n, b"A") for n in names], [g.file(n, b"B") for n in names])


@case("odd", "the same path three times in one layer, last copy differs", expect=(1,))
def odd_duplicate_entries(d: Path) -> tuple[str, str]:
    a = [g.file("dup", b"1"), g.file("dup", b"2"), g.dir("dup"), g.file("dup", b"3")]
    b = [g.file("dup", b"1"), g.file("dup", b"2"), g.dir("dup"), g.file("dup", b"4")]
    return _odd_pair(d, a, b)


@case("odd", "a file, then files below a path of the same name (p, p/q, p/q/r)", expect=(1,))
def odd_file_then_children(d: Path) -> tuple[str, str]:
    def files(c: bytes) -> list[g.FileSpec]:
        return [g.file("p", c), g.file("p/q", c), g.file("p/q/r", c)]
    return _odd_pair(d, files(b"A"), files(b"B"))


@case("odd", "symlink loops, a symlink to itself, a hardlink to itself and to a later entry", expect=(1,))
def odd_link_loops(d: Path) -> tuple[str, str]:
    common = [g.symlink("self", "self"), g.hardlink("hself", "hself"), g.hardlink("early", "late"),
              g.file("late", b"x"), g.symlink("loop/a", "../loop/b")]
    return _odd_pair(d, common + [g.symlink("loop/b", "../loop/a")], common + [g.symlink("loop/b", "../loop/b")])


@case("odd", "whiteouts of missing files, opaque dirs, .wh..wh..opq at the root, whiteout of ..", expect=(1,))
def odd_whiteouts(d: Path) -> tuple[str, str]:
    lower = g.LayerSpec([g.dir("d"), g.file("d/a", b"1"), g.file("keep", b"k")])
    upper_a = g.LayerSpec([g.whiteout("nope/never"), g.opaque("d"), g.opaque("."), g.file(".wh...", b""),
                           g.whiteout("keep"), g.file("d/b", b"2")])
    upper_b = g.LayerSpec([g.opaque("d"), g.file("d/b", b"3")])
    g.write_image(g.ImageSpec([lower, upper_a]), d / "a.tar")
    g.write_image(g.ImageSpec([lower, upper_b, g.LayerSpec([g.whiteout("keep")])]), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "character and block devices, FIFOs, huge device numbers", expect=(1,))
def odd_device_nodes(d: Path) -> tuple[str, str]:
    a = [g.char("dev/null", 1, 3), g.block("dev/sda", 8, 0), g.fifo("dev/fifo"), g.char("dev/big", 4095, 1048575)]
    b = [g.char("dev/null", 1, 5), g.block("dev/sda", 8, 0), g.fifo("dev/fifo"), g.char("dev/big", 4095, 1048574)]
    return _odd_pair(d, a, b)


@case("odd", "an image with no layers at all, diffed with itself", expect=(0,))
def odd_empty_image(d: Path) -> tuple[str, str]:
    g.write_image(g.ImageSpec([]), d / "a.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/a.tar"


@case("odd", "no layers against one layer (merged filesystems)", expect=(1,))
def odd_empty_against_one_layer(d: Path) -> tuple[str, str]:
    g.write_image(g.ImageSpec([]), d / "a.tar")
    g.write_image(g.ImageSpec([g.LayerSpec([g.file("x", b"1")])]), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a layer that is only the end-of-archive blocks, in gzip and zstd", expect=(1,))
def odd_empty_layers(d: Path) -> tuple[str, str]:
    g.write_image(g.ImageSpec([g.LayerSpec([]), g.LayerSpec([], compression="zstd")]), d / "a.tar")
    g.write_image(g.ImageSpec([g.LayerSpec([]), g.LayerSpec([g.file("x", b"")], compression="zstd")]), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a 64 MiB file of zeros (blob of ~64 KiB) that differs in its last byte", expect=(1,))
def odd_large_compressible(d: Path) -> tuple[str, str]:
    for name, (blob, diff_id) in zip("ab", big_layer_blobs(64 << 20, (b"\0", b"\1"))):
        write_blob_image(d / f"{name}.tar", blob, diff_id)
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a 4000-character path and a directory tree 300 levels deep", expect=(1,))
def odd_long_and_deep_paths(d: Path) -> tuple[str, str]:
    long_name = "l" * 4000
    deep = "/".join(["d"] * 300) + "/leaf"
    return _odd_pair(d, [g.file(long_name, b"A"), g.file(deep, b"A")], [g.file(long_name, b"B"), g.file(deep, b"B")])


@case("odd", "binary xattrs, 64 KiB xattr values, setuid/sticky modes, uid 2**31, mtime before 1970", expect=(1,))
def odd_metadata_extremes(d: Path) -> tuple[str, str]:
    def files(v: bytes) -> list[g.FileSpec]:
        return [g.file("x", b"1", xattrs={"user.bin": b"\0\xff" + v, "user.big": v * 65536}, mode=0o7777,
                       uid=2**31, gid=2**31, mtime="-1.5"),
                g.file("future", b"", mtime=2**40)]
    return _odd_pair(d, files(b"a"), files(b"b"))


@case("odd", "identical images written twice (one gzip, one zstd): only compression differs", expect=(1,))
def odd_compression_only(d: Path) -> tuple[str, str]:
    files = [g.file("x", b"same")]
    g.write_image(g.ImageSpec([g.LayerSpec(files)]), d / "a.tar")
    g.write_image(g.ImageSpec([g.LayerSpec(files, compression="zstd")]), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "the good image as an OCI layout and as an OCI tar", expect=(0,))
def odd_same_image_two_containers(d: Path) -> tuple[str, str]:
    g.write_image(good_spec(), d / "layout", "oci")
    return GOOD, f"oci:@/{d.name}/layout"


# == verdict: valid images that differ where repro once answered "identical" (#16) ==========
# Each pair differs only where the case says; the exit must be 1, never 0.

SIG_TYPE = "application/vnd.example.signature.v1+json"


def two_platforms(nested: bool = True, **kw: Any) -> g.Built:
    amd = good_spec(**kw)
    arm = g.vary_image(good_spec(**kw), platform="linux/arm64")
    return g.build_oci(g.IndexSpec([amd, arm], nested=nested))


def _index_pair(edit: Callable[[dict[str, bytes], Any], Any], nested: bool = True) -> Callable[[Path], tuple[str, str]]:
    """A: a two-platform image; B: the same with `edit(files, index_doc)` applied to its
    (nested) index, everything above re-hashed."""
    def make(d: Path) -> tuple[str, str]:
        built = two_platforms(nested)
        g.write_files(built.files, d / "a.tar", "oci-archive")
        files = dict(built.files)
        if nested:
            top = json.loads(files["index.json"])["manifests"][0]["digest"]
            edit_json(files, top, lambda doc: edit(files, doc))
        else:
            edit_index_json(files, lambda doc: edit(files, doc))
        g.write_files(files, d / "b.tar", "oci-archive")
        return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"
    return make


def _add_signature(files: dict[str, bytes], doc: Any) -> None:
    sig = canonical({"signed": "by someone"})
    files[blob_name(sha256(sig))] = sig
    doc["manifests"].append({"mediaType": SIG_TYPE, "digest": sha256(sig), "size": len(sig)})


def _set_entry(key: str, value: Any, where: str = "") -> Callable[[dict[str, bytes], Any], None]:
    def edit(files: dict[str, bytes], doc: Any) -> None:
        entry = doc["manifests"][0]
        (entry.setdefault(where, {}) if where else entry)[key] = value
    return edit


verdict_index_unknown_media_type = case("verdict", "B's index has one more entry, of a media type repro does not read",
                                        expect=(1,))(_index_pair(_add_signature))
verdict_index_os_version = case("verdict", "an index entry's platform differs only in os.version", expect=(1,))(
    _index_pair(_set_entry("os.version", "10.0.17763.1", "platform")))
verdict_index_os_features = case("verdict", "an index entry's platform differs only in os.features", expect=(1,))(
    _index_pair(_set_entry("os.features", ["win32k"], "platform")))
verdict_index_urls = case("verdict", "an index entry differs only in urls", expect=(1,))(
    _index_pair(_set_entry("urls", ["https://example.com/blob"])))
verdict_index_artifact_type = case("verdict", "an index entry differs only in artifactType", expect=(1,))(
    _index_pair(_set_entry("artifactType", "application/vnd.example")))
verdict_index_subject = case("verdict", "the nested index differs only in its subject", expect=(1,))(
    _index_pair(lambda files, doc: doc.__setitem__(
        "subject", {"mediaType": g.OCI_MANIFEST, "digest": "sha256:" + "5" * 64, "size": 1})))
verdict_index_order_nested = case("verdict", "the nested index lists the two platforms in the other order",
                                  expect=(1,))(_index_pair(lambda files, doc: doc["manifests"].reverse()))
verdict_index_order_flat = case("verdict", "index.json lists the two platforms in the other order", expect=(1,))(
    _index_pair(lambda files, doc: doc["manifests"].reverse(), nested=False))
verdict_index_duplicate_entry = case("verdict", "B's index lists its first manifest twice", expect=(1,))(
    _index_pair(lambda files, doc: doc["manifests"].append(dict(doc["manifests"][0]))))


@case("verdict", "every manifest has a subject (as a referrer would), files differ, under --semantic", expect=(1,),
      flags=("--semantic",))
def verdict_semantic_subject_on_every_manifest(d: Path) -> tuple[str, str]:
    subject = {"mediaType": g.OCI_MANIFEST, "digest": "sha256:" + "7" * 64, "size": 7}

    def with_subject(spec: g.ImageSpec) -> g.ImageSpec:
        spec.manifest_hook = lambda doc: doc.__setitem__("subject", subject)
        return spec
    g.write_image(with_subject(good_spec()), d / "a.tar")
    g.write_image(with_subject(g.vary(good_spec(), 0, "etc/hostname", content=b"other\n")), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("verdict", "an image manifest annotated as a BuildKit attestation, files differ, under --semantic",
      expect=(1,), flags=("--semantic",))
def verdict_semantic_image_posing_as_attestation(d: Path) -> tuple[str, str]:
    def posing(spec: g.ImageSpec, path: Path) -> None:
        files = dict(g.build_oci(g.IndexSpec([spec])).files)
        top = json.loads(files["index.json"])["manifests"][0]["digest"]
        edit_json(files, top, lambda doc: doc["manifests"][0].setdefault("annotations", {}).update(
            {"vnd.docker.reference.type": "attestation-manifest",
             "vnd.docker.reference.digest": "sha256:" + "7" * 64}))
        g.write_files(files, path, "oci-archive")
    posing(good_spec(), d / "a.tar")
    posing(g.vary(good_spec(), 0, "etc/hostname", content=b"other\n"), d / "b.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("verdict", "two uncompressed layers sharing one diffID, each file intact (diffed with itself)", expect=(0,))
def verdict_docker_shared_diff_id_intact(d: Path) -> tuple[str, str]:
    same = [g.file("data", b"y" * 3000)]
    spec = g.ImageSpec([g.LayerSpec(same, compression="none"), g.LayerSpec(same, compression="none")])
    files = dict(g.build_docker([(spec, ["t:1"])], layout="legacy", symlinks=False)[0].files)
    ref = write_built(files, d, "docker-archive")
    return ref, ref


# == odd input that once gave exit 2 (#16 item 8) ==========================================


@case("odd", "xattr names that are not UTF-8 (and hold ESC), with --report-dir and -o", expect=(1,))
def odd_non_utf8_xattr_names(d: Path) -> tuple[str, str]:
    for name, value in (("a", b"1"), ("b", b"2")):
        pax = pax_record(b"SCHILY.xattr.user.\xff\x1b", value)
        tar = tar_member(b"PaxHeaders/x", pax, typeflag=b"x") + tar_member(b"f", value) + END
        g.write_image(raw_layer_image(tar), d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a config label holding a lone surrogate (\\ud800, legal in JSON text)", expect=(1,))
def odd_lone_surrogate_label(d: Path) -> tuple[str, str]:
    for name, value in (("a", "x\ud800"), ("b", "y\udfff")):
        spec = good_spec(labels={"l\ud800": value})
        spec.config_hook = lambda doc: json.dumps(doc, sort_keys=True).encode()  # ASCII: "\\ud800" escapes
        g.write_image(spec, d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a PAX path holding a NUL (the file differs, so --report-dir writes it)", expect=(1,))
def odd_nul_in_pax_path(d: Path) -> tuple[str, str]:
    for name, value in (("a", b"1"), ("b", b"2")):
        pax = pax_record(b"path", b"dir/nul\0name")
        tar = tar_member(b"PaxHeaders/x", pax, typeflag=b"x") + tar_member(b"placeholder", value) + END
        g.write_image(raw_layer_image(tar), d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


@case("odd", "a zstd layer that starts with a skippable frame (valid per RFC 8878)", expect=(1,))
def odd_zstd_skippable_frame_first(d: Path) -> tuple[str, str]:
    skippable = struct.pack("<II", 0x184D2A50, 6) + b"repro!"
    for name, value in (("a", b"1"), ("b", b"2")):
        spec = raw_layer_image(tar_member(b"f", value) + END, compression="zstd")
        spec.layer_hook = lambda i, blob: skippable + blob
        g.write_image(spec, d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


json_config_infinity = case("json", "config holds Infinity (not JSON; a report would not be strict JSON)",
                            "Infinity is not a JSON number")(
    lambda d: write_spec(_with_config(lambda doc: canonical(doc).replace(b'"os":"linux"', b'"os":"linux","x":Infinity')), d))
json_config_huge_float = case("json", "config holds 1e999 (beyond a double)", "number 1e999 is out of range")(
    lambda d: write_spec(_with_config(lambda doc: canonical(doc).replace(b'"os":"linux"', b'"os":"linux","x":1e999')), d))


def _with_config(hook: Callable[[Any], Any]) -> g.ImageSpec:
    spec = good_spec()
    spec.config_hook = hook
    return spec


# == memory: tiny inputs that once took gigabytes (#16 item 4) =============================
# The generators take their scale, so that benchmarks/bench_memory.py can run them at the
# issue's sizes (and print peak RSS) while the corpus runs them at sizes that keep the
# suite fast; each pair differs in one file, so the differing layer is read.


def many_entries_tar(n: int, tail: bytes = b"0") -> bytes:
    """An uncompressed layer tar of `n` empty files d/NNNNNN, then one file `last` holding `tail`."""
    template = bytearray(tar_header(b"x"))
    parts = []
    for i in range(n):
        h = bytearray(template)
        name = b"d/%07d" % i
        h[0:100] = name + bytes(100 - len(name))
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        parts.append(bytes(h))
    parts.append(tar_member(b"last", tail))
    return b"".join(parts) + END


def write_many_entries_pair(d: Path, n: int) -> tuple[str, str]:
    for name, tail in (("a", b"0"), ("b", b"1")):
        g.write_image(raw_layer_image(many_entries_tar(n, tail), compression="gzip"), d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


def global_pax_tar(record: int, entries: int, tail: bytes) -> bytes:
    """One global PAX header with a `record`-byte comment, then `entries` small files."""
    g_body = pax_record(b"comment", b"c" * record)
    tar = tar_member(b"PaxHeaders/g", g_body, typeflag=b"g")
    tar += b"".join(tar_member(b"f%05d" % i, b"x") for i in range(entries))
    return tar + tar_member(b"last", tail) + END


def write_global_pax_pair(d: Path, record: int, entries: int) -> tuple[str, str]:
    for name, tail in (("a", b"0"), ("b", b"1")):
        g.write_image(raw_layer_image(global_pax_tar(record, entries, tail)), d / f"{name}.tar")
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


def write_manifest_fan_in_pair(d: Path, size: int, count: int) -> tuple[str, str]:
    """A nested index listing one `size`-byte manifest (padded with an annotation) `count` times."""
    refs = []
    for name, content in (("a", b"box\n"), ("b", b"other\n")):
        spec = g.vary(good_spec(), 0, "etc/hostname", content=content)
        spec.annotations = {"org.example.padding": "p" * size}
        files = dict(g.build_oci(g.IndexSpec([spec])).files)
        top = json.loads(files["index.json"])["manifests"][0]["digest"]
        edit_json(files, top, lambda doc: doc.__setitem__("manifests", doc["manifests"] * count))
        g.write_files(files, d / f"{name}.tar", "oci-archive")
        refs.append(f"@/{d.name}/{name}.tar")
    return refs[0], refs[1]


def write_big_files_pair(d: Path, count: int, size: int) -> tuple[str, str]:
    """`count` files of `size` bytes each (zeros, then a differing last byte)."""
    for name, tail in (("a", b"\0"), ("b", b"\1")):
        comp = zlib.compressobj(1, zlib.DEFLATED, 31)
        h, out = hashlib.sha256(), []
        body = bytes(size - 1) + tail + bytes(-size % 512)
        for i in range(count):
            for piece in (tar_header(b"big%04d" % i, size=size), body):
                h.update(piece)
                out.append(comp.compress(piece))
        h.update(END)
        out.append(comp.compress(END))
        out.append(comp.flush())
        write_blob_image(d / f"{name}.tar", b"".join(out), "sha256:" + h.hexdigest())
    return f"@/{d.name}/a.tar", f"@/{d.name}/b.tar"


memory_global_pax = case("memory", "one 1 MiB global PAX record, then 200 entries (a 20 KB layer)", expect=(1,))(
    lambda d: write_global_pax_pair(d, (1 << 20) - 64, 200))
memory_global_pax_over_go_limit = case(
    "memory", "one 8 MiB global PAX record, then 200 entries: refused, as Go's archive/tar refuses it",
    "implausibly large g header")(lambda d: write_global_pax_pair(d, 8 << 20, 200))
memory_manifest_fan_in = case("memory", "one 1 MiB manifest listed 1000 times in an index", expect=(1,))(
    lambda d: write_manifest_fan_in_pair(d, 1 << 20, 1000))
memory_big_differing_files = case("memory", "24 differing 4 MiB files (the benchmark runs 120)", expect=(1,))(
    lambda d: write_big_files_pair(d, 24, 4 << 20))
memory_many_entries = case("memory", "20,000 entries in one layer (the benchmark runs 400,000)", expect=(1,))(
    lambda d: write_many_entries_pair(d, 20_000))


# -- big layers ------------------------------------------------------------------------------


def big_layer_blobs(size: int, tails: tuple[bytes, ...] = (b"",), name: bytes = b"big") -> list[tuple[bytes, str]]:
    """Gzip layers each holding one file of `size` bytes: zeros, then one of `tails`.
    Streamed (the uncompressed tar never exists in memory), and the common prefix is
    compressed and hashed once. Returns [(blob, diffID)] in the order of `tails`."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    h = hashlib.sha256()
    head: list[bytes] = []

    def put(data: bytes, c: Any = comp, hh: Any = h, out: list[bytes] = head) -> None:
        hh.update(data)
        out.append(c.compress(data))

    put(tar_header(name, size=size))
    longest = max(len(t) for t in tails)
    zeros = bytes(1 << 20)
    left = size - longest
    while left > 0:
        chunk = zeros if left >= len(zeros) else zeros[:left]
        put(chunk)
        left -= len(chunk)
    prefix = b"".join(head)
    made = []
    for tail in tails:
        c, hh, rest = comp.copy(), h.copy(), [prefix]
        put(bytes(longest - len(tail)) + tail + bytes(-size % 512) + END, c, hh, rest)
        rest.append(c.flush())
        made.append((b"".join(rest), "sha256:" + hh.hexdigest()))
    return made


def big_layer_blob(size: int, tail: bytes = b"", name: bytes = b"big") -> tuple[bytes, str]:
    return big_layer_blobs(size, (tail,), name)[0]


def write_blob_image(path: Path, blob: bytes, diff_id: str) -> bool:
    """An OCI tar whose single gzip layer is `blob` with diffID `diff_id`."""
    spec = g.ImageSpec([g.LayerSpec([], raw_tar=b"")], history=False)
    spec.layer_hook = lambda i, _: blob
    spec.config_hook = lambda doc: doc["rootfs"].__setitem__("diff_ids", [diff_id])
    g.write_image(spec, path)
    return True


def write_big_pair(out: str | os.PathLike[str], size: int = 1 << 30) -> tuple[str, str]:
    """Two OCI tars with one layer of a `size`-byte file of zeros; B's last byte is 1."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (blob, diff_id) in zip(("big-a.tar", "big-b.tar"), big_layer_blobs(size, (b"\0", b"\1"))):
        write_blob_image(out / name, blob, diff_id)
        paths.append(str(out / name))
    return paths[0], paths[1]


# -- driver ----------------------------------------------------------------------------------


def case_names() -> list[str]:
    return [entry[0] for entry in _registry()]


def case_levels() -> dict[str, str]:
    """Case name -> level, without writing anything."""
    return {entry[0]: entry[1] for entry in _registry()}


def generate(out: str | os.PathLike[str], only: list[str] | None = None) -> list[Case]:
    """Write the good image and every case (or those named in `only`) under `out`;
    return the cases. Also writes out/cases.json."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "good.tar").exists():
        g.write_image(good_spec(), root / "good.tar")
    cases = []
    for name, level, breaks, expect, flags, message, fn in _registry():
        if only is not None and name not in only:
            continue
        d = root / name
        d.mkdir(exist_ok=True)
        made = fn(d)
        a, b = made if isinstance(made, tuple) else (GOOD, made)
        cases.append(Case(name, level, breaks, a, b, expect, message, flags))
    (root / "cases.json").write_text(json.dumps([asdict(c) for c in cases], indent=1) + "\n")
    return cases


def main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        for name, level, breaks, expect, flags, _, _ in _registry():
            print(f"{level:16} {name:48} exit {'/'.join(map(str, expect))}  {breaks}")
        return 0
    if argv[:1] == ["--big"] and len(argv) in (2, 3):
        size = int(argv[2]) << 20 if len(argv) == 3 else 1 << 30
        print("\n".join(write_big_pair(argv[1], size)))
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):  # `--help` is not a directory to fill
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 0 if argv[:1] in (["--help"], ["-h"]) else 2
    cases = generate(argv[0])
    print(f"{len(cases)} cases in {argv[0]} (see cases.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
