"""The command line: the click commands and `main()`, which turns every ReproError into
one line on stderr and exit 2.

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
from typing import Any, Mapping

import click

from repro import BUILDKIT_VERSION, __version__
from repro.cli_options import (Choice, apply_config, build_options, build_spec, config_options, epoch_source,
                               is_quiet, limit_options, make_limits, make_registry, progress_display,
                               quiet_option, registry_options, report_options, report_options_for_check,
                               make_tls, tls_options)
from repro.errors import InputError, ReproError
from repro.pipeline import compare, emit, open_images


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


# Options shared by several commands live in repro/cli_options.py; the comparison
# pipeline that diff and check share (open, diff, explain, report, write) in repro/pipeline.py.


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
@click.option("--format", "fmt", type=Choice(("text", "json")), default="text", show_default=True)
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
@click.option("--vary", is_flag=True,
              help="Perturb the second and later builds: context at another path, file mtimes on both sides "
                   "of SOURCE_DATE_EPOCH, a pause before the build.")
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
def check(args: tuple[str, ...], n: int, addrs: tuple[str, ...], builders: tuple[str, ...], vary: bool,
          against: str | None, bake: bool, keep: str | None, progress: str, semantic: bool, ignore: tuple[str, ...],
          fmt: str, output: str | None, verify_all: bool, use_diffoscope: bool = False, attest: str | None = None,
          report_dir: str | None = None, trust_equal_digests: bool = False, **opts: Any) -> None:
    """Build CONTEXT N times independently and report whether the images are identical.

    With --against IMAGE, every build is also compared with IMAGE: the report says which
    pair differs. A difference in a `COPY --from=STAGE` layer is followed into STAGE (built
    with --target on the same daemons) to the instruction that made it. With --bake, every
    target of a bake file is checked. Exit 0 reproducible, 1 differences found (explained
    in the report), 2 trouble.
    """
    import tempfile

    from repro.buildkit import find_buildkit

    bake_targets: list[Any] = []
    if bake:
        context = "."
    elif len(args) > 1:
        raise InputError(f"check takes one CONTEXT, not {len(args)} (--bake takes [FILE] [TARGET]...)")
    else:
        context = args[0] if args else "."
    wanted = {"ignore": ignore, "semantic": semantic, "n": n, "vary": vary, "builders": builders,
              "platforms": opts.get("platforms"), "source_date_epoch": opts.get("source_date_epoch")}
    cfg, overridden = apply_config(context, wanted)
    ignore, semantic, n, vary, builders = (wanted[k] for k in ("ignore", "semantic", "n", "vary", "builders"))
    opts.update(platforms=wanted["platforms"], source_date_epoch=wanted["source_date_epoch"])
    if n < (1 if against else 2):
        raise InputError(f"--builds {n}: need at least {'1' if against else '2'} builds to compare")
    registry = make_registry(opts)
    limits = make_limits(opts)
    tls = make_tls(opts)
    quiet = is_quiet()
    if quiet and progress == "auto":
        progress = "quiet"
    with contextlib.ExitStack() as stack:
        if bake:
            inline = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-bake-"))
            bake_targets = _bake_specs(args, opts, inline)
            specs = [(t.name, t.spec) for t in bake_targets]
        else:
            specs = [(None, build_spec(context, opts))]
        tools = find_buildkit() if not builders or "buildctl" in builders else None
        display = stack.enter_context(progress_display())
        if keep:
            from repro.atomic import make_output_dir

            make_output_dir(keep, "--keep")
        docs = []
        for name, spec in specs:
            out_dir = os.path.join(keep, name) if keep and name else keep
            if out_dir:
                os.makedirs(out_dir, exist_ok=True)
            else:
                out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-check-"))
            doc = _check_one(spec, n=n, out_dir=out_dir, keep=bool(keep), addrs=addrs, builders=builders, vary=vary,
                             against=against, progress=progress, tools=tools, tls=tls, display=display,
                             registry=registry, limits=limits, verify_all=verify_all, semantic=semantic,
                             ignore=ignore, use_diffoscope=use_diffoscope, cfg=cfg, overridden=overridden,
                             trust_equal_digests=trust_equal_digests, report_dir=os.path.join(report_dir, name)
                             if report_dir and name else report_dir, quiet=quiet, label=name)
            docs.append((name, doc))
        display.clear()
        if bake:
            from repro.report.bake import combine

            chosen = combine(docs, {t.name: t.ignored for t in bake_targets})
            if not quiet:
                for target in chosen["targets"]:
                    click.echo(f"repro: target {target['name']}: {target['verdict']} ({target['findings']} "
                               f"finding{'s' if target['findings'] != 1 else ''})", err=True)
        else:
            chosen = docs[0][1]
        code = emit(chosen, fmt, output, quiet=quiet, attest=attest)
    sys.exit(code)


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


def _check_one(spec: Any, *, n: int, out_dir: str, keep: bool, addrs: tuple[str, ...], builders: tuple[str, ...],
               vary: Any, against: str | None, progress: str, tools: Any, tls: Any, display: Any, registry: Any,
               limits: Any, verify_all: bool, semantic: bool, ignore: tuple[str, ...], use_diffoscope: bool,
               cfg: Any, overridden: Any, trust_equal_digests: bool, report_dir: str | None, quiet: bool,
               label: str | None = None) -> dict[str, Any]:
    """Build `spec` n times, compare, follow COPY --from findings into their stages; the
    report document of the comparison the report shows."""
    from repro.buildkit import BuildSession
    from repro.progress import BuildSink

    _warn_frontend(spec)
    # on a terminal, parallel builds show one status line instead of interleaved logs
    sink = BuildSink(display, n) if display.enabled and progress == "auto" and n > 1 else None
    with BuildSession(spec, n, out_dir, addrs=addrs, vary=vary, progress=progress, tools=tools, builders=builders,
                      stderr=sink, keep_daemons=True, tls=tls) as session:
        results = session.run(on_done=(lambda i, r: sink.build_done(f"build {i + 1}")) if sink else None)
        display.clear()
        for r in {r.builder: r for r in results}.values():
            _warn_version(r.buildkit_version, r.daemon)
        build_doc = _build_document(results, vary)
        build_doc["source_date_epoch_from"] = epoch_source(cfg)
        # every build against IMAGE, then the builds with each other
        pairs = [(against, r.path) for r in results] if against else []
        pairs += [(results[0].path, r.path) for r in results[1:]]
        platform = _built_platform(results[0].path, limits) if against else None

        extracted = []

        by_path = {r.path: r for r in results}

        def compare_pair(ref_a: str, ref_b: str, *, plat: str | None = None,
                         extract_if: Any = None) -> dict[str, Any]:
            # when each build ran (time anchors for dates found in files) and with which BuildKit
            ra, rb = by_path.get(ref_a), by_path.get(ref_b)
            known = {"build_started": (ra.started if ra else None, rb.started if rb else None),
                     "builder_versions": (ra.buildkit_version if ra else None, rb.buildkit_version if rb else None),
                     "report_dir": report_dir}
            with open_images(ref_a, ref_b, verify_all, limits, platform=plat, registry=registry) as images:
                doc, result = compare(*images.images, platform=plat,  # type: ignore[attr-defined]
                                      semantic=semantic, ignore=ignore,
                                      source_date_epoch=spec.source_date_epoch, build=build_doc,
                                      use_diffoscope=use_diffoscope, limits=limits, progress=display,
                                      config=cfg.report(overridden), trust_equal_digests=trust_equal_digests,
                                      explain_context=known)
                if report_dir and extract_if is not None and not extracted and extract_if(doc):
                    from repro.extract import extract

                    extract(result, result.findings, doc, report_dir)
                    extracted.append(True)
            return doc

        docs = []
        for ref_a, ref_b in pairs:
            # --report-dir gets the first comparison that differs (else the last one)
            last = (ref_a, ref_b) == pairs[-1]
            doc = compare_pair(ref_a, ref_b, plat=platform if ref_a == against else None,
                               extract_if=lambda d, last=last: d["verdict"] != "reproducible" or last)
            docs.append((ref_a, ref_b, doc))
        # one report: the first comparison that differs (else the first); with more than one
        # comparison, every comparison's verdict is listed under "comparisons"
        chosen_pair = next(((a, b, d) for a, b, d in docs if d["verdict"] != "reproducible"), docs[0])
        chosen = chosen_pair[2]
        if chosen["verdict"] != "reproducible" and chosen_pair[0] != against:
            j = next(i for i, r in enumerate(results) if r.path == chosen_pair[1])
            _follow_stages(chosen, spec, session, (0, j), out_dir, compare_pair, quiet, label)
        if not keep:  # the tarballs go away with the temp dir: name the builds instead
            names = {r.path: f"build-{i + 1}" for i, r in enumerate(results)}
            for _, _, doc in docs:
                for inp in doc["inputs"]:
                    inp["ref"] = names.get(inp["ref"], inp["ref"])
        if len(docs) > 1 or against:
            chosen["comparisons"] = [_comparison(d, d is chosen, against) for _, _, d in docs]
            for c in chosen["comparisons"] if not quiet else ():
                n_found = c["findings"]
                click.echo(f"repro: {c['pair']}: {c['verdict']} ({n_found} finding{'s' if n_found != 1 else ''})"
                           f"{'; the report shows this comparison' if c['reported'] and len(docs) > 1 else ''}",
                           err=True)
    return chosen


def _warn_frontend(spec: Any) -> None:
    """A `# syntax=IMAGE` directive makes BuildKit fetch that frontend from a registry for
    every build: unless pinned by digest, it is an input that can change under the tag."""
    from repro.dockerfile import read_directives

    try:
        with open(spec.dockerfile_path(), "rb") as f:
            directives = read_directives(f.read().decode("utf-8", errors="replace"))
    except (OSError, ReproError):
        return  # the build reports an unreadable or refused Dockerfile itself
    syntax = next((d.value for d in directives if d.name == "syntax"), None)
    if syntax and "@sha256:" not in syntax:
        click.echo(f"repro: warning: {spec.dockerfile_path()} says '# syntax={syntax}': BuildKit fetches that "
                   "frontend image by tag for every build; pin it (IMAGE@sha256:...) so that both builds, and "
                   "next year's, parse the Dockerfile with the same frontend", err=True)


def _follow_stages(doc: dict[str, Any], spec: Any, session: Any, sides: tuple[int, int], out_dir: str,
                   compare_pair: Any, quiet: bool, label: str | None) -> None:
    """Follow findings in COPY --from layers into their stages (repro.dockerfile.chain),
    building each stage with --target on the daemons builds `sides` ran on."""
    from dataclasses import replace

    from repro.dockerfile import parse_file
    from repro.dockerfile.chain import add_stage_chains

    try:
        df = parse_file(spec.dockerfile_path())
    except ReproError as e:  # BuildKit built it: a Dockerfile our parser refuses must not fail the check
        click.echo(f"repro: warning: cannot follow COPY --from findings into their stages: {e}", err=True)
        return
    if len(df.stages) < 2:
        return
    work = os.path.join(out_dir, ".stages")

    def build_stage(stage: Any, name: str, dockerfile: str | None) -> tuple[str, str]:
        os.makedirs(work, exist_ok=True)
        stage_spec = replace(spec, target=name, dockerfile=dockerfile or spec.dockerfile, no_cache=False)
        if not quiet:
            click.echo(f"repro: building stage {stage.ref} on both sides to find what made the difference", err=True)
        paths = []
        for side in sides:
            out = os.path.join(work, f"stage-{stage.index}-build-{side + 1}.tar")
            session.rebuild(side, stage_spec, out, label=f"build {side + 1}, stage {stage.ref}")
            paths.append(out)
        return paths[0], paths[1]

    build_args = dict(a.split("=", 1) for a in spec.build_args if "=" in a)
    try:
        add_stage_chains(doc, df, spec.dockerfile_path(), target=spec.target, build_args=build_args,
                         build_stage=build_stage, compare=lambda a, b: compare_pair(a, b), work=work)
    except ReproError as e:  # the verdict stands; only the explanation is missing
        click.echo(f"repro: warning: could not follow COPY --from findings into their stages: {e}", err=True)


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
        "vary": "; ".join(a.value for a in results[-1].variations if a.applied) or None,
        "builds": [{"digest": r.image_digest, "builder": r.builder, "driver": r.driver, "daemon": r.daemon,
                    "snapshotter": r.snapshotter,
                    "duration": round(r.duration, 3), "varied": r.varied} for r in results],
    }
    return doc


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
    except click.UsageError as e:
        click.echo(f"repro: error: {usage_line(e, args)}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"repro: error: {_one_line(e.format_message())}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("repro: error: interrupted", err=True)
        sys.exit(2)
    except ReproError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"repro: error: {_one_line(str(e))}", err=True)
        for line in e.details:  # e.g. a failed build step's last output lines
            click.echo(f"  | {_visible(line)}", err=True)
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
_DID_YOU_MEAN = re.compile(r"\.?\s*\(?(Did you mean [^?]*\?)\)?\s*$")


def usage_line(e: click.UsageError, args: list[str] | None = None) -> str:
    """A click usage error as one line, as git and skopeo print them: which command, what
    is wrong, the nearest valid spelling, where the help is. No usage block."""
    msg = _one_line(e.format_message()).rstrip(".")
    m = _DID_YOU_MEAN.search(msg)
    if m:
        hint = m.group(1)
        msg = msg[:m.start()].rstrip(".") + f" ({hint[0].lower()}{hint[1:]})"
    msg = msg[:1].lower() + msg[1:]
    path = e.ctx.command_path if e.ctx is not None else "repro"
    if path == "repro":  # some parser errors carry no context: name the command from argv
        path += next((" " + a for a in args or () if a in cli.commands), "")
    sub = path.split(" ", 1)[1] + ": " if " " in path else ""
    return f"{sub}{msg}; see '{path} --help'"


def _visible(text: str) -> str:
    """`text` with control characters escaped (it may come from a build or an image)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _one_line(msg: str) -> str:
    """At most three lines of `msg` joined with " / ", control characters escaped: names
    in messages come from images, and an escape sequence must not reach the terminal."""
    lines = [l for l in msg.strip().splitlines() if l.strip()]
    text = " / ".join(lines[:3]) if lines else "unknown error"
    return _visible(text)
