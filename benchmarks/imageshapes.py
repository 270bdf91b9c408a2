"""Image pairs of the shapes real images have, generated once and cached, for bench_diff.py.

A *shape* is a list of layers; each layer is planned as the entries of image A and of
image B, and is either shared (B reuses A's blob: same digest, same diffID, as a rebuild
that hits the same base) or rebuilt (B's blob is written from B's entries). What differs
between A and B is listed as `Mutation`s, so a benchmark can check that every tool
found every planted difference.

Shapes (all deterministic for a seed; entries sorted as BuildKit writes them):
- `mixed` (the original shape): one layer, a few thousand files of log-normal sizes
  from bytes to tens of MB, half of the bytes text, half random; 5 differences.
- `small-files`: one layer, 20,000 files of 4-32 KiB (as a Debian or Python image):
  per-entry cost dominates; 7 differences, one file added in the middle of the order.
- `many-layers`: 24 layers of about 8 MB, 21 of them shared; 3 rebuilt layers with
  4 differences between them.
- `debian`: a real Debian rootfs (debootstrap minbase bookworm, from
  testdata/make_debian_base.py) as the layer, rebuilt the way a second `RUN
  debootstrap` differs (dpkg and apt logs, the ld.so cache, a few mtimes), plus a small
  second layer with a build stamp.

Stdlib only: the benchmark must run without repro's dependencies.
"""
from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import os
import random
import tarfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

GENERATOR_VERSION = 2  # bump when a shape's bytes change (cache keys)
SOURCE_DATE_EPOCH = 1700000000
CHUNK = 1 << 20

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Entry:
    """One tar entry of a generated layer."""

    path: str
    kind: str  # "dir" | "file" | "symlink"
    mode: int
    mtime: int = SOURCE_DATE_EPOCH
    size: int = 0
    content: str = ""  # "text" | "binary" | "raw" (bytes given in `data`)
    linkname: str = ""
    patch: bytes = b""  # for image B: bytes written over the middle of the content
    data: bytes = b""  # content == "raw": the bytes themselves
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""


@dataclass(frozen=True)
class Mutation:
    path: str
    field: str  # what differs, in repro's vocabulary: content | mtime | mode | presence
    note: str
    layer: int = 0


@dataclass(frozen=True)
class LayerPlan:
    entries_a: list[Entry]
    entries_b: list[Entry]
    shared: bool  # B reuses A's blob
    instruction: str


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    layers: list[LayerPlan]
    mutations: list[Mutation]
    params: dict = field(default_factory=dict)
    with_shared_pair: bool = False  # also write a-shared.oci.tar: A's blobs, one annotation differs


# --------------------------------------------------------------------------- content

def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(n)]


def _line_pool(seed: int) -> list[bytes]:
    rng = random.Random(f"{seed}:lines")
    vocab = _words(rng, 2000) + ["def", "return", "self", "import", "the", "=", "{", "}", "if", "for"] * 20
    lines = []
    for _ in range(4096):
        indent = " " * (4 * rng.randint(0, 3))
        lines.append((indent + " ".join(rng.choices(vocab, k=rng.randint(3, 14))) + "\n").encode())
    return lines


def _content(entry: Entry, seed: int, pool: list[bytes]) -> bytes:
    if entry.content == "raw":
        return entry.data
    rng = random.Random(f"{seed}:{entry.path}")
    if entry.content == "binary":
        return rng.randbytes(entry.size)
    n = entry.size // 50 + 1
    data = b"".join(rng.choices(pool, k=n))
    while len(data) < entry.size:
        data += b"".join(rng.choices(pool, k=n))
    return data[: entry.size]


def _patched(data: bytes, patch: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + patch + data[mid + len(patch):]


def _with_dirs(entries: list[Entry]) -> list[Entry]:
    """`entries` plus every parent directory, sorted by path (as BuildKit writes a layer)."""
    have = {e.path for e in entries}
    dirs = {"/".join(e.path.split("/")[:k]) for e in entries for k in range(1, e.path.count("/") + 1)}
    out = entries + [Entry(d, "dir", 0o755) for d in dirs if d not in have]
    out.sort(key=lambda e: e.path)
    return out


def _mutate(entries: list[Entry], changed: dict[str, Entry], added: list[Entry] = ()) -> list[Entry]:
    """B's entries: A's with `changed` replaced, `added` inserted in sorted position."""
    out = [changed.get(e.path, e) for e in entries] + list(added)
    out.sort(key=lambda e: e.path)
    return out


# --------------------------------------------------------------------------- shapes

def plan_layer(size_mb: float, seed: int) -> tuple[list[Entry], list[Entry], list[Mutation]]:
    """The `mixed` shape's one layer: A's entries, B's, and what differs."""
    rng = random.Random(f"{seed}:plan")
    n_files = max(60, round(size_mb * 12))
    n_pkgs = max(3, n_files // 25)
    target = int(size_mb * (1 << 20))
    files: list[Entry] = []
    text_sizes, bin_sizes = [], []
    for i in range(n_files):
        pkg = f"pkg{i % n_pkgs:03d}"
        if rng.random() < 0.7:
            where = rng.choice([f"usr/share/doc/{pkg}", f"usr/lib/python3/dist-packages/{pkg}",
                                f"etc/{pkg}", f"usr/share/{pkg}/templates"])
            ext = rng.choice([".py", ".txt", ".conf", ".html", ".json", ".md"])
            files.append(Entry(f"{where}/f{i:05d}{ext}", "file", 0o644, content="text"))
            text_sizes.append(rng.lognormvariate(0, 1.2))
        else:
            where, mode, name = rng.choice([
                ("usr/lib/x86_64-linux-gnu", 0o644, f"lib{pkg}-{i:05d}.so.1"),
                ("usr/bin", 0o755, f"{pkg}-tool{i:05d}"),
                (f"usr/share/{pkg}/data", 0o644, f"blob{i:05d}.bin"),
                (f"opt/{pkg}/lib", 0o644, f"mod{i:05d}.so")])
            files.append(Entry(f"{where}/{name}", "file", mode, content="binary"))
            bin_sizes.append(rng.lognormvariate(0, 1.6))
    # Scale the log-normal shapes so that text and binary each make half of the target.
    ts, bs = iter(text_sizes), iter(bin_sizes)
    tscale = target / 2 / sum(text_sizes)
    bscale = target / 2 / sum(bin_sizes)
    files = [replace(f, size=max(1, int(next(ts) * tscale)) if f.content == "text"
                     else max(1, int(next(bs) * bscale))) for f in files]
    # A few symlinks, as packages ship them (libfoo.so -> libfoo.so.1).
    links = [Entry(f.path[: -len(".1")], "symlink", 0o777, linkname=f.path.rsplit("/", 1)[1])
             for f in files if f.path.endswith(".so.1")][:200]
    logs = [Entry("var/log/apt/history.log", "file", 0o644, size=4096, content="text"),
            Entry("var/log/dpkg.log", "file", 0o644, size=20000, content="text")]
    entries = _with_dirs(files + links + logs)

    # Mutations for B, picked deterministically among the planned files.
    texts = [e for e in entries if e.kind == "file" and e.content == "text" and e.size > 200
             and e.path.startswith(("etc/", "usr/share/doc/"))]
    bins = sorted((e for e in entries if e.kind == "file" and e.content == "binary"), key=lambda e: -e.size)
    tools = [e for e in entries if e.path.startswith("usr/bin/") and e.kind == "file"]
    pick = random.Random(f"{seed}:mutations")
    text_c, text_m = pick.sample(texts, 2)
    bin_c = bins[len(bins) // 10]  # a large binary, not the largest
    tool_m = pick.choice(tools)
    added = Entry("var/log/zz-rebuild-stamp.txt", "file", 0o644, size=61, content="text")
    changed = {
        text_c.path: replace(text_c, patch=b"built 2024-05-02T10:11:12Z"),
        bin_c.path: replace(bin_c, patch=bytes(range(16))),
        text_m.path: replace(text_m, mtime=SOURCE_DATE_EPOCH + 3600),
        tool_m.path: replace(tool_m, mode=0o775),
    }
    entries_b = _mutate(entries, changed, [added])
    assert entries_b[-1].path == added.path, "the added file must sort last"
    mutations = [
        Mutation(text_c.path, "content", "text file: a build timestamp in the middle"),
        Mutation(bin_c.path, "content", f"binary of {bin_c.size} bytes: 16 bytes in the middle"),
        Mutation(text_m.path, "mtime", "mtime one hour later"),
        Mutation(tool_m.path, "mode", "0755 -> 0775"),
        Mutation(added.path, "presence", "only in B, last entry of the layer"),
    ]
    return entries, entries_b, mutations


def shape_mixed(size_mb: float = 300, seed: int = 1) -> Shape:
    a, b, muts = plan_layer(size_mb, seed)
    return Shape("mixed", f"1 layer, {sum(e.kind == 'file' for e in a)} files of log-normal sizes "
                          f"(bytes to tens of MB), {size_mb:g} MB", [LayerPlan(a, b, False, "COPY rootfs/ /")],
                 muts, {"size_mb": size_mb}, with_shared_pair=True)


def _package_files(rng: random.Random, n_files: int, prefix: str, min_size: int, max_size: int,
                   text_share: float = 0.7) -> list[Entry]:
    """`n_files` files of min..max bytes in a package-like tree, ~25 files a package."""
    n_pkgs = max(1, n_files // 25)
    files = []
    for i in range(n_files):
        pkg = f"{prefix}{i % n_pkgs:04d}"
        size = rng.randint(min_size, max_size)
        if rng.random() < text_share:
            where = rng.choice([f"usr/share/doc/{pkg}", f"usr/lib/python3/dist-packages/{pkg}",
                                f"usr/share/{pkg}", f"usr/include/{pkg}"])
            ext = rng.choice([".py", ".txt", ".h", ".html", ".json", ".md"])
            files.append(Entry(f"{where}/f{i:05d}{ext}", "file", 0o644, size=size, content="text"))
        else:
            where, mode, name = rng.choice([
                ("usr/lib/x86_64-linux-gnu", 0o644, f"lib{pkg}-{i:05d}.so.1"),
                ("usr/bin", 0o755, f"{pkg}-tool{i:05d}"),
                (f"usr/lib/python3/dist-packages/{pkg}", 0o644, f"_mod{i:05d}.cpython-311.so")])
            files.append(Entry(f"{where}/{name}", "file", mode, size=size, content="binary"))
    return files


def shape_small_files(n_files: int = 20000, seed: int = 1) -> Shape:
    """One layer of `n_files` files of 4-32 KiB; 7 differences."""
    rng = random.Random(f"{seed}:small")
    entries = _with_dirs(_package_files(rng, n_files, "p", 4 << 10, 32 << 10))
    files = [e for e in entries if e.kind == "file"]
    texts = [e for e in files if e.content == "text"]
    bins = [e for e in files if e.content == "binary"]
    pick = random.Random(f"{seed}:small-mutations")
    t1, t2, t3, t4 = pick.sample(texts, 4)
    b1, b2 = pick.sample(bins, 2)
    added = Entry("usr/share/doc/build-info/stamp.txt", "file", 0o644, size=61, content="text")
    changed = {
        t1.path: replace(t1, patch=b"built 2024-05-02T10:11:12Z"),
        t2.path: replace(t2, patch=b"1714644672"),
        b1.path: replace(b1, patch=bytes(range(16))),
        t3.path: replace(t3, mtime=SOURCE_DATE_EPOCH + 3600),
        t4.path: replace(t4, mtime=SOURCE_DATE_EPOCH - 86400),
        b2.path: replace(b2, mode=0o600),
    }
    entries_b = _with_dirs(_mutate([e for e in entries if e.kind != "dir"], changed, [added]))
    muts = [
        Mutation(t1.path, "content", "text: an ISO timestamp in the middle"),
        Mutation(t2.path, "content", "text: a Unix time in the middle"),
        Mutation(b1.path, "content", "binary: 16 bytes in the middle"),
        Mutation(t3.path, "mtime", "an hour later"),
        Mutation(t4.path, "mtime", "a day earlier"),
        Mutation(b2.path, "mode", "0644 -> 0600"),
        Mutation(added.path, "presence", "only in B, in the middle of the layer (sorted order)"),
    ]
    return Shape("small-files", f"1 layer, {len(files)} files of 4-32 KiB", [LayerPlan(entries, entries_b, False,
                 "RUN apt-get install -y many-packages")], muts, {"files": n_files})


def shape_many_layers(n_layers: int = 24, files_per_layer: int = 400, seed: int = 1) -> Shape:
    """`n_layers` layers of `files_per_layer` files of 4-40 KiB; three of them rebuilt (a
    quarter in, two thirds in, and the last: 6, 16 and 23 of 24), the rest shared."""
    rebuilt = tuple(sorted({n_layers // 4, 2 * n_layers // 3, n_layers - 1}))
    layers: list[LayerPlan] = []
    muts: list[Mutation] = []
    for li in range(n_layers):
        rng = random.Random(f"{seed}:layer{li}")
        entries = _with_dirs(_package_files(rng, files_per_layer, f"l{li:02d}p", 4 << 10, 40 << 10))
        instr = f"RUN apt-get install -y layer{li:02d}-packages"
        if li not in rebuilt:
            layers.append(LayerPlan(entries, entries, True, instr))
            continue
        files = [e for e in entries if e.kind == "file"]
        pick = random.Random(f"{seed}:layer{li}-mutations")
        t1, t2 = pick.sample([e for e in files if e.content == "text"], 2)
        changed: dict[str, Entry] = {}
        added: list[Entry] = []
        if li == rebuilt[0] and len(rebuilt) > 1:
            changed[t1.path] = replace(t1, patch=b"built 2024-05-02T10:11:12Z")
            muts.append(Mutation(t1.path, "content", "text: an ISO timestamp", li))
        elif len(rebuilt) > 2 and li == rebuilt[1]:
            changed[t2.path] = replace(t2, mtime=SOURCE_DATE_EPOCH + 60)
            muts.append(Mutation(t2.path, "mtime", "a minute later", li))
            added.append(Entry(f"var/cache/layer{li:02d}/run-1714644672.log", "file", 0o644, size=300,
                               content="text"))
            muts.append(Mutation(added[0].path, "presence", "only in B", li))
        else:
            changed[t1.path] = replace(t1, patch=bytes(range(16)))
            muts.append(Mutation(t1.path, "content", "16 bytes in the middle", li))
        entries_b = _with_dirs(_mutate([e for e in entries if e.kind != "dir"], changed, added))
        layers.append(LayerPlan(entries, entries_b, False, instr))
    return Shape("many-layers", f"{n_layers} layers of {files_per_layer} files of 4-40 KiB, "
                                f"{len(rebuilt)} rebuilt", layers, muts,
                 {"layers": n_layers, "files_per_layer": files_per_layer, "rebuilt": list(rebuilt)})


def _read_rootfs(layout: Path) -> list[Entry]:
    """Every entry of the single layer of the OCI layout `layout`, with its bytes."""
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_text())
    out: list[Entry] = []
    for layer in manifest["layers"]:
        blob = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
        with tarfile.open(blob, "r:*") as tar:
            for ti in tar:
                path = ti.name.lstrip("./").rstrip("/")
                if not path:
                    continue
                common = dict(mode=ti.mode, mtime=int(ti.mtime), uid=ti.uid, gid=ti.gid, uname=ti.uname,
                              gname=ti.gname)
                if ti.isdir():
                    out.append(Entry(path, "dir", **common))
                elif ti.issym():
                    out.append(Entry(path, "symlink", linkname=ti.linkname, **common))
                elif ti.islnk():
                    out.append(Entry(path, "hardlink", linkname=ti.linkname.lstrip("./"), **common))
                elif ti.isreg():
                    data = tar.extractfile(ti).read()  # type: ignore[union-attr]
                    out.append(Entry(path, "file", size=len(data), content="raw", data=data, **common))
    return out


def shape_debian(layout: Path, seed: int = 1) -> Shape:
    """A Debian rootfs as layer 0, rebuilt with the differences a second debootstrap
    leaves (logs, caches, a few mtimes); a small layer 1 with a build stamp."""
    entries = _read_rootfs(layout)
    by_path = {e.path: e for e in entries}
    rng = random.Random(f"{seed}:debian")
    changed: dict[str, Entry] = {}
    muts: list[Mutation] = []

    def rewrite(path: str, data: bytes, note: str) -> None:
        if path in by_path and by_path[path].kind == "file":
            changed[path] = replace(by_path[path], data=data, size=len(data))
            muts.append(Mutation(path, "content", note))

    for path in ("var/log/dpkg.log", "var/log/apt/history.log", "var/log/alternatives.log"):
        if path in by_path and by_path[path].kind == "file":
            old = by_path[path].data
            rewrite(path, old.replace(b"2023", b"2024").replace(b"2025", b"2026")
                    + b"2026-01-02 03:04:05 status installed rebuild:amd64 1\n", "log of the rebuild's run")
    for path in ("var/cache/ldconfig/aux-cache", "var/cache/debconf/templates.dat"):
        if path in by_path and by_path[path].kind == "file":
            old = bytearray(by_path[path].data)
            for _ in range(4):
                if old:
                    old[rng.randrange(len(old))] ^= 0x5A
            rewrite(path, bytes(old), "cache rewritten in another order")
    files = sorted(e.path for e in entries if e.kind == "file" and e.path.startswith("usr/share/doc/"))
    for path in rng.sample(files, min(3, len(files))):
        changed[path] = replace(by_path[path], mtime=by_path[path].mtime + 1)
        muts.append(Mutation(path, "mtime", "one second later (clamping missed it)"))
    entries_b = [changed.get(e.path, e) for e in entries]
    stamp = Entry("etc/build-stamp", "file", 0o644, content="raw", data=b"built 2024-05-02T10:11:12Z\n", size=27)
    stamp_b = replace(stamp, data=b"built 2024-05-03T08:09:10Z\n")
    muts.append(Mutation(stamp.path, "content", "RUN date > /etc/build-stamp", 1))
    n_files = sum(e.kind == "file" for e in entries)
    content = sum(e.size for e in entries if e.kind == "file")
    return Shape("debian", f"Debian minbase rootfs: {n_files} files, {content / 1e6:.0f} MB, as layer 0 "
                           f"(rebuilt) + a stamp layer",
                 [LayerPlan(entries, entries_b, False, "RUN debootstrap --variant=minbase bookworm /"),
                  LayerPlan([stamp], [stamp_b], False, "RUN date > /etc/build-stamp")],
                 muts, {"layout": str(layout), "files": n_files, "content_bytes": content})


# --------------------------------------------------------------------------- writers

class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, b) -> int:
        self.sha.update(b)
        self.size += len(b)
        return self.raw.write(b)

    def flush(self) -> None:
        pass  # never pass a flush on to GzipFile: it would emit a sync-flush block

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _LayerWriter:
    def __init__(self, path: Path):
        self.file = open(path, "wb")
        self.compressed = _HashingWriter(self.file)
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.compressed, compresslevel=6, mtime=0)
        self.uncompressed = _HashingWriter(self.gz)
        self.tar = tarfile.open(fileobj=self.uncompressed, mode="w|", format=tarfile.PAX_FORMAT)

    def add(self, e: Entry, data: bytes = b"") -> None:
        ti = tarfile.TarInfo(e.path)
        ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = e.mode, e.mtime, e.uid, e.gid, e.uname, e.gname
        if e.kind == "dir":
            ti.type = tarfile.DIRTYPE
            self.tar.addfile(ti)
        elif e.kind in ("symlink", "hardlink"):
            ti.type, ti.linkname = (tarfile.SYMTYPE if e.kind == "symlink" else tarfile.LNKTYPE), e.linkname
            self.tar.addfile(ti)
        else:
            ti.size = len(data)
            self.tar.addfile(ti, io.BytesIO(data))

    def close(self) -> tuple[str, str, int]:
        self.tar.close()
        self.gz.close()
        self.file.close()
        return self.compressed.digest(), self.uncompressed.digest(), self.compressed.size


def write_layer(path: Path, entries: list[Entry], seed: int, pool: list[bytes]) -> tuple[str, str, int, int]:
    """Write one gzip layer; (digest, diffID, compressed size, content bytes)."""
    w = _LayerWriter(path)
    content = 0
    for e in entries:
        data = b""
        if e.kind == "file":
            data = _content(e, seed, pool)
            if e.patch:
                data = _patched(data, e.patch)
            content += len(data)
        w.add(e, data)
    return (*w.close(), content)


def _json_blob(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


@dataclass(frozen=True)
class LayerBlob:
    path: Path
    digest: str
    diff_id: str
    size: int
    instruction: str


def write_oci_archive(path: Path, name: str, layers: list[LayerBlob],
                      manifest_annotations: dict | None = None) -> str:
    """Write an OCI image archive around gzip layers; return the manifest digest."""
    created = datetime.datetime.fromtimestamp(SOURCE_DATE_EPOCH, datetime.timezone.utc)
    created_s = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    config = _json_blob({
        "architecture": "amd64", "os": "linux", "created": created_s,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
        "history": [{"created": created_s, "created_by": f"{l.instruction} # buildkit",
                     "comment": "buildkit.dockerfile.v0"} for l in layers],
    })
    manifest_obj = {
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": MT_LAYER_GZIP, "digest": l.digest, "size": l.size} for l in layers],
    }
    if manifest_annotations:
        manifest_obj["annotations"] = manifest_annotations
    manifest = _json_blob(manifest_obj)
    # diffoci (containerd's importer) names the image from these annotations, and two
    # archives with the same name overwrite each other: give each a unique full name.
    index = _json_blob({
        "schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, "digest": _digest(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": f"docker.io/library/{name}:latest",
                                       "org.opencontainers.image.ref.name": "latest"}}],
    })
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(arcname: str, data: bytes) -> None:
            ti = tarfile.TarInfo(arcname)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, SOURCE_DATE_EPOCH
            tar.addfile(ti, io.BytesIO(data))

        def add_dir(arcname: str) -> None:
            ti = tarfile.TarInfo(arcname)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, SOURCE_DATE_EPOCH
            tar.addfile(ti)

        add_bytes("oci-layout", _json_blob({"imageLayoutVersion": "1.0.0"}))
        add_bytes("index.json", index)
        add_dir("blobs")
        add_dir("blobs/sha256")
        for blob in (config, manifest):
            add_bytes("blobs/sha256/" + _digest(blob).split(":")[1], blob)
        seen = set()
        for l in layers:
            if l.digest in seen:
                continue
            seen.add(l.digest)
            ti = tarfile.TarInfo("blobs/sha256/" + l.digest.split(":")[1])
            ti.size, ti.mode, ti.mtime = l.size, 0o644, SOURCE_DATE_EPOCH
            with open(l.path, "rb") as f:
                tar.addfile(ti, f)
    os.replace(tmp, path)
    return _digest(manifest)


# --------------------------------------------------------------------------- pairs

@dataclass
class ImagePair:
    shape: str
    dir: Path
    a: Path
    b: Path
    a_shared: Path | None  # same blobs as a, one manifest annotation differs
    params: dict
    layer_a: Path | None = None  # the largest layer blob of A, kept for `tar tzvf`


def generate(plan: Callable[[], Shape], out: Path, seed: int, key: str, log: Callable[[str], None] = print,
             shared_pair: bool = False) -> ImagePair:
    """Write (once; cached under OUT/images/KEY) the two archives of the shape `plan()`
    returns. The plan is only made when the pair is not cached: a plan can hold a whole
    rootfs in memory, and every process the benchmark starts inherits its peak RSS."""
    d = out / "images" / key
    a, b = d / "a.oci.tar", d / "b.oci.tar"
    a2 = d / "a-shared.oci.tar" if shared_pair else None
    params_path = d / "params.json"
    if params_path.exists() and a.exists() and b.exists() and (a2 is None or a2.exists()):
        params = json.loads(params_path.read_text())
        biggest = d / params["largest_layer_blob"] if params.get("largest_layer_blob") else None
        return ImagePair(params["shape"], d, a, b, a2, params, biggest)
    shape = plan()
    assert shape.with_shared_pair == shared_pair, "say shared_pair=True for a shape that has one"
    log(f"generating {key} in {d} ...")
    t0 = time.perf_counter()
    d.mkdir(parents=True, exist_ok=True)
    pool = _line_pool(seed)
    blobs_a: list[LayerBlob] = []
    blobs_b: list[LayerBlob] = []
    content = 0
    entries = files = 0
    for i, lp in enumerate(shape.layers):
        pa = d / f"layer{i:02d}-a.tar.gz"
        da, ida, sa, ca = write_layer(pa, lp.entries_a, seed, pool)
        blobs_a.append(LayerBlob(pa, da, ida, sa, lp.instruction))
        content += ca
        entries += len(lp.entries_a)
        files += sum(e.kind == "file" for e in lp.entries_a)
        if lp.shared:
            blobs_b.append(blobs_a[-1])
        else:
            pb = d / f"layer{i:02d}-b.tar.gz"
            db, idb, sb, _ = write_layer(pb, lp.entries_b, seed, pool)
            blobs_b.append(LayerBlob(pb, db, idb, sb, lp.instruction))
    man_a = write_oci_archive(a, f"repro-bench-{key}-a", blobs_a)
    man_b = write_oci_archive(b, f"repro-bench-{key}-b", blobs_b)
    man_a2 = (write_oci_archive(a2, f"repro-bench-{key}-a-shared", blobs_a,
                                manifest_annotations={"org.opencontainers.image.revision": "rebuild-2"})
              if a2 is not None else None)
    largest = max(blobs_a, key=lambda l: l.size)
    keep = d / "largest-layer-a.tar.gz"
    os.replace(largest.path, keep)
    for l in blobs_a + blobs_b:
        if l.path.exists():
            l.path.unlink()
    params = {
        "generator_version": GENERATOR_VERSION, "shape": shape.name, "description": shape.description,
        "seed": seed, **shape.params,
        "layers": len(shape.layers), "layers_rebuilt": sum(not lp.shared for lp in shape.layers),
        "entries": entries, "files": files, "content_bytes": content,
        "compressed_bytes_a": sum(l.size for l in {l.digest: l for l in blobs_a}.values()),
        "compressed_bytes_b": sum(l.size for l in {l.digest: l for l in blobs_b}.values()),
        "layers_a": [{"digest": l.digest, "diff_id": l.diff_id, "compressed_bytes": l.size} for l in blobs_a],
        "layers_b": [{"digest": l.digest, "diff_id": l.diff_id, "compressed_bytes": l.size} for l in blobs_b],
        "largest_layer_blob": keep.name,
        "manifests": {"a": man_a, "b": man_b, "a_shared": man_a2},
        "mutations": [m.__dict__ for m in shape.mutations],
        "generate_seconds": round(time.perf_counter() - t0, 1),
    }
    params_path.write_text(json.dumps(params, indent=2) + "\n")
    log(f"generated {key} in {params['generate_seconds']} s")
    return ImagePair(shape.name, d, a, b, a2, params, keep)
