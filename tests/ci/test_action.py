"""action.yml: the composite GitHub Action, run step by step as GitHub runs it.

Each step's `env` is evaluated the way GitHub evaluates it (`${{ inputs.NAME }}` from the
`with:` values over the inputs' defaults, `${{ github.action_path }}` the checkout), so
the scripts see the INPUT_* environment GitHub would set; `run` goes to bash in the
workspace, with GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY and RUNNER_TEMP files as
on a runner (GITHUB_ENV lines reach the later steps). The install step runs for real: on
a set-up machine it finds everything in place. The tests run as root, so no sudo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.buildkit_fixtures import EPOCH, ROOT, context

pytestmark = pytest.mark.buildkit
_EXPR = re.compile(r"\$\{\{\s*([A-Za-z0-9.\-_]+)\s*\}\}")


def load_action() -> dict:
    with open(os.path.join(ROOT, "action.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def run_action(tmp_path, with_: dict[str, str], *, workspace: str | None = None,
               env_values: dict[str, str] | None = None) -> dict:
    """Run every step of action.yml in `workspace` (default: a fresh dir); return the
    outputs (as action.yml maps them), the step summary and the exit status of each step.
    `env_values`: the workflow's `env`, for `${{ env.NAME }}` in the `with:` values."""
    action = load_action()
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(with_) - set(inputs)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    env_values = env_values or {}
    inputs.update({k: _EXPR.sub(lambda m: env_values[m.group(1)[len("env."):]], v) for k, v in with_.items()})
    tmp_path = type(tmp_path)(tempfile.mkdtemp(prefix="run-", dir=tmp_path))  # one workspace per run
    files = {k: tmp_path / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()

    def evaluate(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            what = m.group(1)
            if what.startswith("inputs."):
                return inputs[what[len("inputs."):]]
            if what == "github.action_path":
                return ROOT
            raise AssertionError(f"expression {what} is not one GitHub would give this action")
        return _EXPR.sub(one, text)

    github_env: dict[str, str] = {}
    steps_outputs: dict[str, dict[str, str]] = {}
    codes = []
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash"
        env = {**os.environ, **{k: str(v) for k, v in files.items()}, "RUNNER_TEMP": str(runner_temp),
               "PYTHON": sys.executable, "GITHUB_ACTIONS": "true", **github_env}
        env.update({k: evaluate(str(v)) for k, v in (step.get("env") or {}).items()})
        before = files["GITHUB_OUTPUT"].read_text()
        proc = subprocess.run(["bash", "-e", "-c", evaluate(step["run"])], env=env, cwd=workspace or str(tmp_path),
                              capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        codes.append(proc.returncode)
        added = files["GITHUB_OUTPUT"].read_text()[len(before):]
        steps_outputs[step.get("id", "")] = dict(ln.split("=", 1) for ln in added.splitlines() if "=" in ln)
        for line in files["GITHUB_ENV"].read_text().splitlines():
            key, _, value = line.partition("=")
            github_env[key] = value
        if proc.returncode != 0:
            break  # GitHub skips the later steps of a failed composite action
    outputs = {}
    for name, spec in action["outputs"].items():
        m = re.fullmatch(r"\$\{\{\s*steps\.([a-z\-_]+)\.outputs\.([a-z\-_]+)\s*\}\}", spec["value"])
        assert m, spec
        outputs[name] = steps_outputs.get(m.group(1), {}).get(m.group(2), "")
    return {"outputs": outputs, "summary": files["GITHUB_STEP_SUMMARY"].read_text(), "codes": codes,
            "stderr": proc.stderr, "env": github_env}


def _args(base) -> str:
    return f"--source-date-epoch {EPOCH} --build-context {base.build_context} --progress quiet"


def test_reproducible_context_passes_with_report_attestation_and_summary(tmp_path, base_image, buildkit_tools):
    result = run_action(tmp_path, {"context": context("deterministic"), "format": "json", "attest": "true",
                                   "args": _args(base_image)})
    assert result["codes"] == [0, 0], result["stderr"][-2000:]
    out = result["outputs"]
    assert out["verdict"] == "reproducible" and out["exit-code"] == "0"
    with open(out["report"]) as f:
        assert json.load(f)["verdict"] == "reproducible"
    with open(out["attestation"]) as f:
        statement = json.load(f)
    assert statement["predicate"]["verificationResult"] == "PASSED"
    assert "REPRODUCIBLE" in result["summary"].upper() and "#" in result["summary"]  # repro's Markdown report
    assert result["env"]["REPRO_PYTHON"]  # the install step told later steps which Python has repro


def test_differences_fail_the_step_unless_fail_on_never(tmp_path, base_image, buildkit_tools):
    result = run_action(tmp_path, {"context": context("random-bytes"), "args": _args(base_image)})
    assert result["codes"] == [0, 1]
    assert result["outputs"]["verdict"] == "not-reproducible" and result["outputs"]["exit-code"] == "1"
    assert result["outputs"]["report"].endswith(".md") and result["outputs"]["attestation"] == ""
    assert "random-content" in open(result["outputs"]["report"]).read()
    lenient = run_action(tmp_path, {"context": context("random-bytes"), "fail-on": "never",
                                          "format": "junit", "args": _args(base_image)})
    assert lenient["codes"] == [0, 0]
    assert lenient["outputs"]["verdict"] == "not-reproducible" and lenient["outputs"]["exit-code"] == "1"
    assert "<failure" in open(lenient["outputs"]["report"]).read()


def test_trouble_is_an_error_verdict_and_a_summary_note(tmp_path):
    result = run_action(tmp_path, {"context": str(tmp_path / "no-such-dir"), "fail-on": "error"})
    assert result["codes"] == [0, 2]
    assert result["outputs"]["verdict"] == "error" and result["outputs"]["exit-code"] == "2"
    assert "repro check: error" in result["summary"] and "no-such-dir" in result["summary"]
    bad = run_action(tmp_path, {"format": "pdf"})
    assert bad["codes"] == [0, 2] and "format: 'pdf'" in bad["stderr"]


def test_bake_input_checks_the_named_targets(tmp_path, base_image, buildkit_tools, monkeypatch):
    monkeypatch.setenv("BASE", f"oci-layout://{base_image.path}:latest")  # the bake file's variable
    result = run_action(tmp_path, {"bake": "docker-bake.hcl app", "format": "json", "args": "--progress quiet"},
                        workspace=os.path.join(ROOT, "testdata", "bake"))
    assert result["codes"] == [0, 0], result["stderr"][-2000:]
    with open(result["outputs"]["report"]) as f:
        doc = json.load(f)
    assert [t["name"] for t in doc["targets"]] == ["app"] and doc["verdict"] == "reproducible"
