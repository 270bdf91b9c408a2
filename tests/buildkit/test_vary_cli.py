"""`repro check` and its variations as a user runs them: the default set, --vary LIST,
--no-vary, repro.toml, --bisect, and what every format says about them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context, expected

pytestmark = pytest.mark.buildkit


def repro(*args: str, tmpdir: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": tmpdir, "PYTHONPATH": ROOT}
    env.pop("SOURCE_DATE_EPOCH", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def check(ctx: str, base, *args: str, tmpdir: str) -> subprocess.CompletedProcess:
    return repro("check", ctx, "--build-context", base.build_context, "--source-date-epoch", str(EPOCH),
                 "--progress", "quiet", *args, tmpdir=tmpdir)


def test_a_default_check_never_calls_a_static_clock_stamp_reproducible(isolated, base_image):
    # RUN date +%s > /built-at on the static busybox base: libfaketime cannot reach busybox,
    # so the stagger alone must make the second build read another second, every time
    for _ in range(3):
        r = check(context("vary-stagger"), base_image, "--format", "json", tmpdir=isolated.dir)
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert [(f["path"], f["field"]) for f in doc["findings"]] == [("built-at", "content")]
        assert doc["build"]["variations"]["set"] == "default"
        assert "provoked_by" not in doc["findings"][0]  # no experiment ran: no attribution claimed
        assert ("repro: the varied build differs; --bisect names the variation behind each finding (8 more builds: "
                "two unvaried references and one with each of stagger, build_path, context_mtimes, kernel, memory, "
                "num_cpus alone)\n") in r.stderr


def test_the_report_says_which_set_and_what_each_build_got(isolated, base_image):
    r = check(context("vary-kernel"), base_image, tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert "variations: default — the realistic set: what differs between two machines running the same BuildKit" \
        in lines
    varied = next(line for line in lines if line.startswith("  build 2: "))
    for part in ("stagger (started 2s after the control)", "kernel (uname -r 2.6.x)", "num_cpus (1 CPU)"):
        assert part in varied
    assert ("  not applied in build 2: time — in the only RUN step: the rootfs has no glibc (static binaries)"
            in lines)
    r = check(context("vary-kernel"), base_image, "--format", "json", tmpdir=isolated.dir)
    build = json.loads(r.stdout)["build"]
    assert build["builds"][0]["variations"] == [] and not build["builds"][0]["varied"]
    time_record = next(a for a in build["builds"][1]["variations"] if a["name"] == "time")
    assert time_record["applied"] is False and "no glibc" in time_record["not_applied"]
    assert build["builds"][1]["started"] > build["builds"][0]["started"]  # ISO 8601, UTC


def test_no_vary_starts_together_and_says_so(isolated, base_image):
    r = check(context("vary-kernel"), base_image, "--no-vary", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("variations: none — no variation: the builds started together and saw the same machine"
            in r.stdout.splitlines())
    r = check(context("vary-kernel"), base_image, "--no-vary", "--vary", "all", tmpdir=isolated.dir)
    assert r.returncode == 2 and r.stderr == "repro: error: --vary and --no-vary contradict each other: give one\n"


def test_vary_list_and_all(isolated, base_image):
    r = check(context("vary-umask"), base_image, "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr  # umask is strict-only: the default set leaves it alone
    r = check(context("vary-umask"), base_image, "--vary", "all", "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    var = json.loads(r.stdout)["build"]["variations"]
    assert var["set"] == "all" and "umask" in var["strict_only"] and "time" not in var["strict_only"]
    r = check(context("vary-umask"), base_image, "--vary=kernel,umask", "--format", "json", tmpdir=isolated.dir)
    assert json.loads(r.stdout)["build"]["variations"]["names"] == ["kernel", "umask"]
    r = check(context("vary-umask"), base_image, "--vary", "tyme", tmpdir=isolated.dir)
    assert r.returncode == 2 and r.stderr.startswith("repro: error: --vary: unknown variation 'tyme'")
    assert len(r.stderr.splitlines()) == 1


def test_repro_toml_chooses_the_set_and_a_flag_overrides_it(isolated, base_image, tmp_path):
    ctx = tmp_path / "ctx"
    shutil.copytree(context("vary-umask"), ctx)
    (ctx / "repro.toml").write_text('[check]\nvary = "all"\n')
    r = check(str(ctx), base_image, "--format", "json", tmpdir=isolated.dir)
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["build"]["variations"]["set"] == "all"
    r = check(str(ctx), base_image, "--no-vary", "--format", "json", tmpdir=isolated.dir)
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["build"]["variations"]["set"] == "none"
    assert doc["policy"]["config"]["overridden_by_flags"] == ["vary"]
    (ctx / "repro.toml").write_text('[check]\nvary = ["umask", "nope"]\n')
    r = check(str(ctx), base_image, tmpdir=isolated.dir)
    assert r.returncode == 2 and "[check] vary: unknown variation 'nope'" in r.stderr


def test_bisect_names_the_variation_behind_each_finding_in_every_format(isolated, base_image, tmp_path):
    want = expected("vary-all")
    ctx = tmp_path / "vary-all"
    shutil.copytree(context("vary-all"), ctx)  # fresh mtimes: a new checkout
    out = tmp_path / "r.json"
    r = check(str(ctx), base_image, "--vary", "all", "--bisect", "--format", "json", "-o", str(out),
              "--attest", str(tmp_path / "att.json"), tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    assert "repro: --bisect: 14 extra builds in " in r.stderr  # 2 references + 12 variations (time: no glibc)
    doc = json.loads(out.read_text())
    by_path = {(f["path"], f["field"]): f for f in doc["findings"]}
    for d in want["differences"]:
        found = [f for (p, fld), f in by_path.items() if (p == d["path"] or p.startswith(d["path"]))
                 and fld == d["field"]]
        assert found, d
        for f in found:
            if d["provoked_by"]:
                # its own variation; on a crowded machine a second-resolution clock may also catch another
                assert d["provoked_by"][0] in f["provoked_by"], f
            else:
                assert f["provoked_by"] == [], f
    assert by_path[("kernel", "content")]["provoked_by"] == ["kernel"]
    assert by_path[("kernel", "content")]["cause"] == "kernel-version"  # the experiment settles the cause
    assert by_path[("stagger", "content")]["cause"] == "embedded-timestamp"
    bis = doc["build"]["bisect"]
    assert bis["builds"] == 14 and len(bis["candidates"]) == 12 and bis["seconds"] > 0
    # text, Markdown, attestation
    from repro.attest import statement
    from repro.report import render

    text = render(doc, "text")
    assert "        provoked by: kernel\n" in text
    assert "provoked by: umask (strict only: every BuildKit build of this version reproduces it" in text
    assert "provoked by: no variation — it differs anyway" in text
    assert "bisect: 14 extra builds in " in text
    md = render(doc, "markdown")
    assert "| path / field | what | A | B | cause | provoked by |" in md and "- variations: all — " in md
    annotations = json.loads((tmp_path / "att.json").read_text())["predicate"]["policy"]["annotations"]
    assert annotations["variations"].startswith("all:stagger,") and "time" in annotations["variations_not_applied"]
    assert statement(doc)["predicate"]["policy"]["annotations"] == annotations
