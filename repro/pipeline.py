"""The way through repro that `repro diff` and `repro check` share, in one direction:

    reference → image → findings → explained findings → report document (→ --report-dir)

`diff()` compares two existing images; `check()` builds a context N times first, then
compares every build with the first (and with `--against IMAGE`, every build with that
image). Both return the report document (schema repro-report/v1, built by
repro/report/document.py); writing it anywhere is the caller's business. The command
line (repro/cli/) only parses its options into the records below, calls one of these
and prints what comes back.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, Sequence

from repro.diff import Contents, DiffOptions, DiffResult, Finding, Policy
from repro.errors import InputError, ReproError
from repro.oci import Limits, RegistryOptions
from repro.oci.model import Image, Platform
from repro.report.document import Report

if TYPE_CHECKING:  # the build step is imported when `check` runs
    from repro.buildkit import BuildSpec, Tools
    from repro.buildkit.bake import BakeTarget
    from repro.buildkit.buildctl import ClientTLS


class Progress(Protocol):
    """What the pipeline tells a progress display (repro.cli.progress.Progress is one)."""

    enabled: bool

    def status(self, text: str) -> None: ...

    def count(self, entries: int = 0, nbytes: int = 0) -> None: ...

    def clear(self) -> None: ...


@dataclass(frozen=True)
class CompareOptions:
    """How two images are opened, compared and explained (`diff`'s and `check`'s report options)."""

    platform: str | None = None  # os/arch[/variant]: compare only this platform
    policy: Policy = Policy()  # what does not count (--semantic, --ignore, repro.toml)
    verify_all: bool = False  # hash every layer blob when opening (--verify-all)
    trust_equal_digests: bool = False  # do not hash unread blobs with equal digests
    diffoscope: bool = False  # embed diffoscope's view of files that still differ
    report_dir: str | None = None  # extract both sides of every differing file here
    limits: Limits = field(default_factory=Limits)
    registry: RegistryOptions = field(default_factory=RegistryOptions)


@dataclass(frozen=True)
class CheckOptions:
    """How `check` builds (the build itself is a repro.buildkit.BuildSpec)."""

    builds: int = 2
    addrs: tuple[str, ...] = ()  # buildkitd addresses, one build each, round robin
    tls: ClientTLS | None = None  # for tcp:// daemons with TLS (--tlscacert, ...)
    builders: tuple[str, ...] = ()  # buildctl | buildx | buildx:NAME, round robin
    vary: Any = None  # the variations of builds 2..N: a repro.buildkit.variations.Selection, or what
                      # select() reads ("all", "time,umask", False); None: the realistic default
    bisect: bool = False  # when builds differ, attribute each finding to the variation that provokes it
    against: str | None = None  # also compare every build with this image
    keep: str | None = None  # keep the built tarballs in this directory
    progress: str = "auto"  # BuildKit's progress output (auto | plain | tty | quiet)
    epoch_source: str = "git"  # where SOURCE_DATE_EPOCH came from (the report's build.source_date_epoch_from)


@dataclass(frozen=True)
class Comparison:
    """Two images compared and explained, and the content of the files that differ as the
    diff captured it (no image is read after the diff). Close it (or use it as a context
    manager) to let go of that content."""

    result: DiffResult
    findings: tuple[Finding, ...]  # result.findings, explained
    report: Report  # the report document of this comparison
    contents: Contents = field(repr=False, compare=False)

    def extract(self, directory: str) -> None:
        """--report-dir: both sides of every file a finding names, with report.json (needs
        `keep_files` at compare time)."""
        from repro.extract import extract

        extract(self.result, self.findings, self.contents, self.report, directory)

    def close(self) -> None:
        self.contents.close()

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def open_images(ref_a: str, ref_b: str, options: CompareOptions = CompareOptions(), *,
                platform: str | None = None) -> Iterator[tuple[Image, Image]]:
    """Both images, opened (and closed again on the way out). `platform` narrows what a
    registry image fetches (see repro.oci.open_image); default: options.platform."""
    from repro.oci import open_image

    platform = platform if platform is not None else options.platform
    with contextlib.ExitStack() as stack:
        images = tuple(stack.enter_context(open_image(ref, verify_all=options.verify_all, limits=options.limits,
                                                      platform=platform, registry=options.registry))
                       for ref in (ref_a, ref_b))
        yield images[0], images[1]


def compare(a: Image, b: Image, options: CompareOptions = CompareOptions(), *,
            source_date_epoch: int | None = None, builder_versions: tuple[str | None, str | None] | None = None,
            build_started: tuple[float | None, float | None] | None = None,
            build: Report | None = None, progress: Progress | None = None,
            provoked_by: Callable[[Finding], tuple[str, ...] | None] | None = None,
            keep_files: bool | None = None) -> Comparison:
    """open → diff (each layer read once, the content of what differs captured on the
    way) → fetch that content → explain → report document. `source_date_epoch`: the
    build's, if known (explains mtimes and embedded times); `builder_versions`: the
    BuildKit versions that built A and B, if known (cause builder-version);
    `build_started`: when `check` started each build (time anchors for dates found in
    files); `build`: the report's `build` object, for `check`; `provoked_by`: check
    --bisect's attribution of a finding (set before explaining: the experiment settles the
    cause); `keep_files`: keep every file a finding names for Comparison.extract
    (default: when options.report_dir is set)."""
    from repro.diff import diff_images, fetch_contents
    from repro.report.document import build_report

    try:
        plat = Platform.parse(options.platform) if options.platform else None
    except ReproError as e:
        raise InputError(str(e)) from None
    hooks: dict[str, Any] = {}
    if progress is not None and progress.enabled:
        hooks = {"on_layer": lambda what: progress.status(f"comparing {what}"),
                 "on_entries": lambda entries, nbytes: progress.count(entries, nbytes)}
    keep = bool(options.report_dir) if keep_files is None else keep_files
    result = diff_images(a, b, DiffOptions(platform=plat, policy=options.policy, keep_files=keep,
                                           max_entries=options.limits.max_entries_per_layer,
                                           verify_unread=not options.trust_equal_digests, **hooks))
    contents = fetch_contents(result)  # from here on, nothing reads an image
    try:
        raw = list(result.findings)
        if provoked_by is not None:
            raw = [f.with_(provoked_by=provoked_by(f)) for f in raw]
        findings = raw
        if raw:  # a reproducible pair has nothing to explain: repro.explain stays unloaded
            from repro.explain import ExplainContext, explain

            context = ExplainContext.for_images(
                a, b, source_date_epoch=source_date_epoch, builder_versions=builder_versions,
                build_started=build_started, refs=(a.ref, b.ref), report_dir=options.report_dir,
                platform_dirs=sum(p.role == "image" for p in result.platforms) > 1)
            findings = explain(raw, contents=contents.pair, context=context)
            if options.diffoscope:
                from repro.explain.diffoscope import drill_down

                findings = drill_down(findings, contents.pair)
        explained = tuple(findings)
        doc = build_report(result, build=build, findings=explained, trust_equal_digests=options.trust_equal_digests)
    except BaseException:
        contents.close()
        raise
    return Comparison(result, explained, doc, contents)


def diff(ref_a: str, ref_b: str, options: CompareOptions = CompareOptions(), *,
         progress: Progress | None = None) -> Report:
    """`repro diff`: the report of two existing images (with options.report_dir, the
    differing files extracted there too)."""
    _check_report_dir(options)
    with open_images(ref_a, ref_b, options) as (a, b):
        compared = compare(a, b, options, progress=progress)
    with compared:  # the images are closed: --report-dir gets what the diff captured
        if options.report_dir:
            compared.extract(options.report_dir)
    return compared.report


class BuildLog(Protocol):
    """Where BuildKit's progress of parallel builds goes (a terminal's status line:
    repro.cli.progress.BuildSink)."""

    def write(self, text: str) -> int: ...

    def flush(self) -> None: ...

    def build_done(self, label: str) -> None: ...


class Listener(Protocol):
    """What `check` tells its caller on the way (the command line prints it on stderr)."""

    def warning(self, text: str) -> None:
        """Something the user should act on (shown even when quiet)."""

    def note(self, text: str) -> None:
        """What is happening (not shown when quiet)."""

    def checked(self, report: Report) -> None:
        """The comparisons of one build spec are done: `report` is the one shown, with
        `comparisons` when there was more than one."""


def check(spec: BuildSpec, options: CheckOptions = CheckOptions(), compare_options: CompareOptions = CompareOptions(),
          *, progress: Progress | None = None, build_log: Callable[[], BuildLog | None] | None = None,
          listener: Listener | None = None, tools: Tools | None = None) -> Report:
    """`repro check`: build `spec` options.builds times, compare, explain, and follow a
    difference in a `COPY --from=STAGE` layer into STAGE (built with --target on the same
    daemons). Returns one report: the first comparison that differs (else the first), with
    every comparison's verdict under `comparisons` when there is more than one (or an
    --against image). `build_log()`: where the builds' progress goes, if anywhere;
    `tools`: the BuildKit binaries, when the caller looked them up already."""
    from repro.buildkit import find_buildkit

    if tools is None and (not options.builders or "buildctl" in options.builders):
        tools = find_buildkit()
    preflight(options, compare_options)
    with contextlib.ExitStack() as stack:
        if options.keep:
            from repro.atomic import make_output_dir

            make_output_dir(options.keep, "--keep")
            out_dir = options.keep
        else:
            out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-check-"))
        return _check_one(spec, options, compare_options, out_dir, progress=progress, build_log=build_log,
                          listener=listener or _Silent(), tools=tools)


def check_bake(targets: Sequence[BakeTarget], options: CheckOptions = CheckOptions(),
               compare_options: CompareOptions = CompareOptions(), *, progress: Progress | None = None,
               build_log: Callable[[], BuildLog | None] | None = None, listener: Listener | None = None) -> Report:
    """`repro check --bake`: `check` for every bake target, in one report (each target's
    findings under its name; repro/report/bake.py). With --keep and --report-dir, each
    target gets its own subdirectory."""
    from repro.buildkit import find_buildkit
    from repro.report.bake import combine

    tools = find_buildkit() if not options.builders or "buildctl" in options.builders else None
    preflight(options, compare_options)
    with contextlib.ExitStack() as stack:
        if options.keep:
            from repro.atomic import make_output_dir

            make_output_dir(options.keep, "--keep")
        docs = []
        for t in targets:
            if options.keep:
                out_dir = os.path.join(options.keep, t.name)
                os.makedirs(out_dir, exist_ok=True)
            else:
                out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-check-"))
            target_options = replace(compare_options, report_dir=os.path.join(compare_options.report_dir, t.name)
                                     if compare_options.report_dir else None)
            docs.append((t.name, _check_one(t.spec, options, target_options, out_dir, progress=progress,
                                            build_log=build_log, listener=listener or _Silent(), tools=tools)))
        if progress is not None:
            progress.clear()
        return combine(docs, {t.name: t.ignored for t in targets})


def preflight(options: CheckOptions, compare_options: CompareOptions) -> None:
    """What can fail without building, checked before the first build starts (a typo
    must not cost two builds): the --keep and --report-dir directories, and the --against
    image, opened (for a registry, its manifest resolved). The -o and --attest files are
    the caller's (repro.cli.output.OutputOptions.check)."""
    from repro.atomic import check_output_dir

    if options.keep:
        check_output_dir(options.keep, "--keep")
    _check_report_dir(compare_options)
    if options.against:
        from repro.oci import open_image

        try:
            with open_image(options.against, limits=compare_options.limits, registry=compare_options.registry):
                pass
        except ReproError as e:
            error = type(e)(f"--against {e}")
            error.details = e.details
            raise error from None


def _check_one(spec: BuildSpec, options: CheckOptions, compare_options: CompareOptions, out_dir: str, *,
               progress: Progress | None, build_log: Callable[[], BuildLog | None] | None, listener: Listener,
               tools: Tools | None) -> Report:
    """Build `spec` into out_dir, compare, follow COPY --from findings into their stages;
    the report of the comparison the report shows."""
    from repro.buildkit import BuildSession
    from repro.buildkit.variations import select
    from repro.report.document import build_document, comparison_entry, name_inputs

    _warn_frontend(spec, listener)
    sink = build_log() if build_log is not None else None
    with BuildSession(spec, options.builds, out_dir, addrs=options.addrs, vary=select(options.vary),
                      progress=options.progress,
                      tools=tools, builders=options.builders, stderr=sink, keep_daemons=True,
                      tls=options.tls) as session:
        results = session.run(on_done=(lambda i, r: sink.build_done(f"build {i + 1}")) if sink else None)
        if progress is not None:
            progress.clear()
        build_doc = build_document(results, options.epoch_source, session.selection)
        against = options.against
        # every build against IMAGE, then the builds with each other
        pairs = [(against, r.path) for r in results] if against else []
        pairs += [(results[0].path, r.path) for r in results[1:]]
        versions: dict[str | None, str] = {r.path: r.buildkit_version for r in results}  # not known for --against
        started: dict[str | None, float] = {r.path: r.started for r in results}
        platform = built_platform(results[0].path, compare_options.limits) if against else None
        extracted: list[bool] = []

        def compare_pair(ref_a: str, ref_b: str, *, plat: str | None = None,
                         extract_if: Callable[[Report], bool] | None = None,
                         provoked_by: Callable[[Finding], tuple[str, ...] | None] | None = None) -> Report:
            pair_options = replace(compare_options, platform=plat, report_dir=None)  # extracted below, if chosen
            with open_images(ref_a, ref_b, pair_options) as (a, b):
                compared = compare(a, b, pair_options, source_date_epoch=spec.source_date_epoch,
                                   builder_versions=(versions.get(ref_a), versions.get(ref_b)),
                                   build_started=(started.get(ref_a), started.get(ref_b)), build=build_doc,
                                   progress=progress, provoked_by=provoked_by,
                                   keep_files=bool(compare_options.report_dir))
            with compared:
                if compare_options.report_dir and extract_if is not None and not extracted and \
                        extract_if(compared.report):
                    compared.extract(compare_options.report_dir)
                    extracted.append(True)
            return compared.report

        docs = []
        for ref_a, ref_b in pairs:
            # --report-dir gets the first comparison that differs (else the last one); with
            # --bisect, the comparison the report shows, once its findings are attributed
            last = (ref_a, ref_b) == pairs[-1]
            doc = compare_pair(ref_a, ref_b, plat=platform if ref_a == against else None,
                               extract_if=None if options.bisect else
                               lambda d, last=last: d["verdict"] != "reproducible" or last)
            docs.append((ref_a, ref_b, doc))
        # one report: the first comparison that differs (else the first); with more than one
        # comparison, every comparison's verdict is listed under "comparisons"
        k, (chosen_a, chosen_b, chosen) = next(((i, t) for i, t in enumerate(docs) if t[2]["verdict"] != "reproducible"),
                                               (0, docs[0]))
        if options.bisect:
            chosen = _bisect(spec, options, compare_options, results, (chosen_a, chosen_b, chosen), out_dir,
                             build_doc, compare_pair, listener, sink)
            docs[k] = (chosen_a, chosen_b, chosen)
        elif chosen["verdict"] != "reproducible" and chosen_a != against:
            applied = [a.name for a in next(r for r in results if r.path == chosen_b).variations if a.applied]
            if applied:
                listener.note(f"the varied build differs; --bisect names the variation behind each finding "
                              f"({len(applied) + 2} more builds: two unvaried references and one with each of "
                              f"{', '.join(applied)} alone)")
        if chosen["verdict"] != "reproducible" and chosen_a != against:
            j = next(i for i, r in enumerate(results) if r.path == chosen_b)
            _follow_stages(chosen, spec, session, (0, j), out_dir, compare_pair, listener)
        if not options.keep:  # the tarballs go away with the temp dir: name the builds instead
            names = {r.path: f"build-{i + 1}" for i, r in enumerate(results)}
            for _, _, doc in docs:
                name_inputs(doc, names)
        if len(docs) > 1 or against:
            chosen["comparisons"] = [comparison_entry(d, d is chosen, against) for _, _, d in docs]
            listener.checked(chosen)
        warnings = platform_warnings(results[0].path, compare_options.limits)
        if warnings:
            chosen["warnings"] = warnings
            for w in warnings:
                listener.warning(w["message"])
    return chosen


def _bisect(spec: BuildSpec, options: CheckOptions, compare_options: CompareOptions, results: list[BuildResult],
            chosen: tuple[str | None, str, Report], out_dir: str, build_doc: dict[str, Any],
            compare_pair: Callable[..., Report], listener: Listener, sink: Any) -> Report:
    """--bisect: when the control and a varied build differ, build again with one variation
    at a time (repro.buildkit.bisect), and compare the pair again with every finding's
    `provoked_by` set, which settles its cause. Returns the chosen pair's report (with
    --report-dir, extracted now)."""
    from repro.buildkit.bisect import bisect

    ref_a, ref_b, doc = chosen
    extract = (lambda d: True) if compare_options.report_dir else None
    if doc["verdict"] == "reproducible" or ref_a == options.against:
        if doc["verdict"] != "reproducible":
            listener.note("--bisect: the builds agree with each other; only the --against image differs, and "
                          "no variation explains that")
        return compare_pair(ref_a, ref_b, extract_if=extract) if extract else doc
    j = next(i for i, r in enumerate(results) if r.path == ref_b)
    candidates = [a.name for a in results[j].variations if a.applied]
    listener.note(f"--bisect: builds differ; building again with each of {len(candidates)} variation"
                  f"{'s' if len(candidates) != 1 else ''} alone ({', '.join(candidates) or 'none'}) and two "
                  "unvaried references")

    def raw(path_a: str, path_b: str) -> list[Finding]:
        from repro.diff import diff_images

        with open_images(path_a, path_b, compare_options) as (a, b):
            return list(diff_images(a, b, DiffOptions(policy=compare_options.policy,
                                                      max_entries=compare_options.limits.max_entries_per_layer,
                                                      verify_unread=not compare_options.trust_equal_digests)).findings)

    att = bisect(spec, raw(results[0].path, ref_b), candidates, os.path.join(out_dir, "bisect"), raw,
                 addrs=options.addrs, builders=options.builders, progress="quiet", stderr=sink, tls=options.tls)
    build_doc["bisect"] = att.to_json()
    listener.note(f"--bisect: {att.builds} extra builds in {att.seconds:.1f} s")
    return compare_pair(ref_a, ref_b, extract_if=extract, provoked_by=att.of)


def platform_warnings(path: str, limits: Limits) -> list[dict[str, Any]]:
    """The report's `warnings` about a built image: platforms whose executables are
    mostly built for another architecture (repro.oci.executables)."""
    from repro.oci import open_image
    from repro.oci.executables import platform_mismatches

    with open_image(path, limits=limits) as image:
        return [m.to_json() for m in platform_mismatches(image)]


def _warn_frontend(spec: BuildSpec, listener: Listener) -> None:
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
        listener.warning(f"{spec.dockerfile_path()} says '# syntax={syntax}': BuildKit fetches that frontend image "
                         "by tag for every build; pin it (IMAGE@sha256:...) so that both builds, and next year's, "
                         "parse the Dockerfile with the same frontend")


def _follow_stages(doc: Report, spec: BuildSpec, session: Any, sides: tuple[int, int], out_dir: str,
                   compare_pair: Callable[..., Report], listener: Listener) -> None:
    """Follow findings in COPY --from layers into their stages (repro.dockerfile.chain),
    building each stage with --target on the daemons builds `sides` ran on."""
    from repro.dockerfile import parse_file
    from repro.dockerfile.chain import add_stage_chains

    try:
        df = parse_file(spec.dockerfile_path())
    except ReproError as e:  # BuildKit built it: a Dockerfile our parser refuses must not fail the check
        listener.warning(f"cannot follow COPY --from findings into their stages: {e}")
        return
    if len(df.stages) < 2:
        return
    work = os.path.join(out_dir, ".stages")

    def build_stage(stage: Any, name: str, dockerfile: str | None) -> tuple[str, str]:
        os.makedirs(work, exist_ok=True)
        stage_spec = replace(spec, target=name, dockerfile=dockerfile or spec.dockerfile, no_cache=False)
        listener.note(f"building stage {stage.ref} on both sides to find what made the difference")
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
        listener.warning(f"could not follow COPY --from findings into their stages: {e}")


class _Silent:
    def warning(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def checked(self, report: Report) -> None:
        pass


def built_platform(path: str, limits: Limits) -> str | None:
    """The platform of a single-platform build: a published multi-platform image is
    compared for that platform only (the others were not rebuilt, so they say nothing)."""
    from repro.oci import open_image

    with open_image(path, limits=limits) as image:
        found = {str(mi.platform) for mi in image.manifests if not mi.is_attestation and mi.platform is not None}
    return found.pop() if len(found) == 1 else None


def _check_report_dir(options: CompareOptions) -> None:
    """Fail before any work when --report-dir cannot be written (extract checks it again)."""
    if options.report_dir:
        from repro.atomic import check_output_dir

        check_output_dir(options.report_dir, "--report-dir", empty=True, parents=False)
