"""docs/ci/: the example GitHub Actions and GitLab CI jobs work, run as written.

The `run:` scripts (GitHub) and `script:` lines (GitLab) are taken from the files and run
with bash in a scratch git repository holding a build context, the way the CI system would
run them, with the workflow's own variables. What stands in for the CI system:

- the install steps are not run (they download from the internet; this machine gets
  BuildKit from scripts/setup.sh and runs this checkout's repro through a `repro` shim);
- `sudo` is a shim that drops its options (the tests run as root, which sudo gives a
  GitHub runner);
- REPRO_ARGS, the workflows' hook for extra flags, passes the offline base image;
- GitLab's two BuildKit services are two ephemeral buildkitd daemons, named through the
  job's BUILDKIT_A / BUILDKIT_B variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from tests.buildkit_fixtures import ROOT, context
from repro.buildkit import EphemeralDaemon

CI = os.path.join(ROOT, "docs", "ci")
pytestmark = pytest.mark.buildkit


# the two files, read the way the CI systems read them (just enough YAML for these files) --

def github_steps(path: str, job: str) -> list[dict[str, str]]:
    """The steps of `job`: each a dict with name/uses/run (run dedented)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    start = lines.index(f"  {job}:")
    steps: list[dict[str, str]] = []
    i = start + 1
    while i < len(lines) and (not lines[i] or lines[i].startswith("   ")):
        line = lines[i]
        m = re.match(r"^(\s+)- (name|uses): (.*)$", line)
        if m:
            steps.append({m.group(2): m.group(3).split("  #", 1)[0].strip()})
        elif steps and re.match(r"^\s+name: ", line) and "name" not in steps[-1]:
            steps[-1]["name"] = line.split(":", 1)[1].strip()
        elif steps and re.match(r"^(\s+)run: \|$", line):
            indent = len(line) - len(line.lstrip())
            body = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i])
                i += 1
            steps[-1]["run"] = textwrap.dedent("\n".join(body)).strip() + "\n"
            continue
        i += 1
    return steps


def top_level_map(path: str, key: str) -> dict[str, str]:
    """`KEY:` followed by `  NAME: value` lines (quotes removed)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    start = lines.index(f"{key}:")
    out = {}
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        m = re.match(r"^  ([A-Z_]+): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip().strip('"')
    return out


def gitlab_list(path: str, job: str, key: str) -> list[str]:
    lines = open(path, encoding="utf-8").read().splitlines()
    start = lines.index(f"{job}:")
    at = next(i for i in range(start + 1, len(lines)) if lines[i] == f"  {key}:")
    out = []
    for line in lines[at + 1:]:
        if not line.startswith("    - "):
            break
        out.append(line[len("    - "):])
    return out


# the stand-ins -------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path):
    """A scratch dir for the checkout, and a PATH with the `repro` and `sudo` shims."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shims = {
        "repro": f'#!/bin/sh\nexec {sys.executable} -m repro "$@"\n',
        "sudo": '#!/bin/sh\n# stands in for sudo (the tests run as root): drop its options, run the rest\n'
                'while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done\nexec "$@"\n',
    }
    for name, text in shims.items():
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755 | stat.S_IXUSR)
    return tmp_path, f"{bindir}:{os.environ['PATH']}"


def checkout(tmp_path, name: str) -> str:
    """A git repository whose root is the example context `name` (one commit)."""
    work = tmp_path / "checkout"
    shutil.copytree(context(name), work)
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.org", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.org", "GIT_AUTHOR_DATE": "@1700000000 +0000",
           "GIT_COMMITTER_DATE": "@1700000000 +0000"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "app"]):
        subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)
    return str(work)


def run_script(script: str, cwd: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": ROOT}
    full.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=600)


def junit_failures(path: str) -> int:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.findall("testsuite")
    return int(root.get("failures", "0"))


# GitHub Actions ---------------------------------------------------------------------------

def github_repro_step() -> tuple[dict[str, str], dict[str, str]]:
    """The workflow's step that uses repro's action: its `with:` values, and the workflow's env."""
    import yaml

    with open(os.path.join(CI, "github-actions.yml"), encoding="utf-8") as f:
        workflow = yaml.safe_load(f)
    steps = workflow["jobs"]["check"]["steps"]
    assert [s.get("uses") or s.get("name") for s in steps] == ["actions/checkout@v4", "actions/setup-python@v5",
                                                              "OWNER/repro@v1", "actions/upload-artifact@v4"]
    step = steps[2]
    assert step["id"] == "repro"
    return {k: str(v) for k, v in step["with"].items()}, {k: str(v) for k, v in workflow["env"].items()}


@pytest.mark.parametrize("name, verdict", [("deterministic", 0), ("random-bytes", 1)])
def test_the_github_workflow_s_check_step_passes_or_fails_the_job(repo, base_image, buildkit_tools, name, verdict):
    """The workflow's repro step, run through action.yml's own steps (tests/ci/test_action.py)."""
    from tests.ci.test_action import run_action

    tmp_path, _ = repo
    with_, env = github_repro_step()
    assert env == {"REPRO_ARGS": ""}
    work = checkout(tmp_path, name)
    env["REPRO_ARGS"] = f"--build-context {base_image.build_context} --progress quiet"
    result = run_action(tmp_path, with_, workspace=work, env_values=env)
    assert result["codes"] == [0, verdict], result["stderr"][-3000:]
    out = result["outputs"]
    assert out["verdict"] == ("reproducible" if verdict == 0 else "not-reproducible")
    assert (junit_failures(out["report"]) == 0) == (verdict == 0)
    with open(os.path.join(work, "repro.intoto.json")) as f:
        vsa = json.load(f)["predicate"]
    assert vsa["verificationResult"] == ("PASSED" if verdict == 0 else "FAILED")
    text = result["summary"]
    assert text.startswith("## ✅ Reproducible" if verdict == 0 else "## ❌ Not reproducible")
    assert "SOURCE_DATE_EPOCH=1700000000" in text  # the commit's time, from git
    assert os.path.isfile(os.path.join(work, "repro-diff", "report.json"))
    if verdict:
        assert os.path.isfile(os.path.join(work, "repro-diff", "a", "rand"))


# GitLab CI --------------------------------------------------------------------------------

def test_the_gitlab_job_s_script_builds_on_its_two_buildkit_services(repo, base_image, buildkit_tools):  # noqa: F811
    tmp_path, path = repo
    ci = os.path.join(CI, "gitlab-ci.yml")
    variables = top_level_map(ci, "variables")
    assert variables == {"BUILDKIT_VERSION": "v0.32.2", "BUILDKIT_A": "tcp://buildkitd-a:1234",
                         "BUILDKIT_B": "tcp://buildkitd-b:1234", "REPRO_ARGS": ""}
    script = gitlab_list(ci, "reproducible", "script")
    assert len(script) == 1 and "repro check ." in script[0]
    assert [s.split()[0] for s in gitlab_list(ci, "reproducible", "before_script")] == ["pip", "curl"]
    work = checkout(tmp_path, "deterministic")
    with EphemeralDaemon(tools=buildkit_tools) as a, EphemeralDaemon(tools=buildkit_tools) as b:
        variables.update(PATH=path, BUILDKIT_A=a.addr, BUILDKIT_B=b.addr,
                         REPRO_ARGS=f"--build-context {base_image.build_context}")
        r = run_script("\n".join(script) + "\n", work, variables)
    assert r.returncode == 0, r.stderr[-3000:]
    assert junit_failures(os.path.join(work, "repro-junit.xml")) == 0
    with open(os.path.join(work, "repro.intoto.json")) as f:
        assert json.load(f)["predicate"]["verificationResult"] == "PASSED"
    assert "repro: reproducible: 0 findings; report written to repro-junit.xml" in r.stderr
