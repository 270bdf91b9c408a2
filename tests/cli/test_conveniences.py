"""What users expect of a command-line tool: --version, python -m, shell completion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from repro import BUILDKIT_VERSION, __version__

from tests import ROOT


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def test_python_dash_m_repro_is_the_command():
    r = run(sys.executable, "-m", "repro", "--version")
    assert r.returncode == 0 and r.stdout == f"repro {__version__} (drives BuildKit {BUILDKIT_VERSION})\n"
    r = run(sys.executable, "-m", "repro", "diff", "/nonexistent-a", "/nonexistent-b")
    assert r.returncode == 2 and r.stderr.startswith("repro: error: ") and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _repro_completion repro"),
                                           ("zsh", "compdef _repro_completion repro"),
                                           ("fish", "complete --no-files --command repro")])
def test_completion_prints_click_s_script(shell, marker):
    r = run(sys.executable, "-m", "repro", "completion", shell)
    assert r.returncode == 0 and marker in r.stdout and "_REPRO_COMPLETE" in r.stdout


def complete(words: str, cword: int) -> list[str]:
    r = run(sys.executable, "-m", "repro", env={"_REPRO_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                                 "COMP_CWORD": str(cword)})
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()]


def test_completion_offers_commands_options_and_choices():
    assert complete("repro ch", 1) == ["check"]
    assert "completion" in complete("repro ", 1)
    assert {"--builder", "--builds", "--build-arg", "--build-context"} <= set(complete("repro check --bui", 2))
    assert complete("repro diff --format ", 3) == ["text", "json", "markdown", "html", "junit"]


def test_the_bash_script_completes_in_bash():
    assert shutil.which("repro"), "the `repro` entry point is installed by scripts/setup.sh (pip install -e .)"
    script = 'source <(repro completion bash); COMP_WORDS=(repro check --no-c); COMP_CWORD=2; ' \
             '_repro_completion repro; echo "${COMPREPLY[@]}"'
    r = run("bash", "-c", script)
    assert r.returncode == 0 and r.stdout.strip() == "--no-config", r.stderr
