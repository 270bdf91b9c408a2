"""Command-line options shared by several commands, and how their values are read.

Option groups are decorators (report, limits, registry, build, config, quiet) so that
`diff`, `inspect`, `build` and `check` spell each option the same way; the `make_*` and
`*_options` functions turn the parsed values into the records the library takes
(Limits, RegistryOptions, BuildSpec, repro.pipeline.CompareOptions, OutputOptions).
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, Any, Callable, Mapping

import click

from repro.cli.output import OutputOptions
from repro.errors import InputError
from repro.report import RENDERERS

if TYPE_CHECKING:
    from repro.pipeline import CompareOptions

FORMATS = tuple(RENDERERS)


class Choice(click.Choice):
    """click.Choice whose error names the nearest choice: `--format jsn` says "did you
    mean 'json'?", as click already does for a mistyped option or command. Every choice
    option of repro uses it (a test walks the commands)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as e:
            near = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1, cutoff=0.5)
            if near:
                e.message = f"{e.message.rstrip('.')}. Did you mean {near[0]!r}?"
            raise


def report_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--platform, --semantic, --ignore, --format, -o, --verify-all: shared by diff and check."""
    opts = [
        click.option("--platform", "platform", metavar="OS/ARCH[/VARIANT]",
                     help="Compare only this platform of a multi-platform image."),
        click.option("--semantic", is_flag=True,
                     help="Ignore the documented semantic preset (timestamps, history, file order, tar "
                          "format, image-name annotations, attestations); what was ignored is listed in the report."),
        click.option("--ignore", "ignore", multiple=True, metavar="GLOB",
                     help="Do not count differences in paths matching GLOB (repeatable); listed in the report."),
        click.option("--format", "fmt", type=Choice(FORMATS), default="text", show_default=True,
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


def compare_options(opts: dict[str, Any], *, semantic: bool, ignore: tuple[str, ...],
                    config: Mapping[str, Any] | None = None) -> CompareOptions:
    """repro.pipeline.CompareOptions from the report, limit and registry options, removing
    them from `opts`; `semantic`, `ignore` and `config` (repro.toml) make the policy."""
    from repro.diff import Policy
    from repro.pipeline import CompareOptions

    registry = make_registry(opts)
    limits = make_limits(opts)
    return CompareOptions(platform=opts.pop("platform", None),
                          policy=Policy.make(semantic, ignore, dict(config) if config else None),
                          verify_all=bool(opts.pop("verify_all", False)),
                          trust_equal_digests=bool(opts.pop("trust_equal_digests", False)),
                          diffoscope=bool(opts.pop("use_diffoscope", False)), report_dir=opts.pop("report_dir", None),
                          limits=limits, registry=registry)


def output_options(opts: dict[str, Any]) -> OutputOptions:
    """Where the report goes (--format, -o, --attest), removing them from `opts`."""
    output = OutputOptions(format=opts.pop("fmt"), path=opts.pop("output", None), attest=opts.pop("attest", None),
                           quiet=is_quiet())
    output.check()  # a file that cannot be written fails now, not after the builds
    return output


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
    """--plain-http, --insecure, --registry-timeout, --registry-deadline: how to reach
    registries and how long to wait for them (docs/registries.md)."""
    from repro.oci.registry_options import DEFAULT_DEADLINE, DEFAULT_TIMEOUT

    f = click.option("--registry-deadline", "registry_deadline", type=click.FloatRange(min=1), default=None,
                     metavar="SECONDS",
                     help=f"Registries: everything this command does with them, retries included, must end "
                          f"within this (default {DEFAULT_DEADLINE:.0f}).")(f)
    f = click.option("--registry-timeout", "registry_timeout", type=click.FloatRange(min=1), default=None,
                     metavar="SECONDS",
                     help=f"Registries: connecting, any silence, and each request's whole answer (a blob: plus its "
                          f"size at 64 KiB/s) within this (default {DEFAULT_TIMEOUT:.0f}).")(f)
    f = click.option("--insecure", "registry_insecure", is_flag=True,
                     help="Registries: HTTPS without verifying the certificate.")(f)
    return click.option("--plain-http", "plain_http", is_flag=True,
                        help="Registries: plain HTTP instead of HTTPS.")(f)


def make_registry(opts: dict[str, Any]) -> Any:
    """RegistryOptions from --plain-http/--insecure, removing them from `opts`."""
    from repro.oci import RegistryOptions

    timing = {k: v for k, v in (("timeout", opts.pop("registry_timeout", None)),
                                ("deadline", opts.pop("registry_deadline", None))) if v is not None}
    return RegistryOptions(plain_http=bool(opts.pop("plain_http", False)),
                           insecure=bool(opts.pop("registry_insecure", False)), **timing)


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
    from repro.cli.progress import Progress

    return Progress.for_stderr(quiet=is_quiet())


def _set_config(ctx: click.Context, param: Any, value: Any) -> None:
    if value:
        ctx.meta[f"repro.{param.name}"] = value


def config_options(f: Callable[..., Any] | None = None, *, report: bool = True) -> Any:
    """--config FILE / --no-config: the repro.toml that holds a team's defaults (repro/cli/config.py).
    `@config_options(report=False)` for a command that writes no report (`build`)."""
    def add(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--no-config", "no_config", is_flag=True, expose_value=False, callback=_set_config,
                         help="Ignore CONTEXT/repro.toml.")(f)
        where = "; its settings and sha256 go into the report's policy" if report else ""
        return click.option("--config", "config", type=click.Path(dir_okay=False), expose_value=False,
                            callback=_set_config, metavar="FILE",
                            help=f"Defaults from this TOML file instead of CONTEXT/repro.toml (flags override "
                                 f"it{where}).")(f)
    return add(f) if f is not None else add


# config key -> the command's parameter name
_CONFIG_PARAMS = {"ignore": "ignore", "semantic": "semantic", "platforms": "platforms",
                  "source-date-epoch": "source_date_epoch", "builds": "n", "vary": "vary", "builders": "builders",
                  "bisect": "bisect"}


def apply_config(context: str, values: dict[str, Any]) -> tuple[Any, list[str]]:
    """Fill `values` (parameter name -> value) from repro.toml where no flag was given;
    return (the Config, the config keys that flags overrode)."""
    from click.core import ParameterSource

    from repro.cli.config import load_config

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


def epoch_source(cfg: Any) -> str:
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
        click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH[,OS/ARCH...]",
                     help="Build for these platforms (comma-separated or repeated); check compares each platform "
                          "and gives a verdict per platform and overall."),
        click.option("--build-arg", "build_args", multiple=True, metavar="K=V|K",
                     help="Build argument (repeatable); K alone takes its value from the environment, as docker "
                          "build does (left out when K is not set)."),
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
        click.option("--progress", type=Choice(("auto", "plain", "tty", "quiet")), default="auto",
                     show_default=True, help="BuildKit progress on stderr."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def tls_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--tlscacert/--tlscert/--tlskey/--tlsservername: buildctl's client TLS for tcp:// daemons (--addr)."""
    opts = [
        click.option("--tlscacert", "tlscacert", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="CA certificate that signed the tcp:// daemons' certificates (--addr)."),
        click.option("--tlscert", "tlscert", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Client certificate for tcp:// daemons with mutual TLS."),
        click.option("--tlskey", "tlskey", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Key of the client certificate."),
        click.option("--tlsservername", "tlsservername", default=None, metavar="NAME",
                     help="Server name the daemons' certificates are checked against (default: the address's host)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def make_tls(opts: dict[str, Any]) -> Any:
    """The ClientTLS from the --tls* options (None when none was given), removing them from `opts`."""
    from repro.buildkit.buildctl import ClientTLS

    tls = ClientTLS(opts.pop("tlscacert", None), opts.pop("tlscert", None), opts.pop("tlskey", None),
                    opts.pop("tlsservername", None))
    tls.validate()
    return tls or None


_BUILD_KEYS = ("dockerfile", "target", "platforms", "build_args", "build_contexts", "secrets", "ssh",
               "source_date_epoch")


def build_spec(context: str, opts: Mapping[str, Any]) -> Any:
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
    # --platform a,b as buildx takes it, or repeated
    platforms = tuple(dict.fromkeys(p.strip() for v in platforms or () for p in v.split(",") if p.strip()))
    return BuildSpec(context=context, dockerfile=dockerfile, target=target, platforms=platforms,
                     build_args=environment_build_args(build_args or ()), build_contexts=tuple(build_contexts or ()),
                     secrets=tuple(secrets or ()), ssh=tuple(ssh or ()),
                     source_date_epoch=resolve_source_date_epoch(context, source_date_epoch))


def environment_build_args(args: Any) -> tuple[str, ...]:
    """--build-arg in docker build's two forms: K=V, and K alone, whose value is K's in
    the environment (an unset K is left out, so the Dockerfile's ARG default applies)."""
    out = []
    for arg in args:
        if "=" in arg or not arg:
            out.append(arg)
        elif arg in os.environ:
            out.append(f"{arg}={os.environ[arg]}")
    return tuple(out)


def report_options_for_check(f: Callable[..., Any]) -> Callable[..., Any]:
    """The report options of `diff`, minus its --platform: in `check`, --platform is the
    build's (and every built platform is compared)."""
    probe = report_options(lambda: None)
    params = [p for p in getattr(probe, "__click_params__", []) if p.name != "platform"]
    f.__dict__.setdefault("__click_params__", []).extend(params)
    return f
