"""The click commands. Each one parses its options into the records the library takes,
calls repro.pipeline (diff, check) or repro.buildkit (build, doctor), and prints.

Exit codes, as diff(1), diffoscope and diffoci: 0 identical / reproducible,
1 differences found, 2 trouble (bad input, build failure, missing tool).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, Mapping

import click

from repro import BUILDKIT_VERSION, __version__
from repro.cli.options import (Choice, apply_config, build_options, build_spec, compare_options, config_options,
                               epoch_source, is_quiet, limit_options, make_limits, make_registry, make_tls,
                               output_options, progress_display, quiet_option, registry_options, report_options,
                               report_options_for_check, tls_options)
from repro.cli.output import OutputOptions, emit
from repro.errors import InputError

if TYPE_CHECKING:
    from repro.pipeline import CheckOptions, CompareOptions


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
def diff(image_a: str, image_b: str, semantic: bool, ignore: tuple[str, ...], **opts: Any) -> None:
    """Compare two existing images and explain every difference.

    IMAGE_A and IMAGE_B are oci-archive:PATH, oci:DIR, docker-archive:PATH,
    docker://HOST/REPO[:TAG|@DIGEST] or a bare path (detected by its contents).
    Exit 0 identical, 1 different, 2 trouble.
    """
    from repro import pipeline

    options = compare_options(opts, semantic=semantic, ignore=ignore)
    output = output_options(opts)
    with progress_display() as display:
        doc = pipeline.diff(image_a, image_b, options, progress=display)
    sys.exit(emit(doc, output))


@cli.command()
@click.argument("image")
@click.option("--files", is_flag=True, help="List every entry of every layer.")
@click.option("--format", "fmt", type=Choice(("text", "json")), default="text", show_default=True)
@limit_options
@registry_options
def inspect(image: str, files: bool, fmt: str, **limit_opts: Any) -> None:
    """Show an image's index, manifests, config summary and layers (with --files, entries)."""
    from repro.cli.inspect import render_inspect
    from repro.diff.finding import jsonable
    from repro.oci import open_image
    from repro.oci.describe import describe_image

    registry = make_registry(limit_opts)
    limits = make_limits(limit_opts)
    with open_image(image, limits=limits, registry=registry) as img:
        # the text listing shows no digests: its files are not hashed (layers are verified all the same)
        doc = jsonable(describe_image(img, files=files, max_entries=limits.max_entries_per_layer,
                                      digests=fmt == "json"))
    if fmt == "json":
        import json
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        click.echo(render_inspect(doc), nl=False)


# --- build, check, doctor, completion ---


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
@tls_options
@click.option("--builder", "builder", default="buildctl", show_default=True, metavar="buildctl|buildx[:NAME]",
              help="Build with buildctl, or with `docker buildx build` on the current or the named buildx builder "
                   "(drivers docker-container, kubernetes, remote).")
@registry_options
@config_options(report=False)
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
    tls = make_tls(opts)
    if output is None and push is None:
        raise InputError("give -o OUT.tar, --push REF, or both")
    target = _push_target(push, registry) if push else None
    wanted = {"platforms": opts.get("platforms"), "source_date_epoch": opts.get("source_date_epoch")}
    apply_config(context, wanted)
    opts.update(wanted)
    spec = build_spec(context, opts)
    if is_quiet() and progress == "auto":
        progress = "quiet"
    if builder != "buildctl":
        result = _build_with_buildx(spec, output, builder, addr, push, progress)
    else:
        result = run_build(spec, output, addr=addr, progress=progress, push=target, tls=tls)
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
    from repro.buildkit import run_build

    bx = buildx.find_buildx()
    target = buildx.resolve_builder(bx, name or "")
    _warn_version(target.buildkit_version, target.describe())
    return run_build(buildx.BuildxBackend(bx, target), spec, output, progress=progress)


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
@click.argument("args", nargs=-1, metavar="[CONTEXT | --bake [FILE] [TARGET]...]")
@build_options
@click.option("--builds", "n", type=int, default=2, show_default=True,
              help="How many independent builds (with --against, at least 1).")
@click.option("--addr", "addrs", multiple=True, metavar="ADDR",
              help="Build on these daemons, one build each (repeatable); default: a fresh ephemeral daemon "
                   "per build ($BUILDKIT_HOST is not used: one daemon's cache would merge the builds).")
@tls_options
@click.option("--builder", "builders", multiple=True, metavar="buildctl|buildx[:NAME]",
              help="Build i runs on the i-th builder, round robin (repeatable; default buildctl): buildctl, or "
                   "`docker buildx build` on the current or the named buildx builder. Builds sharing a buildx "
                   "builder run one after the other.")
@click.option("--vary", "vary", default=None, is_flag=False, flag_value="default", metavar="LIST",
              help="What the builds after the first vary (docs/variations.md). Default: the realistic set (clock, "
                   "CPU count, kernel, memory, checkout path and mtimes). `all` adds what BuildKit itself fixes "
                   "(time zone, locale, umask, host name, environment, PATH); or a list as reprotest reads it: "
                   "`time,umask`, `-time`, `all,-umask`.")
@click.option("--no-vary", "no_vary", is_flag=True,
              help="Do not vary the builds: they start together and see the same machine.")
@click.option("--bisect", "bisect", is_flag=True,
              help="When the builds differ, build again with one variation at a time and name the variation "
                   "that provokes each finding (or none: it differs anyway). Costs 2 + one build per variation.")
@click.option("--against", default=None, metavar="IMAGE",
              help="Also compare every build with this existing image (e.g. a published release, "
                   "docker://HOST/REPO:TAG).")
@click.option("--bake", "bake", is_flag=True,
              help="Check every target of a bake file (HCL, JSON or compose; the arguments are [FILE] [TARGET]..., "
                   "default: the default group of ./docker-bake.hcl and the other files buildx reads), read "
                   "through `docker buildx bake --print`: one report, each target's findings under its name, "
                   "one exit code.")
@click.option("--keep", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Keep the built OCI tarballs in DIR (build-1.tar, ...).")
@report_options_for_check
@limit_options
@registry_options
@config_options
@quiet_option
def check(args: tuple[str, ...], **opts: Any) -> None:
    """Build CONTEXT N times independently and report whether the images are identical.

    With --against IMAGE, every build is also compared with IMAGE: the report says which
    pair differs. A difference in a `COPY --from=STAGE` layer is followed into STAGE (built
    with --target on the same daemons) to the instruction that made it. With --bake, every
    target of a bake file is checked. Exit 0 reproducible, 1 differences found (explained
    in the report), 2 trouble.
    """
    import tempfile

    from repro import pipeline
    from repro.cli.progress import BuildSink

    bake = opts.pop("bake")
    if bake:
        context = "."
    elif len(args) > 1:
        raise InputError(f"check takes one CONTEXT, not {len(args)} (--bake takes [FILE] [TARGET]...)")
    else:
        context = args[0] if args else "."
    builds, options, output = _check_options(context, opts)
    with contextlib.ExitStack() as stack:
        if bake:
            inline = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-bake-"))
            targets = _bake_specs(args, opts, inline)
        else:
            spec = build_spec(context, opts)
        display = stack.enter_context(progress_display())
        # on a terminal, parallel builds show one status line instead of interleaved logs
        parallel = display.enabled and builds.progress == "auto" and builds.builds > 1
        build_log = (lambda: BuildSink(display, builds.builds)) if parallel else None
        listener = _Listener(output.quiet)
        if bake:
            doc = pipeline.check_bake(targets, builds, options, progress=display, build_log=build_log, listener=listener)
            for target in doc["targets"] if not output.quiet else ():
                click.echo(f"repro: target {target['name']}: {target['verdict']} ({target['findings']} "
                           f"finding{'s' if target['findings'] != 1 else ''})", err=True)
        else:
            doc = pipeline.check(spec, builds, options, progress=display, build_log=build_log, listener=listener)
        code = emit(doc, output)
    sys.exit(code)


class _Listener:
    """What `check` says on the way, on stderr (pipeline.Listener)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def warning(self, text: str) -> None:
        click.echo(f"repro: warning: {text}", err=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            click.echo(f"repro: {text}", err=True)

    def checked(self, report: Mapping[str, Any]) -> None:
        comparisons = report["comparisons"]
        for c in comparisons if not self.quiet else ():
            n = c["findings"]
            click.echo(f"repro: {c['pair']}: {c['verdict']} ({n} finding{'s' if n != 1 else ''})"
                       f"{'; the report shows this comparison' if c['reported'] and len(comparisons) > 1 else ''}",
                       err=True)


def _check_options(context: str, opts: dict[str, Any]) -> tuple[CheckOptions, CompareOptions, OutputOptions]:
    """check's options, repro.toml applied (the build options stay in `opts`)."""
    from repro.pipeline import CheckOptions

    from repro.buildkit.variations import select

    wanted = {k: opts.pop(k) for k in ("ignore", "semantic", "n", "vary", "bisect", "builders")}
    no_vary = opts.pop("no_vary")
    if no_vary and wanted["vary"] is not None:
        raise InputError("--vary and --no-vary contradict each other: give one")
    if no_vary:  # a flag of its own: repro.toml's vary must not win over it
        del wanted["vary"]
    wanted.update(platforms=opts.get("platforms"), source_date_epoch=opts.get("source_date_epoch"))
    cfg, overridden = apply_config(context, wanted)
    if no_vary:
        wanted["vary"] = False
        overridden = sorted({*overridden, *(["vary"] if cfg.get("vary") is not None else [])})
    vary = select(wanted["vary"])  # None (no flag, no repro.toml): the realistic default
    opts.update(platforms=wanted["platforms"], source_date_epoch=wanted["source_date_epoch"])
    n, against = wanted["n"], opts.pop("against")
    if n < (1 if against else 2):
        raise InputError(f"--builds {n}: need at least {'1' if against else '2'} builds to compare")
    options = compare_options(opts, semantic=wanted["semantic"], ignore=wanted["ignore"], config=cfg.report(overridden))
    tls = make_tls(opts)
    output = output_options(opts)
    progress = opts.pop("progress")
    builds = CheckOptions(builds=n, addrs=opts.pop("addrs"), tls=tls, builders=wanted["builders"], vary=vary,
                          bisect=bool(wanted["bisect"]), against=against, keep=opts.pop("keep"),
                          progress="quiet" if output.quiet and progress == "auto" else progress,
                          epoch_source=epoch_source(cfg))
    return builds, options, output


def _bake_specs(args: tuple[str, ...], opts: dict[str, Any], inline_dir: str) -> list[Any]:
    """The bake targets for `check --bake [FILE] [TARGET]...`, each with the command line's
    build options added (and its SOURCE_DATE_EPOCH: the flag, else the target's
    SOURCE_DATE_EPOCH arg, else the git commit time of its context)."""
    from dataclasses import replace

    from repro.buildkit import resolve_source_date_epoch
    from repro.buildkit.bake import read_bake

    files = tuple(a for a in args[:1] if os.path.isfile(a) or a.endswith((".hcl", ".json", ".yml", ".yaml")))
    targets = tuple(args[len(files):])
    found = read_bake(files, targets, inline_dir=inline_dir)
    flags = {k: v for k, v in opts.items() if v not in (None, (), False)}
    if flags.get("dockerfile") or flags.get("target"):
        raise InputError("with --bake, each target names its Dockerfile and stage: -f and --target do not apply")
    out = []
    for t in found:
        spec = t.spec
        explicit = flags.get("source_date_epoch")
        if explicit is not None and spec.source_date_epoch is not None and int(explicit) != spec.source_date_epoch:
            raise InputError(f"bake target {t.name} sets SOURCE_DATE_EPOCH={spec.source_date_epoch}, "
                             f"--source-date-epoch says {explicit}")
        epoch = spec.source_date_epoch if explicit is None and spec.source_date_epoch is not None else \
            resolve_source_date_epoch(spec.context, explicit)
        platforms = tuple(p.strip() for v in flags.get("platforms", ()) for p in v.split(",") if p.strip())
        spec = replace(spec, source_date_epoch=epoch, platforms=platforms or spec.platforms,
                       build_args=spec.build_args + tuple(flags.get("build_args", ())),
                       build_contexts=spec.build_contexts + tuple(flags.get("build_contexts", ())),
                       secrets=spec.secrets + tuple(flags.get("secrets", ())), ssh=spec.ssh + tuple(flags.get("ssh", ())))
        out.append(replace(t, spec=spec))
    return out


@cli.command()
@click.option("--format", "fmt", type=Choice(("text", "json")), default="text", show_default=True)
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


@cli.command("install-buildkit")
@quiet_option
def install_buildkit() -> None:
    """Build the pinned BuildKit (buildctl + buildkitd) from the Go module proxy into
    repro's tools dir ($REPRO_TOOLS_DIR, else ~/.cache/repro/tools); nothing to do when it
    is already there. Needs Go. Prints the binaries' directory on stdout.

    The daemons also need Debian's runc (and, when not root, rootlesskit and uidmap):
    `repro doctor` checks everything.
    """
    from repro.buildkit.install import install_buildkit as run_install, missing_packages

    say = (lambda s: None) if is_quiet() else (lambda s: click.echo(f"repro: {s}", err=True))
    where = run_install(log=say)
    missing = missing_packages()
    if missing:
        click.echo(f"repro: warning: the daemons also need Debian's {', '.join(missing)}: "
                   f"apt-get install {' '.join(missing)}", err=True)
    click.echo(where)


@cli.command()
@click.argument("shell", type=Choice(("bash", "zsh", "fish")), metavar="SHELL")
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
