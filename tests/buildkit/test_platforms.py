"""Multi-platform builds, tested for real: the cross-compilation pattern release images use
(no emulation), and an emulated arm64 RUN through qemu-user-static in binfmt_misc.

`check --platform a,b` builds every platform in each build and compares per platform:
findings carry their platform, and the report has a verdict per platform and overall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context

pytestmark = pytest.mark.buildkit


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, stdin=subprocess.DEVNULL)


def verdicts(doc: dict) -> dict[str, str]:
    return {p["platform"]: p["verdict"] for p in doc["platforms"] if p["role"] == "image"}


def files_by_platform(oci_tar: str) -> dict[str, dict[str, bytes]]:
    """platform -> {path: content} of the top layer of each platform's image."""
    import gzip
    import io
    import tarfile

    with tarfile.open(oci_tar) as tf:
        blob = lambda d: tf.extractfile("blobs/sha256/" + d.split(":", 1)[1]).read()  # noqa: E731
        index = json.loads(tf.extractfile("index.json").read())  # type: ignore[union-attr]
        top = index["manifests"][0]
        entries = json.loads(blob(top["digest"]))["manifests"] if "index" in top["mediaType"] else [top]
        out = {}
        for m in entries:
            manifest = json.loads(blob(m["digest"]))
            plat = f"{m['platform']['os']}/{m['platform']['architecture']}"
            files: dict[str, bytes] = {}
            for layer in manifest["layers"]:
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as lt:
                    for e in lt.getmembers():
                        if e.isfile():
                            files[e.name] = lt.extractfile(e).read()  # type: ignore[union-attr]
            out[plat] = files
    return out


def test_cross_compiled_platforms_are_each_reproducible(base_image, buildkit_tools, tmp_path) -> None:
    keep, report = tmp_path / "keep", tmp_path / "report.json"
    run = repro("check", context("cross-platform"), "--platform", "linux/amd64,linux/arm64", "--source-date-epoch",
                str(EPOCH), "--build-context", base_image.build_context, "--progress", "quiet", "--keep", str(keep),
                "--format", "json", "-o", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "reproducible"
    assert verdicts(doc) == {"linux/amd64": "reproducible", "linux/arm64": "reproducible"}
    built = files_by_platform(str(keep / "build-1.tar"))
    assert set(built) == {"linux/amd64", "linux/arm64"}
    # the build stage ran on the build machine (x86_64) once per target, writing for that target
    assert built["linux/amd64"]["arch-amd64"] == b"built on x86_64 for linux/amd64\n"
    assert built["linux/arm64"]["arch-arm64"] == b"built on x86_64 for linux/arm64\n"


def test_a_platform_that_differs_gets_its_own_verdict(base_image, buildkit_tools, tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM --platform=$BUILDPLATFORM base AS build\nARG TARGETARCH\n"
        "RUN mkdir /out && if [ $TARGETARCH = arm64 ]; then head -c 8 /dev/urandom > /out/id; "
        "else echo fixed > /out/id; fi\nFROM scratch\nCOPY --from=build /out/ /\n")
    report = tmp_path / "report.json"
    run = repro("check", str(ctx), "--platform", "linux/amd64", "--platform", "linux/arm64", "--source-date-epoch",
                str(EPOCH), "--build-context", base_image.build_context, "--progress", "quiet", "--format", "json",
                "-o", str(report))
    assert run.returncode == 1, run.stderr[-3000:]
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "not-reproducible"
    assert verdicts(doc) == {"linux/amd64": "reproducible", "linux/arm64": "not-reproducible"}
    assert {f["platform"] for f in doc["findings"]} == {"linux/arm64"}


def test_an_emulated_arm64_run_step(multiarch_base, arm64_emulation, buildkit_tools, tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base\nRUN uname -m > /machine\n")
    keep = tmp_path / "keep"
    run = repro("check", str(ctx), "--platform", "linux/amd64,linux/arm64", "--source-date-epoch", str(EPOCH),
                "--build-context", multiarch_base.build_context, "--progress", "quiet", "--keep", str(keep))
    assert run.returncode == 0, run.stderr[-3000:]
    built = files_by_platform(str(keep / "build-2.tar"))
    assert built["linux/amd64"]["machine"] == b"x86_64\n"
    assert built["linux/arm64"]["machine"] == b"aarch64\n"  # the RUN ran under qemu-aarch64
    assert os.path.basename(arm64_emulation).startswith(("aarch64", "qemu-aarch64"))
