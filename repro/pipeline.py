"""The comparison pipeline the commands share: open two images, diff them, explain the
findings, build the report document, write it (and the attestation, the step summary).

reference -> image -> findings -> explained findings -> report -> file.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Mapping

import click

from repro.errors import InputError, ReproError

def open_images(ref_a: str, ref_b: str, verify_all: bool = False, limits: Any = None, *,
                platform: str | None = None, registry: Any = None) -> contextlib.ExitStack:
    from repro.oci import open_image

    stack = contextlib.ExitStack()
    try:
        a = stack.enter_context(open_image(ref_a, verify_all=verify_all, limits=limits, platform=platform,
                                           registry=registry))
        b = stack.enter_context(open_image(ref_b, verify_all=verify_all, limits=limits, platform=platform,
                                           registry=registry))
    except BaseException:
        stack.close()
        raise
    stack.images = (a, b)  # type: ignore[attr-defined]
    return stack


def compare(a: Any, b: Any, *, platform: str | None, semantic: bool, ignore: tuple[str, ...],
            source_date_epoch: int | None = None, build: Mapping[str, Any] | None = None,
            extra: Mapping[str, Any] | None = None, use_diffoscope: bool = False,
            limits: Any = None, report_dir: str | None = None, progress: Any = None,
            config: Mapping[str, Any] | None = None, trust_equal_digests: bool = False,
            explain_context: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Diff two opened images, explain the findings and build the report document;
    with `report_dir`, also extract the differing files (while the images are open).
    `progress`: a repro.progress.Progress that shows the layers and files being compared;
    `config`: the repro.toml behind the policy (repro.config.Config.report), kept in the policy;
    `explain_context`: what `check` knows about the builds for repro.explain.ExplainContext
    (`build_started`, `builder_versions`, `report_dir`)."""
    from repro.diff import DiffOptions, Policy, content_lookup, diff_images
    from repro.explain import ExplainContext, explain
    from repro.oci.model import Platform
    from repro.report import build_report

    try:
        plat = Platform.parse(platform) if platform else None
    except ReproError as e:
        raise InputError(str(e)) from None
    max_entries = limits.max_entries_per_layer if limits is not None else DiffOptions.max_entries
    hooks: dict[str, Any] = {}
    if progress is not None and progress.enabled:
        hooks = {"on_layer": lambda what: progress.status(f"comparing {what}"),
                 "on_entries": lambda entries, nbytes: progress.count(entries, nbytes)}
    result = diff_images(a, b, DiffOptions(platform=plat, policy=Policy.make(semantic, ignore, dict(config) if config else None),
                                           max_entries=max_entries, verify_unread=not trust_equal_digests,
                                           **hooks))
    lookup = content_lookup(result)
    context = ExplainContext.for_images(
        a, b, **{"source_date_epoch": source_date_epoch, "refs": (a.ref, b.ref), "report_dir": report_dir,
                 "platform_dirs": sum(p.role == "image" for p in result.platforms) > 1, **(explain_context or {})})
    findings = explain(list(result.findings), contents=lookup, context=context)
    if use_diffoscope:
        from repro.explain.diffoscope import drill_down

        findings = drill_down(findings, lookup)
    findings = tuple(findings)
    extra = {**(extra or {}), "verification": {
        "blobs_read": "hashed",
        "blobs_not_read": "trusted by digest" if trust_equal_digests else "hashed"}}
    doc = build_report(result, build=build, findings=findings, extra=extra)
    if report_dir:
        from repro.extract import extract

        extract(result, findings, doc, report_dir)
    return doc, result


def emit(doc: Mapping[str, Any], fmt: str, output: str | None, quiet: bool = False,
         attest: str | None = None) -> int:
    """Render and write the report (and the attestation); return the exit code
    (0 reproducible, 1 not)."""
    from repro.atomic import atomic_write
    from repro.report import render

    if attest:
        from repro.attest import render_statement

        atomic_write(attest, render_statement(doc))

    text = render(doc, fmt)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        # GitHub Actions shows this file on the run's page; append, as every step does.
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(render(doc, "markdown") + "\n")
        except OSError as e:
            raise InputError(f"cannot append to GITHUB_STEP_SUMMARY {summary}: {e.strerror}") from None
    if output:
        atomic_write(output, text)
        if not quiet:
            n = doc["summary"]["findings"]
            click.echo(f"repro: {doc['verdict']}: {n} finding{'s' if n != 1 else ''}; report written to {output}",
                       err=True)
    else:
        click.echo(text, nl=False)
    return 0 if doc["verdict"] == "reproducible" else 1
