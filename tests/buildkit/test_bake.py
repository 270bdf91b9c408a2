"""check --bake: every target of a bake file, read through `docker buildx bake --print`,
in one report with one exit code; and the stage chain of a COPY --from finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context

pytestmark = pytest.mark.buildkit
BAKE = os.path.join(ROOT, "testdata", "bake")


def repro(*args: str, cwd: str = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, timeout=1200,
                          cwd=cwd, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def test_bake_targets_in_one_report_with_one_exit_code(base_image, buildkit_tools, tmp_path) -> None:
    report = tmp_path / "report.json"
    env = {"BASE": f"oci-layout://{base_image.path}:latest"}
    run = repro("check", "--bake", "docker-bake.hcl", "--progress", "quiet", "--format", "json", "-o", str(report),
                "--keep", str(tmp_path / "keep"), cwd=BAKE, env=env)
    assert run.returncode == 1, run.stderr[-3000:]  # tool differs, app does not: one exit code for both
    doc = json.loads(report.read_text())
    assert [(t["name"], t["verdict"]) for t in doc["targets"]] == [("app", "reproducible"),
                                                                   ("tool", "not-reproducible")]
    assert doc["verdict"] == "not-reproducible" and doc["summary"]["targets"] == 2
    assert {f["target"] for f in doc["findings"]} == {"tool"}
    assert all(f["platform"].startswith("tool: ") for f in doc["findings"])
    app = doc["targets"][0]["report"]
    assert app["build"]["source_date_epoch"] == EPOCH  # from the target's SOURCE_DATE_EPOCH arg
    assert "repro: target app: reproducible (0 findings)" in run.stderr
    # the target's labels reached the image
    from repro.oci import open_image

    with open_image(str(tmp_path / "keep" / "app" / "build-1.tar")) as img:
        config = img.manifests[0].config
    assert (config.get("config") or {}).get("Labels", {}).get("org.opencontainers.image.title") == "app"
    # every format shows each target's findings under its name
    text = repro("check", "--bake", "docker-bake.hcl", "tool", "--progress", "quiet", cwd=BAKE, env=env)
    assert text.returncode == 1 and "tool: linux/amd64" in text.stdout
    assert "app" not in {ln.split(":")[0] for ln in text.stdout.splitlines()}


def test_bake_refuses_what_it_cannot_pass_on(tmp_path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  context = "."\n  shm-size = "2g"\n}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run = repro("check", "--bake", "--source-date-epoch", "1", cwd=str(tmp_path))
    assert run.returncode == 2 and "shm-size" in run.stderr and run.stderr.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    run = repro("check", "--bake", cwd=str(empty))
    assert run.returncode == 2 and "no bake file" in run.stderr


def test_a_copy_from_finding_names_the_instruction_in_the_stage_that_made_it(base_image, buildkit_tools,
                                                                            tmp_path) -> None:
    report = tmp_path / "report.json"
    run = repro("check", context("multi-stage"), "--source-date-epoch", str(EPOCH), "--build-context",
                base_image.build_context, "--progress", "quiet", "--format", "json", "-o", str(report))
    assert run.returncode == 1, run.stderr[-3000:]
    doc = json.loads(report.read_text())
    by_path = {f["path"]: f for f in doc["findings"] if f["kind"] == "file"}
    assert set(by_path) == {"usr/share/app/build-id", "srv/out.tar"}
    build_id = by_path["usr/share/app/build-id"]
    assert build_id["instruction"] == "COPY /out/ /usr/share/app/"  # the history, as BuildKit wrote it
    [link] = build_id["stage_chain"]
    assert link["copy"] == "COPY --from=builder /out/ /usr/share/app/" and link["stage"] == "builder"
    assert link["path"] == "out/build-id" and link["line"] == 3 and link["differs"] is True
    assert link["instruction"].startswith("RUN head -c 16 /dev/urandom")
    # the stage was built on the daemons of the two builds, from their own cache: the same bytes
    assert (link["a"], link["b"]) == (build_id["a"], build_id["b"])
    [packer] = by_path["srv/out.tar"]["stage_chain"]
    assert packer["copy"] == "COPY --from=1 /out.tar /srv/" and packer["stage"] == "packer"
    assert packer["instruction"].startswith("RUN tar -cf /out.tar") and packer["line"] == 6
    from repro.report import RENDERERS, render

    for fmt in RENDERERS:  # every format shows the chain
        assert "COPY --from=builder /out/ /usr/share/app/" in render(doc, fmt), fmt
    text = repro("check", context("multi-stage"), "--source-date-epoch", str(EPOCH), "--build-context",
                 base_image.build_context, "--progress", "quiet")
    assert ("made by: COPY --from=builder /out/ /usr/share/app/ ← RUN head -c 16 /dev/urandom | od -An -tx1 > "
            "/out/build-id (stage builder, line 3)") in text.stdout


def test_json_and_compose_definitions_read_through_buildx(tmp_path) -> None:
    from repro.buildkit.bake import read_bake

    (tmp_path / "svc").mkdir()
    (tmp_path / "docker-bake.json").write_text(json.dumps({
        "group": {"default": {"targets": ["b", "a"]}},
        "target": {"a": {"context": "svc", "args": {"X": "1", "SOURCE_DATE_EPOCH": "5"}},
                   "b": {"dockerfile-inline": "FROM scratch\n", "platforms": ["linux/arm64"],
                         "tags": ["example.org/b:1"], "annotations": ["index:org.example.k=v"]}}}))
    found = read_bake(("docker-bake.json",), (), inline_dir=str(tmp_path / "inline"), cwd=str(tmp_path))
    assert [t.name for t in found] == ["a", "b"]  # the group's targets, in the order bake prints them
    a, b = found
    assert a.spec.context == str(tmp_path / "svc") and a.spec.build_args == ("X=1",)
    assert a.spec.source_date_epoch == 5 and a.spec.dockerfile == str(tmp_path / "svc" / "Dockerfile")
    assert open(b.spec.dockerfile).read() == "FROM scratch\n" and b.spec.platforms == ("linux/arm64",)
    assert b.ignored == ("tags",) and b.spec.exporter == ("annotation-index.org.example.k=v",)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    build:\n      context: ./svc\n"
                                           "      args:\n        MODE: release\n")
    [web] = read_bake(("compose.yaml",), (), inline_dir=str(tmp_path / "inline"), cwd=str(tmp_path))
    assert web.name == "web" and web.spec.build_args == ("MODE=release",)
    assert web.spec.context == str(tmp_path / "svc")
