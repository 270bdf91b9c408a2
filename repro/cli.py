"""The command line. Turns every ReproError into one line on stderr and exit 2.

Exit codes, as diff(1), diffoscope and diffoci: 0 identical / reproducible,
1 differences found, 2 trouble (bad input, build failure, missing tool).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import traceback
from typing import Any, Callable, Iterator, Mapping

import click

from repro import BUILDKIT_VERSION, __version__
from repro.errors import InputError, ReproError

FORMATS = ("text", "json", "markdown", "html", "junit")


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived: unwind (so daemons, mounts and temp dirs are cleaned up
    on the way) and exit 2. A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` or `except ReproError` on the way (a look-up that must never fail
    a comparison, a corrupt stream blamed on its blob) can swallow it; and not a
    KeyboardInterrupt, which click answers with a stray blank line on stderr."""


_SIGNALS = {signal.SIGTERM: "terminated by signal", signal.SIGINT: "interrupted"}


def _on_signal(signum: int, frame: Any) -> None:
    # a second signal must not cut the clean-up the first one started short (SIGKILL still works)
    for other in _SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Terminated(_SIGNALS.get(signum, f"signal {signum}"))


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
                     help="Hash every layer blob of both images when opening them, also of platforms not "
                          "compared, and download every blob from a registry (by default compared local layers "
                          "are hashed, read or not; registry layers only when read)."),
        click.option("--trust-equal-digests", "trust_equal_digests", is_flag=True,
                     help="Do not hash layer blobs that both images name by the same digest and the comparison "
                          "does not read: identical images compare in constant time, but a corrupted copy of a "
                          "shared blob goes unnoticed."),
        click.option("--report-dir", "report_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
                     help="Extract both sides of every differing file to DIR/a and DIR/b, with report.json."),
        click.option("--diffoscope", "use_diffoscope", is_flag=True,
                     help="Run diffoscope (if installed) on the files that still differ and embed its output."),
        click.option("--attest", "attest", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Write an in-toto Statement (SLSA Verification Summary v1) of the verdict to FILE."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


_LIMIT_FLAGS = (
    ("max_index_depth", "nested indexes below the top-level one"),
    ("max_manifests", "index and manifest documents in one image"),
    ("max_layers", "layers in one manifest"),
    ("max_json_bytes", "bytes of any one index, manifest or config"),
    ("max_entries_per_layer", "tar entries in one layer"),
    ("max_layer_bytes", "bytes of one layer, compressed or uncompressed"),
)
LIMIT_KEYS = tuple(k for k, _ in _LIMIT_FLAGS)


def limit_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--max-* flags: safety limits for untrusted images (docs/security.md)."""
    from repro.oci import Limits

    defaults = Limits()
    for name, what in reversed(_LIMIT_FLAGS):
        f = click.option("--" + name.replace("_", "-"), name, type=click.IntRange(min=1), default=None,
                         metavar="N", help=f"Limit on {what} (default {getattr(defaults, name)}).")(f)
    return f


def make_limits(opts: dict[str, Any]) -> Any:
    """Limits from the --max-* options, removing them from `opts`."""
    from repro.oci import Limits

    given = {k: opts.pop(k) for k in LIMIT_KEYS if k in opts}
    return Limits(**{k: v for k, v in given.items() if v is not None})


def registry_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--plain-http, --insecure: how to reach registries (docs/registries.md)."""
    f = click.option("--insecure", "registry_insecure", is_flag=True,
                     help="Registries: HTTPS without verifying the certificate.")(f)
    return click.option("--plain-http", "plain_http", is_flag=True,
                        help="Registries: plain HTTP instead of HTTPS.")(f)


def make_registry(opts: dict[str, Any]) -> Any:
    """RegistryOptions from --plain-http/--insecure, removing them from `opts`."""
    from repro.oci import RegistryOptions

    return RegistryOptions(plain_http=bool(opts.pop("plain_http", False)),
                           insecure=bool(opts.pop("registry_insecure", False)))


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
            config: Mapping[str, Any] | None = None, trust_equal_digests: bool = False) -> tuple[dict[str, Any], Any]:
    """Diff two opened images, explain the findings and build the report document;
    with `report_dir`, also extract the differing files (while the images are open).
    `progress`: a repro.progress.Progress that shows the layers and files being compared;
    `config`: the repro.toml behind the policy (repro.config.Config.report), kept in the policy."""
    from repro.diff import DiffOptions, Policy, content_lookup, diff_images
    from repro.explain import explain
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
    findings = explain(list(result.findings), contents=lookup, source_date_epoch=source_date_epoch)
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


def _set_quiet(ctx: click.Context, param: Any, value: bool) -> None:
    if value:
        ctx.find_root().meta["repro.quiet"] = True


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """-q/--quiet, on the group and on the commands that do long work (same meaning)."""
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet, is_eager=True,
                        help="No progress display and no informational lines on stderr (errors and warnings "
                             "still show). Progress is only drawn when stderr is a terminal.")(f)


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("repro.quiet"))


def progress_display() -> Any:
    """The progress line for this command: on stderr, only on a terminal and without --quiet."""
    from repro.progress import Progress

    return Progress.for_stderr(quiet=is_quiet())


# ---------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message=f"repro %(version)s (drives BuildKit {BUILDKIT_VERSION})")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@quiet_option
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """repro: is this container image reproducible? Build it twice, compare, explain."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("image_a")
@click.argument("image_b")
@report_options
@limit_options
@registry_options
@quiet_option
def diff(image_a: str, image_b: str, platform: str | None, semantic: bool, ignore: tuple[str, ...], fmt: str,
         output: str | None, verify_all: bool, trust_equal_digests: bool, report_dir: str | None,
         use_diffoscope: bool, attest: str | None, **limit_opts: Any) -> None:
    """Compare two existing images and explain every difference.

    IMAGE_A and IMAGE_B are oci-archive:PATH, oci:DIR, docker-archive:PATH,
    docker://HOST/REPO[:TAG|@DIGEST] or a bare path (detected by its contents).
    Exit 0 identical, 1 different, 2 trouble.
    """
    registry = make_registry(limit_opts)
    limits = make_limits(limit_opts)
    with open_images(image_a, image_b, verify_all, limits, platform=platform, registry=registry) as stack:
        a, b = stack.images  # type: ignore[attr-defined]
        with progress_display() as display:
            doc, _ = compare(a, b, platform=platform, semantic=semantic, ignore=ignore, use_diffoscope=use_diffoscope,
                             limits=limits, report_dir=report_dir, progress=display,
                             trust_equal_digests=trust_equal_digests)
        code = emit(doc, fmt, output, quiet=is_quiet(), attest=attest)
    sys.exit(code)


@cli.command()
@click.argument("image")
@click.option("--files", is_flag=True, help="List every entry of every layer.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@limit_options
@registry_options
def inspect(image: str, files: bool, fmt: str, **limit_opts: Any) -> None:
    """Show an image's index, manifests, config summary and layers (with --files, entries)."""
    from repro.inspect import inspect_image, render_inspect

    from repro.oci import open_image

    registry = make_registry(limit_opts)
    limits = make_limits(limit_opts)
    with open_image(image, limits=limits, registry=registry) as img:
        doc = inspect_image(img, files=files, max_entries=limits.max_entries_per_layer)
    if fmt == "json":
        import json
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(render_inspect(doc), nl=False)


# --- build commands below (buildkit engineer) ---


def _set_config(ctx: click.Context, param: Any, value: Any) -> None:
    if value:
        ctx.meta[f"repro.{param.name}"] = value


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--config FILE / --no-config: the repro.toml that holds a team's defaults (repro/config.py)."""
    f = click.option("--no-config", "no_config", is_flag=True, expose_value=False, callback=_set_config,
                     help="Ignore CONTEXT/repro.toml.")(f)
    return click.option("--config", "config", type=click.Path(dir_okay=False), expose_value=False,
                        callback=_set_config, metavar="FILE",
                        help="Defaults from this TOML file instead of CONTEXT/repro.toml (flags override it; "
                             "its settings and sha256 go into the report's policy).")(f)


# config key -> the command's parameter name
_CONFIG_PARAMS = {"ignore": "ignore", "semantic": "semantic", "platforms": "platforms",
                  "source-date-epoch": "source_date_epoch", "builds": "n", "vary": "vary", "builders": "builders"}


def apply_config(context: str, values: dict[str, Any]) -> tuple[Any, list[str]]:
    """Fill `values` (parameter name -> value) from repro.toml where no flag was given;
    return (the Config, the config keys that flags overrode)."""
    from click.core import ParameterSource

    from repro.config import load_config

    ctx = click.get_current_context()
    cfg = load_config(context, ctx.meta.get("repro.config"), disabled=bool(ctx.meta.get("repro.no_config")))
    overridden = []
    for key, value in cfg.values.items():
        param = _CONFIG_PARAMS[key]
        if param not in values:
            continue  # a key this command does not use (e.g. builds, for `build`)
        if ctx.get_parameter_source(param) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            overridden.append(key)
        elif key == "source-date-epoch":
            values[param] = None if value == "git" else value
        else:
            values[param] = tuple(value) if isinstance(value, list) else value
    return cfg, overridden


def _epoch_source(cfg: Any) -> str:
    """Where SOURCE_DATE_EPOCH came from: the flag, repro.toml, or the context's last git commit."""
    from click.core import ParameterSource

    if click.get_current_context().get_parameter_source("source_date_epoch") == ParameterSource.COMMANDLINE:
        return "--source-date-epoch"
    return "repro.toml" if isinstance(cfg.get("source-date-epoch"), int) else "git"


def build_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by `build` and `check`: the Dockerfile build and its reproducibility settings."""
    opts = [
        click.option("-f", "--file", "dockerfile", type=click.Path(dir_okay=False), default=None,
                     help="Dockerfile (default: CONTEXT/Dockerfile)."),
        click.option("--target", default=None, help="Build this stage."),
        click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH[/VARIANT]",
                     help="Build for this platform (repeatable)."),
        click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Build argument (repeatable)."),
        click.option("--build-context", "build_contexts", multiple=True, metavar="NAME=VALUE",
                     help="Named context: a directory, docker-image://REF or "
                          "oci-layout://PATH[:TAG|@sha256:DIGEST] (a tag is resolved to its digest)."),
        click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=PATH",
                     help="Secret for RUN --mount=type=secret (buildctl's format, repeatable)."),
        click.option("--ssh", "ssh", multiple=True, metavar="default|ID[=SOCKET|KEY]",
                     help="SSH agent or keys for RUN --mount=type=ssh (repeatable)."),
        click.option("--source-date-epoch", "source_date_epoch", default=None, metavar="N",
                     help="SOURCE_DATE_EPOCH (default: the context's last git commit time; the environment "
                          "variable is not read implicitly)."),
        click.option("--progress", type=click.Choice(("auto", "plain", "tty", "quiet")), default="auto",
                     show_default=True, help="BuildKit progress on stderr."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


_BUILD_KEYS = ("dockerfile", "target", "platforms", "build_args", "build_contexts", "secrets", "ssh",
               "source_date_epoch")


def _build_spec(context: str, opts: Mapping[str, Any]) -> Any:
    """A BuildSpec from the build options; InputError for any other option that was set
    (a report option `check` does not handle yet must not be ignored silently)."""
    from repro.buildkit import BuildSpec, resolve_source_date_epoch

    unknown = [k for k, v in opts.items() if k not in _BUILD_KEYS and v not in (None, False, ())]
    if unknown:
        raise InputError(f"option --{unknown[0].replace('_', '-')} is not supported by this command yet")
    dockerfile, target, platforms, build_args, build_contexts, secrets, ssh, source_date_epoch = (
        opts.get(k) for k in _BUILD_KEYS)
    if not os.path.isdir(context):
        raise InputError(f"build context {context} is not a directory")
    return BuildSpec(context=context, dockerfile=dockerfile, target=target, platforms=tuple(platforms or ()),
                     build_args=tuple(build_args or ()), build_contexts=tuple(build_contexts or ()),
                     secrets=tuple(secrets or ()), ssh=tuple(ssh or ()),
                     source_date_epoch=resolve_source_date_epoch(context, source_date_epoch))


def _report_options_for_check(f: Callable[..., Any]) -> Callable[..., Any]:
    """The report options of `diff`, minus its --platform: in `check`, --platform is the
    build's (and every built platform is compared)."""
    probe = report_options(lambda: None)
    params = [p for p in getattr(probe, "__click_params__", []) if p.name != "platform"]
    f.__dict__.setdefault("__click_params__", []).extend(params)
    return f


@cli.command()
@click.argument("context", default=".", type=click.Path(file_okay=False))
@click.option("-o", "--output", "output", default=None, type=click.Path(dir_okay=False), metavar="OUT.tar",
              help="Write the image here as an OCI tarball (atomically); required unless --push.")
@click.option("--push", "push", default=None, metavar="REF",
              help="Also push the image to HOST/REPO[:TAG] (or docker://...) with BuildKit's image exporter.")
@build_options
@click.option("--addr", default=None, metavar="ADDR",
              help="Use this buildkitd (unix://, tcp://, docker-container://, kube-pod://); default: "
                   "$BUILDKIT_HOST, else a fresh ephemeral daemon.")
@click.option("--builder", "builder", default="buildctl", show_default=True, metavar="buildctl|buildx[:NAME]",
              help="Build with buildctl, or with `docker buildx build` on the current or the named buildx builder "
                   "(drivers docker-container, kubernetes, remote).")
@registry_options
@config_options
@quiet_option
def build(context: str, output: str | None, push: str | None, addr: str | None, builder: str, progress: str,
          **opts: Any) -> None:
    """Build CONTEXT once with BuildKit under reproducibility settings into an OCI tarball
    and/or push it to a registry.

    --no-cache, SOURCE_DATE_EPOCH as a build arg, rewrite-timestamp, OCI media types,
    forced gzip, no attestations. Prints the image digest on stdout.
    """
    from repro.buildkit import build as run_build

    registry = make_registry(opts)
    if output is None and push is None:
        raise InputError("give -o OUT.tar, --push REF, or both")
    target = _push_target(push, registry) if push else None
    wanted = {"platforms": opts.get("platforms"), "source_date_epoch": opts.get("source_date_epoch")}
    apply_config(context, wanted)
    opts.update(wanted)
    spec = _build_spec(context, opts)
    if is_quiet() and progress == "auto":
        progress = "quiet"
    if builder != "buildctl":
        result = _build_with_buildx(spec, output, builder, addr, push, progress)
    else:
        result = run_build(spec, output, addr=addr, progress=progress, push=target)
    where = " and ".join(x for x in (result.path, result.pushed) if x)
    if not is_quiet():
            click.echo(f"repro: built {where} with {result.daemon} in {result.duration:.1f}s "
                   f"(SOURCE_DATE_EPOCH={result.source_date_epoch})", err=True)
    click.echo(result.image_digest)


def _build_with_buildx(spec: Any, output: str | None, builder: str, addr: str | None, push: str | None,
                       progress: str) -> Any:
    """`repro build --builder buildx[:NAME]`: one build with docker buildx."""
    from repro.buildkit import buildx

    name = buildx.parse_builder(builder)
    if addr or push or output is None:
        raise InputError(f"--builder {builder} writes an OCI tarball with -o; --addr and --push are for buildctl")
    bx = buildx.find_buildx()
    target = buildx.resolve_builder(bx, name or "")
    _warn_version(target.buildkit_version, target.describe())
    return buildx.build_buildx(spec, output, target, bx=bx, progress=progress)


def _warn_version(version: str, who: str) -> None:
    from repro import BUILDKIT_VERSION

    if version and version != BUILDKIT_VERSION:
        click.echo(f"repro: warning: {who} runs BuildKit {version}, not {BUILDKIT_VERSION}: layer digests may "
                   f"differ from builds on {BUILDKIT_VERSION} (cause builder-version; docs/faq.md#pin-buildkit)",
                   err=True)


def _push_target(ref: str, registry: Any) -> Any:
    """A --push reference as buildctl's image exporter names it: HOST/REPO:TAG."""
    from repro.buildkit import Push
    from repro.oci import parse_reference

    text = ref if ref.startswith("docker://") else "docker://" + ref
    parsed = parse_reference(text)
    if parsed.digest:
        raise InputError(f"--push {ref}: push to a tag, not a digest (the digest is what the build makes)")
    return Push(f"{parsed.registry}/{parsed.repository}:{parsed.tag}",
                insecure=registry.plain_http or registry.insecure)


@cli.command()
@click.argument("context", default=".", type=click.Path(file_okay=False))
@build_options
@click.option("--builds", "n", type=int, default=2, show_default=True,
              help="How many independent builds (with --against, at least 1).")
@click.option("--addr", "addrs", multiple=True, metavar="ADDR",
              help="Build on these daemons, one build each (repeatable); default: a fresh ephemeral daemon "
                   "per build ($BUILDKIT_HOST is not used: one daemon's cache would merge the builds).")
@click.option("--builder", "builders", multiple=True, metavar="buildctl|buildx[:NAME]",
              help="Build i runs on the i-th builder, round robin (repeatable; default buildctl): buildctl, or "
                   "`docker buildx build` on the current or the named buildx builder. Builds sharing a buildx "
                   "builder run one after the other.")
@click.option("--vary", is_flag=True,
              help="Perturb the second and later builds: context at another path, file mtimes on both sides "
                   "of SOURCE_DATE_EPOCH, a pause before the build.")
@click.option("--against", default=None, metavar="IMAGE",
              help="Also compare every build with this existing image (e.g. a published release, "
                   "docker://HOST/REPO:TAG).")
@click.option("--keep", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Keep the built OCI tarballs in DIR (build-1.tar, ...).")
@_report_options_for_check
@limit_options
@registry_options
@config_options
@quiet_option
def check(context: str, n: int, addrs: tuple[str, ...], builders: tuple[str, ...], vary: bool, against: str | None,
          keep: str | None, progress: str, semantic: bool, ignore: tuple[str, ...], fmt: str, output: str | None,
          verify_all: bool, use_diffoscope: bool = False, attest: str | None = None, report_dir: str | None = None,
          trust_equal_digests: bool = False, **opts: Any) -> None:
    """Build CONTEXT N times independently and report whether the images are identical.

    With --against IMAGE, every build is also compared with IMAGE: the report says which
    pair differs. Exit 0 reproducible, 1 differences found (explained in the report), 2 trouble.
    """
    import tempfile

    from repro.buildkit import build_many, find_buildkit
    from repro.progress import BuildSink

    wanted = {"ignore": ignore, "semantic": semantic, "n": n, "vary": vary, "builders": builders,
              "platforms": opts.get("platforms"), "source_date_epoch": opts.get("source_date_epoch")}
    cfg, overridden = apply_config(context, wanted)
    ignore, semantic, n, vary, builders = (wanted[k] for k in ("ignore", "semantic", "n", "vary", "builders"))
    opts.update(platforms=wanted["platforms"], source_date_epoch=wanted["source_date_epoch"])
    if n < (1 if against else 2):
        raise InputError(f"--builds {n}: need at least {'1' if against else '2'} builds to compare")
    registry = make_registry(opts)
    limits = make_limits(opts)
    spec = _build_spec(context, opts)
    tools = find_buildkit() if not builders or "buildctl" in builders else None
    quiet = is_quiet()
    if quiet and progress == "auto":
        progress = "quiet"
    with contextlib.ExitStack() as stack:
        display = stack.enter_context(progress_display())
        # on a terminal, parallel builds show one status line instead of interleaved logs
        sink = BuildSink(display, n) if display.enabled and progress == "auto" and n > 1 else None
        if keep:
            os.makedirs(keep, exist_ok=True)
            out_dir = keep
        else:
            out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-check-"))
        results = build_many(spec, n, out_dir, addrs=addrs, vary=vary, progress=progress, tools=tools,
                             builders=builders, stderr=sink,
                             on_done=(lambda i, r: sink.build_done(f"build {i + 1}")) if sink else None)
        display.clear()
        for r in {r.builder: r for r in results}.values():
            _warn_version(r.buildkit_version, r.daemon)
        build_doc = _build_document(results, vary)
        build_doc["source_date_epoch_from"] = _epoch_source(cfg)
        # every build against IMAGE, then the builds with each other
        pairs = [(against, r.path) for r in results] if against else []
        pairs += [(results[0].path, r.path) for r in results[1:]]
        platform = _built_platform(results[0].path, limits) if against else None
        docs = []
        extracted = False
        for ref_a, ref_b in pairs:
            with open_images(ref_a, ref_b, verify_all, limits, platform=platform if ref_a == against else None,
                             registry=registry) as images:
                doc, result = compare(*images.images, platform=platform if ref_a == against else None,  # type: ignore[attr-defined]
                                      semantic=semantic, ignore=ignore,
                                      source_date_epoch=spec.source_date_epoch, build=build_doc,
                                      use_diffoscope=use_diffoscope, limits=limits, progress=display,
                                      config=cfg.report(overridden), trust_equal_digests=trust_equal_digests)
                # --report-dir gets the first comparison that differs (else the last one)
                if report_dir and not extracted and (doc["verdict"] != "reproducible" or (ref_a, ref_b) == pairs[-1]):
                    from repro.extract import extract

                    extract(result, result.findings, doc, report_dir)
                    extracted = True
            if not keep:  # the tarballs go away with the temp dir: name the builds instead
                names = {r.path: f"build-{i + 1}" for i, r in enumerate(results)}
                for inp in doc["inputs"]:
                    inp["ref"] = names.get(inp["ref"], inp["ref"])
            docs.append(doc)
        # one report: the first comparison that differs (else the first); with more than one
        # comparison, every comparison's verdict is listed under "comparisons"
        chosen = next((d for d in docs if d["verdict"] != "reproducible"), docs[0])
        display.clear()
        if len(docs) > 1 or against:
            chosen["comparisons"] = [_comparison(d, d is chosen, against) for d in docs]
            for c in chosen["comparisons"] if not quiet else ():
                n_found = c["findings"]
                click.echo(f"repro: {c['pair']}: {c['verdict']} ({n_found} finding{'s' if n_found != 1 else ''})"
                           f"{'; the report shows this comparison' if c['reported'] and len(docs) > 1 else ''}",
                           err=True)
        code = emit(chosen, fmt, output, quiet=quiet, attest=attest)
    sys.exit(code)


def _comparison(doc: Mapping[str, Any], reported: bool, against: str | None) -> dict[str, Any]:
    """One entry of the report's `comparisons` (docs/report-format.md)."""
    a, b = doc["inputs"][0], doc["inputs"][1]
    return {"a": a["ref"], "b": b["ref"], "verdict": doc["verdict"], "findings": doc["summary"]["findings"],
            "pair": f"{a['ref']} vs {b['ref']}", "role_a": "against" if a["ref"] == against else "build",
            "role_b": "build", "digest_a": a.get("digest"), "digest_b": b.get("digest"), "reported": reported}


def _built_platform(path: str, limits: Any) -> str | None:
    """The platform of a single-platform build: a published multi-platform image is
    compared for that platform only (the others were not rebuilt, so they say nothing)."""
    from repro.oci import open_image

    with open_image(path, limits=limits) as image:
        found = {str(mi.platform) for mi in image.manifests if not mi.is_attestation and mi.platform is not None}
    return found.pop() if len(found) == 1 else None


def _build_document(results: list[Any], vary: bool) -> dict[str, Any]:
    """The report's `build` object: the settings every build shared, and each build."""
    first = results[0]
    versions = sorted({r.buildkit_version for r in results})
    doc: dict[str, Any] = {
        "buildkit_version": versions[0] if len(versions) == 1 else versions,
        "source_date_epoch": first.source_date_epoch,
        "exporter": dict(first.exporter),
        "base_digests": dict(first.base_digests),
        "vary": results[-1].vary.describe() if vary and results[-1].vary is not None else None,
        "builds": [{"digest": r.image_digest, "builder": r.builder, "driver": r.driver, "daemon": r.daemon,
                    "snapshotter": r.snapshotter,
                    "duration": round(r.duration, 3), "varied": r.vary is not None} for r in results],
    }
    return doc


@cli.command()
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def doctor(fmt: str) -> None:
    """Check that this machine can run repro's builds (BuildKit, runc, rootlesskit, namespaces).

    Exit 0 when every check passes, 2 otherwise.
    """
    from repro.buildkit import doctor as run_doctor

    checks = run_doctor()
    if fmt == "json":
        import json
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
            if c.fix and not c.ok:
                click.echo(f"      {'':<{width}}  fix: {c.fix}")
    sys.exit(0 if all(c.ok for c in checks) else 2)


@cli.command()
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (click's).

    \b
    bash:  eval "$(repro completion bash)"         (e.g. in ~/.bashrc)
    zsh:   eval "$(repro completion zsh)"          (e.g. in ~/.zshrc)
    fish:  repro completion fish > ~/.config/fish/completions/repro.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the Choice above only offers shells click knows
    click.echo(cls(cli, {}, "repro", "_REPRO_COMPLETE").source())


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for any trouble; traceback only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    old = {signum: signal.signal(signum, _on_signal) for signum in _SIGNALS}
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
    except Terminated as e:
        click.echo(f"repro: error: {e}", err=True)
        sys.exit(2)
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
        for signum, handler in old.items():
            signal.signal(signum, handler)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _one_line(msg: str) -> str:
    """At most three lines of `msg` joined with " / ", control characters escaped: names
    in messages come from images, and an escape sequence must not reach the terminal."""
    lines = [l for l in msg.strip().splitlines() if l.strip()]
    text = " / ".join(lines[:3]) if lines else "unknown error"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
