"""The command line, and only the command line: it parses options into the records the
library takes, calls repro.pipeline (or repro.buildkit for `build` and `doctor`) and
prints what comes back. Nothing below repro/cli/ imports from here.

    commands.py   the click group and its commands
    options.py    option groups shared by several commands, and their parsing
    output.py     writing a report (stdout, -o, --attest, $GITHUB_STEP_SUMMARY)
    entry.py      main(): every ReproError as one line on stderr and exit 2; signals
    config.py     repro.toml, a team's defaults for `check` and `build`
    progress.py   the one-line progress display on a terminal
    inspect.py    how `repro inspect` shows an image
"""

from repro.cli.commands import cli
from repro.cli.entry import Terminated, main

__all__ = ["Terminated", "cli", "main"]
