#!/usr/bin/env python3
"""Make a real Debian base image, offline from any container registry: `debootstrap
--variant=minbase` of a Debian suite from Debian's package mirror, turned into an OCI
layout with one layer, tagged `latest`.

No registry is reachable from the machines repro is developed on (no `FROM debian`), but
Debian's mirror is, also from inside BuildKit's RUN steps, so a context that says
`FROM base` and is built with `--build-context base=oci-layout://DIR` can `apt-get
install` real packages: the Debian, Python and C cases of the diagnosis corpus, the
time-shifted `apt-get update` of the variations tests and the Debian shape of the diff
benchmark all start here.

    python3 testdata/make_debian_base.py [OUT_DIR] [--suite bookworm] [--mirror URL]
        # prints the manifest digest; OUT_DIR defaults to ~/.cache/repro/base-debian-SUITE

The layout is cached: a second run with the same suite, mirror and architecture finds
`repro-debian-base.json` in OUT_DIR and prints the same digest without running
debootstrap (about 1-3 minutes, and needs root). Concurrent runs (parallel test
sessions) take a lock, so one of them builds and the others wait and reuse it. Pass
`--force` to rebuild. The layer itself is written deterministically from the rootfs
(entries sorted, mtimes clamped to BASE_CLAMP, numeric owners, no device nodes, no apt
package lists or downloaded .debs, gzip header without name or time), so only the
packages Debian serves on the day decide its digest.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

# Every mtime in the layer is at most this (2023-01-01T00:00:00Z): older than every
# SOURCE_DATE_EPOCH the tests use (1700000000 = 2023-11-14), so nothing in the base is
# "newer than the epoch" and the base never adds clamped-mtime noise of its own.
BASE_CLAMP = 1672531200
BASE_CREATED = "2023-01-01T00:00:00Z"
TAG = "latest"
STAMP = "repro-debian-base.json"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}

# Left out of the layer: contents of the pseudo filesystems (BuildKit mounts its own),
# apt's package lists and downloaded packages (`apt-get update` in a build fetches fresh
# ones; keeping them would only make the base larger and older), and debootstrap's logs.
SKIP_CONTENTS = ("dev", "proc", "sys", "run", "tmp", "var/lib/apt/lists", "var/cache/apt/archives", "debootstrap")
SKIP_FILES = ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/cache/ldconfig/aux-cache",
              "var/log/bootstrap.log", "etc/hostname", "etc/resolv.conf", "etc/machine-id")
KEEP_DIRS = ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial")


def host_arch() -> str:
    return GOARCH.get(platform.machine(), platform.machine())


def default_dir(suite: str = "bookworm") -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "repro", f"base-debian-{suite}")


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _skipped(rel: str) -> bool:
    if rel in SKIP_FILES:
        return True
    return any(rel.startswith(d + "/") for d in SKIP_CONTENTS) and not any(
        rel == k or k.startswith(rel + "/") for k in KEEP_DIRS)


def _entries(rootfs: str) -> list[str]:
    """Every path below rootfs (relative, sorted so parents come first), without what
    SKIP_CONTENTS / SKIP_FILES leave out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(rootfs):
        dirnames.sort()
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), rootfs)
            if not _skipped(rel):
                out.append(rel)
    out.sort()
    return out


def layer_tar(rootfs: str, out) -> None:  # type: ignore[no-untyped-def]
    """Write the rootfs as an uncompressed tar stream to the binary file `out`."""
    inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _entries(rootfs):
            path = os.path.join(rootfs, rel)
            st = os.lstat(path)
            ti = tarfile.TarInfo(rel)
            ti.mode = stat.S_IMODE(st.st_mode)
            ti.uid, ti.gid, ti.uname, ti.gname = st.st_uid, st.st_gid, "", ""
            ti.mtime = min(int(st.st_mtime), BASE_CLAMP)
            key = (st.st_dev, st.st_ino)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in inodes:
                ti.type, ti.linkname = tarfile.LNKTYPE, inodes[key]
                tar.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    inodes[key] = rel
                ti.type, ti.size = tarfile.REGTYPE, st.st_size
                with open(path, "rb") as f:
                    tar.addfile(ti, f)
            elif stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif stat.S_ISLNK(st.st_mode):
                ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(ti)
            # device nodes, fifos and sockets: none belong in an image layer


class _Hashing:
    """A binary sink that hashes what passes through to `inner`."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def write_layout(rootfs: str, out_dir: str, *, suite: str, mirror: str, arch: str) -> str:
    """The OCI layout for rootfs in out_dir; returns the manifest digest."""
    blob_dir = os.path.join(out_dir, "blobs", "sha256")
    os.makedirs(blob_dir, exist_ok=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blob_dir, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    tmp = os.path.join(blob_dir, ".layer.tmp")
    with open(tmp, "wb") as raw:
        compressed = _Hashing(raw)
        # filename="" and mtime=0: no name and no time in the gzip header (like `gzip -n`)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6) as gz:  # type: ignore[arg-type]
            plain = _Hashing(gz)
            layer_tar(rootfs, plain)
    layer = {"digest": "sha256:" + compressed.sha.hexdigest(), "size": compressed.size}
    os.replace(tmp, os.path.join(blob_dir, compressed.sha.hexdigest()))
    created_by = f"debootstrap --variant=minbase {suite} {mirror}"
    config = {
        "architecture": arch,
        "os": "linux",
        "created": BASE_CREATED,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["bash"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + plain.sha.hexdigest()]},
        "history": [{"created": BASE_CREATED, "created_by": f"repro testdata/make_debian_base.py: {created_by}"}],
    }
    config_desc = put(_canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(_canonical(manifest)),
           "platform": {"architecture": arch, "os": "linux"}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{**top, "annotations": {"org.opencontainers.image.ref.name": TAG}}]}
    with open(os.path.join(out_dir, "oci-layout"), "wb") as f:
        f.write(_canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out_dir, "index.json"), "wb") as f:
        f.write(_canonical(index))
    return top["digest"]


def _cached(out_dir: str, want: dict) -> str | None:
    try:
        with open(os.path.join(out_dir, STAMP)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return None
    if {k: stamp.get(k) for k in want} != want:
        return None
    digest = stamp.get("digest", "")
    blob = os.path.join(out_dir, "blobs", "sha256", digest.split(":", 1)[-1])
    return digest if os.path.isfile(blob) and os.path.isfile(os.path.join(out_dir, "index.json")) else None


def debootstrap(rootfs: str, suite: str, mirror: str, arch: str) -> None:
    exe = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(exe):
        raise SystemExit("debootstrap not found: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise SystemExit("debootstrap needs root (it chroots and makes device nodes): run as root")
    argv = [exe, "--variant=minbase", f"--arch={arch}", suite, rootfs, mirror]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {tail}")


def make_debian_base(out_dir: str | None = None, *, suite: str = "bookworm", mirror: str = DEFAULT_MIRROR,
                     force: bool = False) -> str:
    """The cached Debian base layout in out_dir (made if missing); returns its manifest digest."""
    out_dir = os.path.abspath(out_dir or default_dir(suite))
    arch = host_arch()
    want = {"suite": suite, "mirror": mirror, "arch": arch, "variant": "minbase"}
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    with open(out_dir + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait here, then reuse
        digest = None if force else _cached(out_dir, want)
        if digest:
            return digest
        work = tempfile.mkdtemp(prefix=".debian-base-", dir=parent)
        try:
            rootfs = os.path.join(work, "rootfs")
            started = time.time()
            debootstrap(rootfs, suite, mirror, arch)
            layout = os.path.join(work, "layout")
            digest = write_layout(rootfs, layout, suite=suite, mirror=mirror, arch=arch)
            with open(os.path.join(layout, STAMP), "w") as f:
                json.dump({**want, "digest": digest, "made": int(started),
                           "seconds": round(time.time() - started, 1)}, f, indent=2)
            old = out_dir + ".old"
            with contextlib.suppress(FileNotFoundError):
                os.rename(out_dir, old)
            os.rename(layout, out_dir)
            shutil.rmtree(old, ignore_errors=True)
            return digest
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", nargs="?", default=None)
    p.add_argument("--suite", default="bookworm")
    p.add_argument("--mirror", default=DEFAULT_MIRROR)
    p.add_argument("--force", action="store_true", help="rebuild even when a cached layout matches")
    a = p.parse_args(argv)
    print(make_debian_base(a.out_dir, suite=a.suite, mirror=a.mirror, force=a.force))


if __name__ == "__main__":
    main(sys.argv[1:])
