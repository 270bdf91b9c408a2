"""scripts/installed.py: what decides whether the set-up scripts (lib.sh pip_install_repro)
run `pip install` again. A requirement whose environment marker is false here is not
required (isal has one), so a platform without its wheel does not rerun pip every time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from tests.buildkit_fixtures import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "installed.py")


def _installed():
    spec = importlib.util.spec_from_file_location("installed", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_requirements_whose_marker_is_false_here_are_not_missing():
    missing = _installed().missing
    absent = "repro-no-such-package-2b7e"
    project = {"dependencies": [f"{absent}>=1; platform_machine == 'no-such-machine'",
                                "click>=8.1", f"{absent}-too; python_version >= '3'"],
               "optional-dependencies": {"test": ["click<1", f"{absent}-extra; extra == 'test'"]}}
    assert missing(project) == [f"{absent}-too; python_version >= '3'"]
    import click.testing  # noqa: F401  (click is installed: its version is read)
    import importlib.metadata as md
    assert missing(project, "test") == [f"{absent}-too; python_version >= '3'",
                                        f"click<1 (found {md.version('click')})",
                                        f"{absent}-extra; extra == 'test'"]


def test_this_checkouts_own_requirements_are_met_so_setup_does_not_rerun_pip():
    # run as lib.sh runs it: from /, so `import repro` is the installed package
    r = subprocess.run([sys.executable, SCRIPT, ROOT, "test"], capture_output=True, text=True, cwd="/",
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, SCRIPT, os.path.join(ROOT, "testdata")], capture_output=True, text=True,
                       cwd="/", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=60)
    assert r.returncode == 1 and "not installed from" in r.stderr
