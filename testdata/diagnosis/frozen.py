#!/usr/bin/env python3
"""Frozen pairs: image pairs as BuildKit made them in March 2019, written byte for byte
the same on every run, so that a test can diff them with the clock set years later and
check that the causes do not move.

Each pair is two OCI archives shaped like `buildctl` output (layer descriptors with the
`buildkit/rewritten-timestamp` annotation when the build clamped to SOURCE_DATE_EPOCH,
config and history `created`, `RUN /bin/sh -c ... # buildkit` history) and an `expect`
text in the corpus format (README.md). The values inside are what the commands in the
history would have written in March 2019: `date +%s` read twice a few seconds apart,
8 random bytes of which one happens to be equal on both sides, file names and a link
target holding `$(date +%s)`, and, for a build without SOURCE_DATE_EPOCH, unclamped file
mtimes and `created` times of the build. `frozen-months-apart-2019` is the same source
rebuilt eight months later (a published image against a rebuild): the values lie months
apart and the clamped images record no build time.

    python3 testdata/diagnosis/frozen.py OUT_DIR    # writes OUT_DIR/NAME/{a,b}.tar, expect
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from dataclasses import dataclass, field

EPOCH_2019 = 1546300800  # 2019-01-01T00:00:00Z: SOURCE_DATE_EPOCH of the clamped builds
BUILT_A = 1552571955  # 2019-03-14T13:59:15Z: when build A's RUN steps ran
BUILT_B = BUILT_A + 7  # build B, seven seconds later
REBUILT = BUILT_A + 251 * 86400 + 3602  # 2019-11-20: a rebuild of the same source months later
BASE_MTIME = 946684800  # 2000-01-01


@dataclass
class File:
    path: str
    data: bytes = b""
    mtime: int = BASE_MTIME
    kind: str = "file"  # file | dir | symlink
    target: str = ""
    mode: int = 0o644


@dataclass
class Layer:
    created_by: str
    files: list[File]
    created: int = EPOCH_2019
    clamped_to: int | None = EPOCH_2019  # the rewritten-timestamp annotation, None when not clamped


@dataclass
class Image:
    layers: list[Layer]
    created: int = EPOCH_2019
    blobs: dict[str, bytes] = field(default_factory=dict)


def _iso(t: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tar(files: list[File]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for f in files:
            ti = tarfile.TarInfo(f.path)
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = f.mtime, 0, 0, "", ""
            if f.kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif f.kind == "symlink":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, f.target, 0o777
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(f.data), f.mode
                tf.addfile(ti, io.BytesIO(f.data))
    return bio.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


def write_image(image: Image, path: str) -> None:
    blobs: dict[str, bytes] = {}
    layers, diff_ids, history = [], [], []
    for layer in image.layers:
        raw = _tar(layer.files)
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        desc: dict = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": _blob(blobs, gz), "size": len(gz)}
        if layer.clamped_to is not None:
            desc["annotations"] = {"buildkit/rewritten-timestamp": str(layer.clamped_to)}
        layers.append(desc)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        entry = {"created": _iso(layer.created), "created_by": layer.created_by}
        if layer.created_by.startswith(("RUN", "COPY")):
            entry["comment"] = "buildkit.dockerfile.v0"
        history.append(entry)
    config = {"architecture": "amd64", "os": "linux", "created": _iso(image.created),
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}
    cbytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _blob(blobs, cbytes), "size": len(cbytes)},
                "layers": layers}
    mbytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": _blob(blobs, mbytes), "size": len(mbytes),
                            "platform": {"architecture": "amd64", "os": "linux"}}]}
    members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
               ("index.json", json.dumps(index, sort_keys=True, separators=(",", ":")).encode())]
    members += [(f"blobs/sha256/{d.split(':')[1]}", data) for d, data in sorted(blobs.items())]
    with open(path + ".part", "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), BASE_MTIME, 0o644
            tf.addfile(ti, io.BytesIO(data))
    os.replace(path + ".part", path)


BASE = Layer("repro testdata/diagnosis/frozen.py: base", [
    File("bin", kind="dir"), File("bin/sh", b"#!frozen placeholder\n", mode=0o755), File("etc", kind="dir"),
    File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")], created=BASE_MTIME, clamped_to=None)


def clamped(side: int, built: tuple[int, int] = (BUILT_A, BUILT_B)) -> Image:
    """A build with SOURCE_DATE_EPOCH=2019-01-01 and rewrite-timestamp: every new mtime is
    clamped, `created` is the epoch; only what the commands wrote differs. `built`: when
    the RUN steps of build A and of build B ran."""
    t = built[side]
    rnd = (bytes.fromhex("8f3a71c2d90e5b64"), bytes.fromhex("12c671aa07f3e918"))[side]  # byte 2 equal
    e = EPOCH_2019
    return Image([
        BASE,
        Layer("RUN /bin/sh -c mkdir -p /data && date +%s > /data/stamp.txt # buildkit",
              [File("data", kind="dir", mtime=e), File("data/stamp.txt", f"{t}\n".encode(), mtime=e)]),
        Layer("RUN /bin/sh -c head -c 8 /dev/urandom > /data/random.bin # buildkit",
              [File("data", kind="dir", mtime=e), File("data/random.bin", rnd, mtime=e)]),
        Layer("RUN /bin/sh -c mkdir -p /var/log/app && touch /var/log/app/run-$(date +%s).log "
              "&& ln -s /var/log/app/run-$(date +%s).log /var/log/app/latest # buildkit",
              [File("var", kind="dir", mtime=e), File("var/log", kind="dir", mtime=e),
               File("var/log/app", kind="dir", mtime=e), File(f"var/log/app/run-{t + 1}.log", mtime=e),
               File("var/log/app/latest", kind="symlink", target=f"/var/log/app/run-{t + 1}.log", mtime=e)]),
        Layer("COPY data.txt /data.txt # buildkit",
              [File("data.txt", b"some data\n", mtime=(1500000000, 1500000100)[side])]),
        Layer("RUN /bin/sh -c printf '{\"built\": \"%s\"}\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > /build.json # buildkit",
              [File("build.json", ('{"built": "%s"}\n' % _iso(t + 2)).encode(), mtime=e)]),
    ])


def unclamped(side: int) -> Image:
    """A build without SOURCE_DATE_EPOCH, as `docker build` made them: `created` and new
    file mtimes are the build's wall clock."""
    t = (BUILT_A, BUILT_B + 53)[side]
    return Image([
        BASE,
        Layer("RUN /bin/sh -c date +%s%3N > /stamp.ms # buildkit",
              [File("stamp.ms", f"{t}123\n".encode(), mtime=t)], created=t, clamped_to=None),
        Layer("RUN /bin/sh -c touch /etc/configured # buildkit",
              [File("etc", kind="dir", mtime=t + 1), File("etc/configured", mtime=t + 1)],
              created=t + 1, clamped_to=None),
        Layer("RUN /bin/sh -c echo \"seed=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')\" > /etc/seed # buildkit",
              [File("etc", kind="dir", mtime=t + 2),
               File("etc/seed", (b"seed=5e0c27a1\n", b"seed=d91f4b3c\n")[side], mtime=t + 2)],
              created=t + 2, clamped_to=None),
    ], created=t + 3)


EXPECT = {
    "frozen-clamped-2019": """# frozen.py: SOURCE_DATE_EPOCH 2019-01-01, built 2019-03-14 seven seconds apart
data/stamp.txt embedded-timestamp
data/random.bin random-content
var/log/app/run-*.log embedded-timestamp
var/log/app/latest embedded-timestamp
data.txt mtime-older-than-epoch
build.json embedded-timestamp
""",
    "frozen-months-apart-2019": """# frozen.py: SOURCE_DATE_EPOCH 2019-01-01, built 2019-03-14 and rebuilt 2019-11-20
data/stamp.txt embedded-timestamp
data/random.bin random-content
var/log/app/run-*.log embedded-timestamp
var/log/app/latest embedded-timestamp
data.txt mtime-older-than-epoch
build.json embedded-timestamp
""",
    "frozen-unclamped-2019": """# frozen.py: no SOURCE_DATE_EPOCH, built 2019-03-14 a minute apart
stamp.ms embedded-timestamp
etc file-mtime
etc/configured file-mtime
etc/seed random-content
""",
}
IMAGES = {"frozen-clamped-2019": clamped,
          "frozen-months-apart-2019": lambda side: clamped(side, (BUILT_A, REBUILT)),
          "frozen-unclamped-2019": unclamped}


def write_all(out: str) -> dict[str, tuple[str, str, str]]:
    """Write every frozen pair under `out`; name -> (a.tar, b.tar, expect text)."""
    result = {}
    for name, make in IMAGES.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        paths = []
        for side in (0, 1):
            p = os.path.join(d, f"{'ab'[side]}.tar")
            write_image(make(side), p)
            paths.append(p)
        with open(os.path.join(d, "expect"), "w", encoding="utf-8") as f:
            f.write(EXPECT[name])
        result[name] = (paths[0], paths[1], EXPECT[name])
    return result


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, (a, b, _) in write_all(sys.argv[1]).items():
        print(name, a, b)
