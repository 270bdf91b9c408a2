"""docs/tutorial.md is true: its commands produce the output it shows, its diffs and files
are the ones in testdata/tutorial/.

Every ```console block is run with bash, command by command (`$ ` lines), in a scratch
directory that sees the repository's testdata/, with $BASE set to the offline base image
and `repro` running this checkout. Outputs are compared after normalising what changes
from run to run: digests, the clock in `date` output and tar listings.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import ROOT

TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
STEPS = os.path.join(ROOT, "testdata", "tutorial")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_NORMALISE = (
    (re.compile(r"sha256:[0-9a-f]{12,64}"), "sha256:<digest>"),
    (re.compile(r"\b[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\b"), "<date>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?\b"), "<time>"),
)


def blocks(lang: str) -> list[str]:
    with open(TUTORIAL, encoding="utf-8") as f:
        return [body for kind, body in _FENCE.findall(f.read()) if kind == lang]


def normalise(text: str) -> str:
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text


def commands(block: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of one console block."""
    out: list[tuple[str, str]] = []
    for line in block.splitlines(keepends=True):
        if line.startswith("$ "):
            out.append((line[2:].rstrip("\n"), ""))
        else:
            assert out, f"output before any command in:\n{block}"
            out[-1] = (out[-1][0], out[-1][1] + line)
    return out


@pytest.fixture
def shell_env(base_image, tmp_path):  # noqa: F811
    """A scratch cwd with testdata/, and `repro` on PATH running this checkout."""
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(os.path.join(ROOT, "testdata"), work / "testdata")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "repro"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m repro "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": ROOT,
           "BASE": f"oci-layout://{base_image.path}"}
    env.pop("SOURCE_DATE_EPOCH", None)
    return str(work), env


def test_the_tutorial_has_commands_diffs_and_files_to_check():
    assert len(blocks("console")) >= 4 and len(blocks("diff")) == 2
    assert len(blocks("toml")) == 1 and len(blocks("dockerfile")) == 1


@pytest.mark.buildkit
def test_every_console_block_prints_what_the_tutorial_shows(shell_env):
    cwd, env = shell_env
    for block in blocks("console"):
        for command, expected in commands(block):
            r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd, env=env,
                               timeout=300)
            assert normalise(r.stdout) == normalise(expected), f"$ {command}\n{r.stderr[-2000:]}"
            if command.startswith("repro check") and ">" not in command:
                want = 1 if "NOT REPRODUCIBLE" in expected else 0
                assert r.returncode == want, f"$ {command}: exit {r.returncode}\n{r.stderr[-2000:]}"
            else:
                assert r.returncode in (0, 1), f"$ {command}: exit {r.returncode}\n{r.stderr[-2000:]}"


def test_the_diffs_shown_are_the_differences_between_the_steps():
    for block in blocks("diff"):
        old = re.search(r"^--- (\S+)$", block, re.M).group(1)
        new = re.search(r"^\+\+\+ (\S+)$", block, re.M).group(1)
        r = subprocess.run(["diff", "-u", "--label", old, "--label", new, os.path.join(STEPS, old),
                            os.path.join(STEPS, new)], capture_output=True, text=True)
        assert r.stdout == block, f"{old} -> {new}"


def test_the_files_shown_are_the_files_in_testdata():
    with open(os.path.join(STEPS, "step1", "Dockerfile")) as f:
        assert blocks("dockerfile")[0] == f.read()
    with open(os.path.join(STEPS, "step3", "repro.toml")) as f:
        assert blocks("toml")[0] == f.read()
    for step in ("step1", "step2"):  # the policy file arrives in step 3
        assert not os.path.exists(os.path.join(STEPS, step, "repro.toml"))
