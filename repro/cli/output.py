"""Where a report goes: stdout or `-o FILE` (atomically), the attestation (`--attest`),
and GitHub's step summary (`$GITHUB_STEP_SUMMARY`, appended as Markdown)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from repro.errors import InputError

if TYPE_CHECKING:
    from repro.report.document import Report


@dataclass(frozen=True)
class OutputOptions:
    format: str = "text"  # a name of repro.report.RENDERERS
    path: str | None = None  # -o FILE; None: stdout
    attest: str | None = None  # --attest FILE
    quiet: bool = False  # no "report written to" line

    def check(self) -> None:
        """InputError now, before any long work, for a -o or --attest file (or a
        $GITHUB_STEP_SUMMARY) that could not be written afterwards."""
        from repro.atomic import check_output_file

        for option, path in (("-o", self.path), ("--attest", self.attest),
                             ("GITHUB_STEP_SUMMARY", os.environ.get("GITHUB_STEP_SUMMARY"))):
            if path:
                check_output_file(path, option)


def emit(doc: Report, output: OutputOptions) -> int:
    """Render and write the report (and the attestation); return the exit code
    (0 reproducible, 1 not)."""
    from repro.atomic import atomic_write
    from repro.report import render

    if output.attest:
        from repro.attest import render_statement

        atomic_write(output.attest, render_statement(doc))

    text = render(doc, output.format)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        # GitHub Actions shows this file on the run's page; append, as every step does.
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(render(doc, "markdown") + "\n")
        except OSError as e:
            raise InputError(f"cannot append to GITHUB_STEP_SUMMARY {summary}: {e.strerror}") from None
    if output.path:
        atomic_write(output.path, text)
        if not output.quiet:
            n = doc["summary"]["findings"]
            click.echo(f"repro: {doc['verdict']}: {n} finding{'s' if n != 1 else ''}; report written to {output.path}",
                       err=True)
    else:
        click.echo(text, nl=False)
    return 0 if doc["verdict"] == "reproducible" else 1
