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
import tempfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Protocol

from repro.diff import DiffOptions, DiffResult, Finding, Policy
from repro.errors import InputError, ReproError
from repro.oci import Limits, RegistryOptions
from repro.oci.model import Image, Platform
from repro.report.document import Report

if TYPE_CHECKING:  # the build step is imported when `check` runs
    from repro.buildkit import BuildResult, BuildSpec
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
    vary: bool = False  # perturb the second and later builds
    against: str | None = None  # also compare every build with this image
    keep: str | None = None  # keep the built tarballs in this directory
    progress: str = "auto"  # BuildKit's progress output (auto | plain | tty | quiet)
    epoch_source: str = "git"  # where SOURCE_DATE_EPOCH came from (the report's build.source_date_epoch_from)


@dataclass(frozen=True)
class Comparison:
    """Two images compared and explained."""

    result: DiffResult
    findings: tuple[Finding, ...]  # result.findings, explained
    report: Report  # the report document of this comparison


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
            build: Report | None = None, progress: Progress | None = None) -> Comparison:
    """Diff two opened images, explain the findings and build the report document.
    `source_date_epoch`: the build's, if known (explains mtimes and embedded times);
    `builder_versions`: the BuildKit versions that built A and B, if known (cause
    builder-version); `build`: the report's `build` object, for `check`."""
    from repro.diff import content_lookup, diff_images
    from repro.explain import explain
    from repro.report.document import build_report

    try:
        plat = Platform.parse(options.platform) if options.platform else None
    except ReproError as e:
        raise InputError(str(e)) from None
    hooks: dict[str, Any] = {}
    if progress is not None and progress.enabled:
        hooks = {"on_layer": lambda what: progress.status(f"comparing {what}"),
                 "on_entries": lambda entries, nbytes: progress.count(entries, nbytes)}
    result = diff_images(a, b, DiffOptions(platform=plat, policy=options.policy,
                                           max_entries=options.limits.max_entries_per_layer,
                                           verify_unread=not options.trust_equal_digests, **hooks))
    lookup = content_lookup(result)
    findings = explain(list(result.findings), contents=lookup, source_date_epoch=source_date_epoch,
                       builder_versions=builder_versions)
    if options.diffoscope:
        from repro.explain.diffoscope import drill_down

        findings = drill_down(findings, lookup)
    explained = tuple(findings)
    doc = build_report(result, build=build, findings=explained, trust_equal_digests=options.trust_equal_digests)
    return Comparison(result, explained, doc)


def diff(ref_a: str, ref_b: str, options: CompareOptions = CompareOptions(), *,
         progress: Progress | None = None) -> Report:
    """`repro diff`: the report of two existing images (with options.report_dir, the
    differing files extracted there too)."""
    with open_images(ref_a, ref_b, options) as (a, b):
        compared = compare(a, b, options, progress=progress)
        if options.report_dir:
            _extract(compared, options.report_dir)
    return compared.report


def check(spec: BuildSpec, options: CheckOptions = CheckOptions(), compare_options: CompareOptions = CompareOptions(),
          *, progress: Progress | None = None, build_log: IO[str] | None = None,
          on_build_done: Callable[[int, BuildResult], None] | None = None) -> Report:
    """`repro check`: build `spec` options.builds times, compare, explain. Returns one
    report: the first comparison that differs (else the first), with every comparison's
    verdict under `comparisons` when there is more than one (or an --against image).
    `build_log`/`on_build_done`: where BuildKit's progress of parallel builds goes, and
    a call as each build ends (a terminal display shows both as one status line)."""
    from repro.buildkit import build_many, find_buildkit
    from repro.report.document import build_document, comparison_entry, name_inputs

    builders = options.builders
    tools = find_buildkit() if not builders or "buildctl" in builders else None
    with contextlib.ExitStack() as stack:
        if options.keep:
            from repro.atomic import make_output_dir

            make_output_dir(options.keep, "--keep")
            out_dir = options.keep
        else:
            out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-check-"))
        results = build_many(spec, options.builds, out_dir, addrs=options.addrs, tls=options.tls, vary=options.vary,
                             progress=options.progress, tools=tools, builders=builders, stderr=build_log,
                             on_done=on_build_done)
        if progress is not None:
            progress.clear()
        build_doc = build_document(results, options.vary, options.epoch_source)
        against = options.against
        # every build against IMAGE, then the builds with each other
        pairs = [(against, r.path) for r in results] if against else []
        pairs += [(results[0].path, r.path) for r in results[1:]]
        versions = {r.path: r.buildkit_version for r in results}  # the --against image's is not known
        platform = built_platform(results[0].path, compare_options.limits) if against else None
        docs = []
        extracted = False
        for ref_a, ref_b in pairs:
            pair_options = _with_platform(compare_options, platform if ref_a == against else None)
            with open_images(ref_a, ref_b, pair_options) as (a, b):
                compared = compare(a, b, pair_options, source_date_epoch=spec.source_date_epoch,
                                   builder_versions=(versions.get(ref_a), versions.get(ref_b)), build=build_doc,
                                   progress=progress)
                doc = compared.report
                # --report-dir gets the first comparison that differs (else the last one)
                if compare_options.report_dir and not extracted and (
                        doc["verdict"] != "reproducible" or (ref_a, ref_b) == pairs[-1]):
                    _extract(compared, compare_options.report_dir, findings=compared.result.findings)
                    extracted = True
            if not options.keep:  # the tarballs go away with the temp dir: name the builds instead
                name_inputs(doc, {r.path: f"build-{i + 1}" for i, r in enumerate(results)})
            docs.append(doc)
        # one report: the first comparison that differs (else the first); with more than one
        # comparison, every comparison's verdict is listed under "comparisons"
        chosen = next((d for d in docs if d["verdict"] != "reproducible"), docs[0])
        if progress is not None:
            progress.clear()
        if len(docs) > 1 or against:
            chosen["comparisons"] = [comparison_entry(d, d is chosen, against) for d in docs]
    return chosen


def _with_platform(options: CompareOptions, platform: str | None) -> CompareOptions:
    from dataclasses import replace

    return replace(options, platform=platform)


def built_platform(path: str, limits: Limits) -> str | None:
    """The platform of a single-platform build: a published multi-platform image is
    compared for that platform only (the others were not rebuilt, so they say nothing)."""
    from repro.oci import open_image

    with open_image(path, limits=limits) as image:
        found = {str(mi.platform) for mi in image.manifests if not mi.is_attestation and mi.platform is not None}
    return found.pop() if len(found) == 1 else None


def _extract(compared: Comparison, directory: str, findings: tuple[Finding, ...] | None = None) -> None:
    from repro.extract import extract

    extract(compared.result, compared.findings if findings is None else findings, compared.report, directory)
