"""docs/reference/: one page per command, in sync with `--help` (scripts/gen-reference.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from repro.cli import cli

from tests import ROOT
REFERENCE = os.path.join(ROOT, "docs", "reference")


def test_reference_pages_are_up_to_date_with_the_help():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-reference.py"), "--check"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr  # fix: python3 scripts/gen-reference.py


def test_every_command_has_a_page_holding_its_help_verbatim():
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": ROOT}
    for name in ["", *sorted(cli.commands)]:
        page = os.path.join(REFERENCE, f"repro-{name}.md" if name else "repro.md")
        with open(page, encoding="utf-8") as f:
            text = f.read()
        block = re.search(r"^```text\n(.*?)^```$", text, re.S | re.M)
        assert block, page
        help_ = subprocess.run([sys.executable, "-m", "repro", *([name] if name else []), "--help"],
                               capture_output=True, text=True, env=env, cwd=ROOT, check=True).stdout
        assert block.group(1) == help_, page


def test_reference_links_point_at_files_that_exist():
    for fname in os.listdir(REFERENCE):
        with open(os.path.join(REFERENCE, fname), encoding="utf-8") as f:
            for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", f.read()):
                assert os.path.exists(os.path.normpath(os.path.join(REFERENCE, target))), (fname, target)
