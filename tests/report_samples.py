"""Report documents that exercise what a renderer must show, made from real image pairs
(tests/imagegen) through the real pipeline: the hard cases for a page's layout (very long
paths, instructions and lines; a digest in every cell), every kind of finding, nested
archives (a tar inside a gzip, a zip), findings set aside by the policy, a build record.

    doc = sample_doc("mixed", tmp_path)      # also "reproducible", "semantic"
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from tests import imagegen as g

EPOCH = 1700000000
LONG_DIR = "usr/share/doc/" + "/".join(f"a-rather-long-directory-name-{i}" for i in range(6))
LONG_RUN = ("RUN apt-get update && apt-get install -y --no-install-recommends " + " ".join(
    f"package-number-{i}" for i in range(40)) + " && rm -rf /var/lib/apt/lists/*")


def _tar_gz(mtime: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("app/", b""), ("app/main.py", b"print('hi')\n"), ("app/VERSION", b"1.0\n")):
            ti = tarfile.TarInfo(name.rstrip("/"))
            ti.mtime = mtime
            if name.endswith("/"):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _jar(date: tuple[int, int, int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("META-INF/MANIFEST.MF", "com/example/App.class"):
            zf.writestr(zipfile.ZipInfo(name, date), b"x" * 40)
    return buf.getvalue()


def _spec(side: str) -> g.ImageSpec:
    b = side == "b"
    minified = "var a=" + ",".join(f"x{i}={i}" for i in range(150)) + f";var built='{'2023-11-15' if b else '2023-11-14'}';"
    files = [
        g.dir("etc"),
        g.file("etc/stamp", b"Wed Nov 15 08:00:00 UTC 2023\n" if b else b"Tue Nov 14 22:13:20 UTC 2023\n"),
        g.file(f"{LONG_DIR}/changelog-with-a-long-name-that-goes-on-and-on.txt.gz", b"log", mode=0o600 if b else 0o644),
        g.file("app/bundle.tar.gz", _tar_gz(EPOCH + 86400 if b else EPOCH)),
        g.file("app/lib.jar", _jar((2023, 11, 15, 8, 0, 0) if b else (2023, 11, 14, 22, 13, 20))),
        g.file("app/static/app.min.js", minified.encode()),
        g.file("app/data.bin", bytes(range(256)) if b else bytes(reversed(range(256)))),
        g.symlink("app/current", "releases/2" if b else "releases/1"),
        g.file("app/touched", b"same", mtime=EPOCH + 3600 if b else EPOCH),
    ]
    if b:
        files.append(g.file("app/only-in-b.txt", b"new\n"))
    return g.ImageSpec(layers=[
        g.LayerSpec([g.dir("bin"), g.file("bin/tool", b"\x7fELF" + b"x" * 100, mode=0o755)],
                    created_by="COPY tool /bin/ # buildkit"),
        g.LayerSpec(files, created_by=LONG_RUN),
    ], labels={"org.opencontainers.image.version": "1.0", "build.host": "runner-7" if b else "runner-3"},
        env=["PATH=/usr/bin:/bin", f"BUILD_ID={'b-2' if b else 'a-1'}"])


def sample_doc(name: str, tmp: Path) -> dict[str, Any]:
    """A report document (the JSON `repro diff` writes) for the named sample."""
    from repro.cli import main

    os.makedirs(tmp, exist_ok=True)
    a, b = tmp / f"{name}-a.tar", tmp / f"{name}-b.tar"
    g.write_image(_spec("a"), a)
    g.write_image(_spec("a") if name == "reproducible" else _spec("b"), b)
    out = tmp / f"{name}.json"
    args = ["diff", str(a), str(b), "--format", "json", "-q", "-o", str(out)]
    if name == "semantic":
        args += ["--semantic", "--ignore", f"{LONG_DIR}/**"]
    try:
        main(args)
    except SystemExit as e:
        assert e.code in (0, 1), e.code
    with open(out, encoding="utf-8") as f:
        return json.load(f)


# check's variations record (repro.report.document.build_document): the set, and what each
# varied build got, one variation not applied
VARIATION_RECORD = {"set": "default", "names": ["stagger", "build_path", "kernel"], "strict_only": [],
                    "about": "the realistic set: what differs between two machines running the same BuildKit"}
APPLIED = [{"name": "stagger", "applied": True, "value": "started 2 s after build 1"},
           {"name": "build_path", "applied": True, "value": "context copied to another path"},
           {"name": "kernel", "applied": False, "value": "uname reports 6.1.0-varied",
            "not_applied": "the builder is not one of repro's ephemeral daemons"}]


def with_build(doc: dict[str, Any], *, varied: bool, builds: int = 2, record: bool = False) -> dict[str, Any]:
    """The document as `repro check` makes it: with the build record (and, for more than
    two builds, the comparisons and a platform warning, so every box is drawn). `record`:
    with the variations record of `check --vary` (build.variations, builds[].variations),
    and the first finding attributed by --bisect (provoked_by)."""
    out = dict(doc)
    if builds > 2:
        a, b = doc["inputs"]
        out["comparisons"] = [{"a": "build-1", "b": f"build-{n}", "verdict": doc["verdict"] if n == 2 else "reproducible",
                               "findings": doc["summary"]["findings"] if n == 2 else 0, "pair": f"build-1 vs build-{n}",
                               "role_a": "build", "role_b": "build", "digest_a": a["digest"],
                               "digest_b": b["digest"] if n == 2 else a["digest"], "reported": n == 2}
                              for n in range(2, builds + 1)]
        out["warnings"] = [{"kind": "platform-mismatch", "platform": "linux/arm64", "found": "amd64", "checked": 12,
                            "matching": 0, "example": "bin/busybox",
                            "message": "linux/arm64: 12 of 12 executables checked are built for x86-64, not "
                                       "arm64 (e.g. /bin/busybox): the base image probably has no variant for this "
                                       "platform, so the image will not run there"}]
    out["build"] = {
        "buildkit_version": "v0.32.2", "source_date_epoch": EPOCH, "source_date_epoch_from": "--source-date-epoch",
        "exporter": {"rewrite-timestamp": "true", "oci-mediatypes": "true", "compression": "gzip",
                     "force-compression": "true"},
        "base_digests": {"base": "sha256:" + "ab" * 32},
        "vary": ("context copied to another path, mtimes alternately epoch+259200s / epoch-259200s, "
                 "2s pause before the build") if varied else None,
        "builds": [{"digest": i["digest"], "builder": "buildctl", "driver": "ephemeral", "daemon": "ephemeral",
                    "snapshotter": "overlayfs", "duration": 2.5, "varied": varied and n == 1}
                   for n, i in enumerate(doc["inputs"])],
    }
    if record:
        out["build"]["variations"] = dict(VARIATION_RECORD)
        for n, b in enumerate(out["build"]["builds"]):
            b["variations"] = [dict(a) for a in APPLIED] if varied and n else []
        out["findings"] = [dict(f, provoked_by=["stagger"]) if k == 0 else f for k, f in enumerate(doc["findings"])]
    return out
