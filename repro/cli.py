"""The command line. Turns every ReproError into one line on stderr and exit 2.

Exit codes, as diff(1), diffoscope and diffoci: 0 identical / reproducible,
1 differences found, 2 trouble (bad input, build failure, missing tool).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from typing import Any, Callable, Iterator, Mapping

import click

from repro import BUILDKIT_VERSION, __version__
from repro.errors import InputError, ReproError

FORMATS = ("text", "json", "markdown", "html")


class Terminated(ReproError):
    """SIGTERM arrived: unwind (so daemons and temp dirs are cleaned up) and exit 2."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated("terminated by signal")


# ---------------------------------------------------------------------------------------
# Shared pieces for commands that compare and report (diff, check)


def report_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--platform, --semantic, --ignore, --format, -o, --verify-all: shared by diff and check."""
    opts = [
        click.option("--platform", "platform", metavar="OS/ARCH[/VARIANT]",
                     help="Compare only this platform of a multi-platform image."),
        click.option("--semantic", is_flag=True,
                     help="Ignore the documented semantic preset (timestamps, history, file order, tar "
                          "format, image-name annotations); what was ignored is listed in the report."),
        click.option("--ignore", "ignore", multiple=True, metavar="GLOB",
                     help="Do not count differences in paths matching GLOB (repeatable); listed in the report."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="Report format."),
        click.option("-o", "--output", "output", type=click.Path(dir_okay=False), default=None,
                     help="Write the report to FILE (atomically) instead of stdout."),
        click.option("--verify-all", is_flag=True,
                     help="Also hash layer blobs that the comparison does not need to read."),
        click.option("--diffoscope", "use_diffoscope", is_flag=True,
                     help="Run diffoscope (if installed) on the files that still differ and embed its output."),
        click.option("--attest", "attest", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Write an in-toto Statement (SLSA Verification Summary v1) of the verdict to FILE."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def open_images(ref_a: str, ref_b: str, verify_all: bool = False) -> contextlib.ExitStack:
    from repro.oci import open_image

    stack = contextlib.ExitStack()
    try:
        a = stack.enter_context(open_image(ref_a, verify_all=verify_all))
        b = stack.enter_context(open_image(ref_b, verify_all=verify_all))
    except BaseException:
        stack.close()
        raise
    stack.images = (a, b)  # type: ignore[attr-defined]
    return stack


def compare(a: Any, b: Any, *, platform: str | None, semantic: bool, ignore: tuple[str, ...],
            source_date_epoch: int | None = None, build: Mapping[str, Any] | None = None,
            extra: Mapping[str, Any] | None = None, use_diffoscope: bool = False) -> tuple[dict[str, Any], Any]:
    """Diff two opened images, explain the findings and build the report document."""
    from repro.diff import DiffOptions, Policy, content_lookup, diff_images
    from repro.explain import explain
    from repro.oci.model import Platform
    from repro.report import build_report

    try:
        plat = Platform.parse(platform) if platform else None
    except ReproError as e:
        raise InputError(str(e)) from None
    result = diff_images(a, b, DiffOptions(platform=plat, policy=Policy.make(semantic, ignore)))
    lookup = content_lookup(result)
    findings = explain(list(result.findings), contents=lookup, source_date_epoch=source_date_epoch)
    if use_diffoscope:
        from repro.explain.diffoscope import drill_down

        findings = drill_down(findings, lookup)
    findings = tuple(findings)
    return build_report(result, build=build, findings=findings, extra=extra), result


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
    if output:
        atomic_write(output, text)
        if not quiet:
            n = doc["summary"]["findings"]
            click.echo(f"repro: {doc['verdict']}: {n} finding{'s' if n != 1 else ''}; report written to {output}",
                       err=True)
    else:
        click.echo(text, nl=False)
    return 0 if doc["verdict"] == "reproducible" else 1


# ---------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message=f"repro %(version)s (drives BuildKit {BUILDKIT_VERSION})")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """repro: is this container image reproducible? Build it twice, compare, explain."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("image_a")
@click.argument("image_b")
@report_options
def diff(image_a: str, image_b: str, platform: str | None, semantic: bool, ignore: tuple[str, ...], fmt: str,
         output: str | None, verify_all: bool, use_diffoscope: bool, attest: str | None) -> None:
    """Compare two existing images and explain every difference.

    IMAGE_A and IMAGE_B are oci-archive:PATH, oci:DIR, docker-archive:PATH or a bare
    path (detected by its contents). Exit 0 identical, 1 different, 2 trouble.
    """
    with open_images(image_a, image_b, verify_all) as stack:
        a, b = stack.images  # type: ignore[attr-defined]
        doc, _ = compare(a, b, platform=platform, semantic=semantic, ignore=ignore, use_diffoscope=use_diffoscope)
        code = emit(doc, fmt, output, attest=attest)
    sys.exit(code)


@cli.command()
@click.argument("image")
@click.option("--files", is_flag=True, help="List every entry of every layer.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def inspect(image: str, files: bool, fmt: str) -> None:
    """Show an image's index, manifests, config summary and layers (with --files, entries)."""
    from repro.inspect import inspect_image, render_inspect

    from repro.oci import open_image

    with open_image(image) as img:
        doc = inspect_image(img, files=files)
    if fmt == "json":
        import json
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(render_inspect(doc), nl=False)


# --- build commands below (buildkit engineer) ---


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for any trouble; traceback only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        rv = cli.main(args=args, prog_name="repro", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except click.Abort:
        click.echo("repro: error: interrupted", err=True)
        sys.exit(2)
    except ReproError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"repro: error: {_one_line(str(e))}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("repro: error: interrupted", err=True)
        sys.exit(2)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as e:  # a bug: still one line, and exit 2 (never 1, which means "differs")
        if debug:
            traceback.print_exc()
        click.echo(f"repro: internal error: {type(e).__name__}: {_one_line(str(e))} (rerun with --debug)", err=True)
        sys.exit(2)
    finally:
        signal.signal(signal.SIGTERM, old)


def _one_line(msg: str) -> str:
    lines = [l for l in msg.strip().splitlines() if l.strip()]
    return " / ".join(lines[:3]) if lines else "unknown error"
