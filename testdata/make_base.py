#!/usr/bin/env python3
"""Make the offline base image for tests and examples: an OCI layout holding one
layer with Debian's static busybox (package busybox-static) and a few symlinks.

No registry is reachable from the machines repro is developed on (no `FROM alpine`),
so contexts say `FROM base` and are built with
`--build-context base=oci-layout://DIR` (repro resolves the tag to a digest).

The layout is deterministic: for one busybox binary the same bytes come out every
time (entries sorted, fixed mtime, uid/gid 0, ustar headers without PAX time records,
gzip header without a name or time). Run it again and the digests do not move.

    python3 testdata/make_base.py OUT_DIR        # prints the manifest digest
    python3 testdata/make_base.py OUT_DIR --arch=amd64,arm64   # an index: busybox for each

Another architecture's busybox-static comes from Debian's mirror (`apt-get download`,
once, cached beside the layout): with qemu-user-static registered in binfmt_misc, RUN
steps of the arm64 image run emulated.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

BASE_MTIME = 946684800  # 2000-01-01T00:00:00Z, well before any SOURCE_DATE_EPOCH we use
BASE_CREATED = "2000-01-01T00:00:00Z"
TAG = "latest"

# Applets the example contexts and tests use; `busybox --list` has them all.
APPLETS = (
    "[", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dd", "dirname", "echo",
    "env", "false", "find", "grep", "gunzip", "gzip", "head", "id", "ln", "ls", "md5sum",
    "mkdir", "mv", "od", "printf", "rm", "sed", "sh", "sha256sum", "sleep", "sort",
    "stat", "tail", "tar", "tee", "test", "touch", "tr", "true", "uname", "wc", "xargs",
    "zcat",
)
DIRS = ("bin", "dev", "etc", "proc", "root", "sys", "tmp", "var")
FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": b"root:x:0:\n",
}
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname = kind, mode, size, linkname
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = BASE_MTIME, 0, 0, "root", "root"
    return ti


def layer_tar(busybox: str) -> bytes:
    """The uncompressed layer: every entry sorted by name, all metadata fixed."""
    with open(busybox, "rb") as f:
        bb = f.read()
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for d in DIRS:
        entries.append((_info(d + "/", tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755), None))
    entries.append((_info("bin/busybox", tarfile.REGTYPE, 0o755, len(bb)), bb))
    for applet in APPLETS:
        entries.append((_info("bin/" + applet, tarfile.SYMTYPE, 0o777, linkname="busybox"), None))
    for name, data in FILES.items():
        entries.append((_info(name, tarfile.REGTYPE, 0o644, len(data)), data))
    entries.sort(key=lambda e: e[0].name.rstrip("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0: no name and no time in the gzip header (like `gzip -n`).
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _image(put, busybox: str, arch: str) -> dict:
    """Layer, config and manifest of the image for one architecture; its index entry."""
    raw = layer_tar(busybox)
    layer = put(_gzip(raw))
    config = {
        "architecture": arch,
        "os": "linux",
        "created": BASE_CREATED,
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created": BASE_CREATED, "created_by": "repro testdata/make_base.py: busybox-static"}],
    }
    config_desc = put(_canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(_canonical(manifest)),
            "platform": {"architecture": arch, "os": "linux"}}


def host_arch() -> str:
    return GOARCH.get(platform.machine(), platform.machine())


def make_base(out_dir: str, busybox: str = "/bin/busybox", *, arches: tuple[str, ...] = ()) -> str:
    """Write the OCI layout to out_dir (created or overwritten); return the digest of what
    its index names: the manifest of the host's image, or with `arches` (e.g. ("amd64",
    "arm64")) an image index holding one image per architecture, each with Debian's
    busybox-static for it (fetched with fetch_busybox; the host's is `busybox`)."""
    if not os.path.isfile(busybox):
        raise SystemExit(f"{busybox} not found: apt-get install busybox-static")
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    if arches:
        entries = [_image(put, busybox if a == host_arch() else fetch_busybox(a), a) for a in arches]
        child = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", **put(_canonical(child))}
    else:
        top = _image(put, busybox, host_arch())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{**top, "annotations": {"org.opencontainers.image.ref.name": TAG}}],
    }
    os.makedirs(os.path.join(out_dir, "blobs", "sha256"), exist_ok=True)
    for digest, data in blobs.items():
        with open(os.path.join(out_dir, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(out_dir, "oci-layout"), "wb") as f:
        f.write(_canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out_dir, "index.json"), "wb") as f:
        f.write(_canonical(index))
    return top["digest"]


def fetch_busybox(arch: str) -> str:
    """Debian's busybox-static for another architecture, fetched once from Debian's mirror
    with apt-get download (package lists for that architecture in a private apt state
    dir, so the machine's dpkg architectures are not touched) and unpacked into the
    cache; returns the binary's path."""
    import glob
    import subprocess

    cache = os.path.join(os.path.dirname(default_dir()), f"busybox-{arch}")
    binary = os.path.join(cache, "root", "bin", "busybox")
    if os.path.isfile(binary):
        return binary
    apt = os.path.join(cache, "apt")
    for sub in ("lists/partial", "cache/archives/partial", "deb"):
        os.makedirs(os.path.join(apt, sub), exist_ok=True)
    opts = [f"-oAPT::Architecture={arch}", f"-oAPT::Architectures::={arch}", f"-oDir::State::Lists={apt}/lists",
            f"-oDir::Cache={apt}/cache", "-oDir::State::status=/dev/null", "-oDebug::NoLocking=1",
            "-oAPT::Sandbox::User=root", "-qq"]
    for args in (["update"], ["download", f"busybox-static:{arch}"]):
        out = subprocess.run(["apt-get", *opts, *args], cwd=os.path.join(apt, "deb"), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"apt-get {args[0]} for {arch} failed: {out.stderr.strip()[-300:]}")
    debs = glob.glob(os.path.join(apt, "deb", f"busybox-static_*_{arch}.deb"))
    if not debs:
        raise SystemExit(f"apt-get download busybox-static:{arch} left no .deb in {apt}/deb")
    tmp = binary.rsplit("/bin/", 1)[0] + ".tmp"
    subprocess.run(["rm", "-rf", tmp], check=True)
    subprocess.run(["dpkg-deb", "-x", debs[0], tmp], check=True)
    os.rename(tmp, os.path.dirname(os.path.dirname(binary)))
    return binary


def default_dir() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "repro", "base-busybox")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--arch=")]
    arches = tuple(a for v in sys.argv[1:] if v.startswith("--arch=") for a in v[len("--arch="):].split(",") if a)
    print(make_base(args[0] if args else default_dir(), arches=arches))
