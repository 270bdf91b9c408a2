"""Builds through `docker buildx build` on a named buildx builder, behind the same
BuildResult as the buildctl path.

Teams that build with buildx already have a builder (`docker buildx create`, GitHub's
setup-buildx-action, a Kubernetes builder): `repro check --builder buildx:NAME` builds on
it with the same reproducibility settings as buildctl — `SOURCE_DATE_EPOCH` as a build
arg, `--no-cache`, `--provenance=false --sbom=false`, and the OCI exporter with
`rewrite-timestamp=true`, OCI media types and forced gzip.

Drivers: `docker-container`, `kubernetes` and `remote` run a real BuildKit and export OCI
tarballs. The `docker` driver (the `default` builder, and every builder named after a
docker context) is refused with a way out: it cannot export an OCI tarball without the
containerd image store and cannot export cache. The `remote` driver needs no Docker
daemon: `docker buildx create --driver remote unix:///path/buildkitd.sock`.

buildx reads the builder's state from $DOCKER_CONFIG (default ~/.docker) like any docker
command; repro only reads it. Builds sharing one builder run one after the other (see
build_many): one BuildKit's solver could otherwise merge them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from repro import BUILDKIT_VERSION
from repro.buildkit.spec import BuildSpec, context_args, resolve_oci_layout, validate_spec
from repro.buildkit.vary import Vary
from repro.errors import BuildError, InputError, ToolMissing

if TYPE_CHECKING:
    from repro.buildkit.build import BuildResult, Cancel

BUILDX_VERSION = "v0.36.1"  # the release that vendors BuildKit v0.32.2; scripts/install-buildx.sh
INSTALL_HINT = ("run scripts/install-buildx.sh (builds buildx from the Go module proxy and links it as a docker "
                "CLI plugin), or apt-get install docker-buildx (Debian 13 and later)")
DOCKER_DRIVER_HINT = (
    "the docker driver cannot export an OCI tarball (without the containerd image store) and cannot export "
    "cache; create a BuildKit builder and use it: `docker buildx create --name repro --driver docker-container "
    "--use` (or `--driver remote unix:///path/to/buildkitd.sock`, or `--driver kubernetes`), then "
    "--builder buildx:repro")
_VERSION_RE = re.compile(r"\b(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# environment that would change what buildx builds or where: repro passes these explicitly
_STRIPPED_ENV = ("BUILDX_BUILDER", "BUILDKIT_HOST", "SOURCE_DATE_EPOCH", "BUILDKIT_PROGRESS", "BUILDX_GIT_LABELS",
                 "BUILDX_NO_DEFAULT_ATTESTATIONS", "BUILDX_METADATA_PROVENANCE", "BUILDX_METADATA_WARNINGS")


@dataclass(frozen=True)
class Buildx:
    docker: str   # the docker CLI that runs the plugin
    version: str  # what `docker buildx version` reports, e.g. "v0.36.1"


@dataclass(frozen=True)
class BuildxBuilder:
    """One buildx builder as `docker buildx ls` describes it (its first node)."""

    name: str
    driver: str
    endpoint: str = ""
    buildkit_version: str = ""
    platforms: tuple[str, ...] = ()
    snapshotter: str = ""

    def describe(self) -> str:
        return (f"buildx builder {self.name} ({self.driver} driver, BuildKit {self.buildkit_version or '?'})"
                + (f" at {self.endpoint}" if self.endpoint else ""))


def parse_builder(text: str) -> str | None:
    """`--builder` value -> None for buildctl, "" for buildx's current builder, else the
    buildx builder's name. InputError for anything else."""
    if text == "buildctl":
        return None
    if text == "buildx":
        return ""
    kind, sep, name = text.partition(":")
    if kind == "buildx" and sep and _NAME_RE.match(name):
        return name
    raise InputError(f"--builder {text!r}: use buildctl (repro's own daemons, or --addr), buildx (the current "
                     "buildx builder) or buildx:NAME")


def find_buildx() -> Buildx:
    """The docker CLI with its buildx plugin; ToolMissing with the install hint otherwise."""
    docker = shutil.which("docker")
    if not docker:
        raise ToolMissing("the docker CLI is not found (buildx builders are driven through `docker buildx`): "
                          "apt-get install docker.io, or use --builder buildctl")
    try:
        out = subprocess.run([docker, "buildx", "version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL, env=_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolMissing(f"cannot run `docker buildx version`: {e}") from None
    m = _VERSION_RE.search(out.stdout)
    if out.returncode != 0 or not m:
        raise ToolMissing(f"docker buildx is not installed for {docker}: {INSTALL_HINT}")
    return Buildx(docker, m.group(1))


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(extra or {})
    return env


def _docker(bx: Buildx, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([bx.docker, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=_env())
    except subprocess.TimeoutExpired:
        raise BuildError(f"`docker {' '.join(args)}` did not finish within {timeout:.0f}s") from None
    except OSError as e:
        raise BuildError(f"cannot run docker: {e}") from None


def _last_error(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    return lines[-1] if lines else "no output"


def list_builders(bx: Buildx) -> list[dict]:
    """`docker buildx ls --format json`: one JSON object per builder."""
    out = _docker(bx, "buildx", "ls", "--format", "json")
    if out.returncode != 0:
        raise BuildError(f"docker buildx ls failed: {_last_error(out.stderr)}")
    found = []
    for line in out.stdout.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                found.append(entry)
    return found


def docker_contexts(bx: Buildx) -> set[str]:
    """Names of docker contexts: buildx makes a docker-driver builder of each."""
    out = _docker(bx, "context", "ls", "--format", "{{.Name}}", timeout=30)
    return {ln.strip() for ln in out.stdout.splitlines() if ln.strip()} if out.returncode == 0 else {"default"}


def resolve_builder(bx: Buildx, name: str) -> BuildxBuilder:
    """Find builder `name` ("" = buildx's current builder), refuse the docker driver,
    bootstrap it (a docker-container builder starts its container) and describe it."""
    entries = list_builders(bx)
    entry = next((e for e in entries if (e.get("Name") == name if name else e.get("Current"))), None)
    if entry is None:
        known = ", ".join(sorted(str(e.get("Name")) for e in entries)) or "none"
        raise InputError(f"no buildx builder named {name!r} (builders: {known}); create one with "
                         f"`docker buildx create --name {name or 'repro'} --driver docker-container`")
    name = str(entry.get("Name"))
    driver = str(entry.get("Driver") or "")
    # without a reachable Docker daemon, buildx leaves a docker-driver builder's driver empty
    if driver == "docker" or (not driver and name in docker_contexts(bx)):
        raise InputError(f"buildx builder {name!r} uses the docker driver: {DOCKER_DRIVER_HINT}")
    boot = _docker(bx, "buildx", "inspect", "--bootstrap", name, timeout=300)
    if boot.returncode != 0 or entry.get("Err"):
        raise BuildError(f"buildx builder {name!r} ({driver or 'unknown'} driver) is not usable: "
                         f"{_last_error(boot.stderr) if boot.returncode != 0 else entry.get('Err')}")
    entry = next((e for e in list_builders(bx) if e.get("Name") == name), entry)
    node = (entry.get("Nodes") or [{}])[0] or {}
    labels = node.get("Labels") or {}
    version = str(node.get("Version") or "") or _inspect_version(boot.stdout)
    return BuildxBuilder(name=name, driver=driver, endpoint=str(node.get("Endpoint") or ""),
                         buildkit_version=version, platforms=tuple(node.get("Platforms") or ()),
                         snapshotter=str(labels.get("org.mobyproject.buildkit.worker.snapshotter", "")))


def _inspect_version(text: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith("BuildKit version:"):
            return line.split(":", 1)[1].strip()
    return ""


def buildx_context_args(build_contexts: tuple[str, ...]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """`--build-context` arguments for buildx, and the base digests and sources they pin.

    Validation and digests come from the buildctl path (context_args), so both pin the
    same bases; an oci-layout tag is passed to buildx already resolved to its digest."""
    ctx = context_args(build_contexts)  # raises InputError for bad values, resolves tags
    args: list[str] = []
    for name, value in ctx.sources:
        if value.startswith("oci-layout://"):
            path, digest = resolve_oci_layout(value[len("oci-layout://"):])
            value = f"oci-layout://{path}@{digest}"
        elif "://" not in value:
            value = os.path.abspath(value)
        args += ["--build-context", f"{name}={value}"]
    return args, dict(ctx.base_digests), dict(ctx.sources)


def buildx_argv(bx: Buildx, builder: BuildxBuilder, spec: BuildSpec, context: str, dockerfile: str,
                ctx_args: list[str], exporter: dict[str, str], dest: str, meta_path: str, mode: str) -> list[str]:
    from repro.buildkit.build import _csv_field

    output = ",".join(_csv_field(f"{k}={v}") for k, v in [("type", "oci"), ("dest", dest), *exporter.items()])
    argv = [bx.docker, "buildx", "build", "--builder", builder.name, "--progress", mode,
            "--file", dockerfile, "--build-arg", f"SOURCE_DATE_EPOCH={spec.source_date_epoch}"]
    for arg in spec.build_args:
        argv += ["--build-arg", arg]
    if spec.target:
        argv += ["--target", spec.target]
    if spec.platforms:
        argv += ["--platform", ",".join(spec.platforms)]
    argv += ctx_args
    for secret in spec.secrets:
        argv += ["--secret", secret]
    for ssh in spec.ssh:
        argv += ["--ssh", ssh]
    argv += ["--no-cache", "--provenance=false", "--sbom=false", "--output", output, "--metadata-file", meta_path,
             context]
    return argv


def build_buildx(spec: BuildSpec, out_tar: str, builder: BuildxBuilder, *, bx: Buildx | None = None,
                 progress: str = "auto", vary: Vary | None = None, label: str = "", stderr: IO[str] | None = None,
                 cancel: Cancel | None = None) -> BuildResult:
    """Build `spec` once on the buildx `builder` into the OCI tarball `out_tar`
    (written atomically). Same settings, errors and result as repro.buildkit.build."""
    from repro.buildkit.build import (PROGRESS_MODES, BuildResult, _build_error_text, _run_buildctl, finish_output,
                                      prepare_workspace, progress_mode)

    if progress not in PROGRESS_MODES:
        raise InputError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, not {progress!r}")
    validate_spec(spec)
    bx = bx or find_buildx()
    out_tar = os.path.abspath(out_tar)
    if not os.path.isdir(os.path.dirname(out_tar)):
        raise InputError(f"cannot write {out_tar}: directory {os.path.dirname(out_tar)} does not exist")
    ctx_args, base_digests, sources = buildx_context_args(spec.build_contexts)
    exporter = spec.exporter_options()
    with contextlib.ExitStack() as stack:
        _, context, dockerfile, part, meta_path = prepare_workspace(stack, spec, out_tar, vary)
        sink = stderr or sys.stderr
        mode = progress_mode(progress, label, sink)
        argv = buildx_argv(bx, builder, spec, context, dockerfile, ctx_args, exporter, part, meta_path,
                           "rawjson" if mode == "rawjson" else mode)
        if vary is not None and vary.delay > 0:
            time.sleep(vary.delay)
        if cancel is not None and cancel.fired:
            raise BuildError("build cancelled")
        started = time.monotonic()
        # no git labels or provenance in the metadata file: nothing in the build may depend on them
        env = {"BUILDX_GIT_LABELS": "", "BUILDX_METADATA_PROVENANCE": "disabled",
               "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
        code, lines = _run_buildctl(argv, progress, label, sink, cancel, env, tool="docker buildx")
        duration = time.monotonic() - started
        if code != 0:
            err = BuildError(f"build on buildx builder {builder.name} failed: {_build_error_text(code, lines)}")
            err.output_tail = lines  # type: ignore[attr-defined]
            raise err
        metadata = finish_output(meta_path, part, out_tar, "docker buildx")
    return BuildResult(
        path=out_tar, buildkit_version=builder.buildkit_version, source_date_epoch=int(spec.source_date_epoch or 0),
        exporter=exporter, metadata=metadata, addr=builder.endpoint, daemon=builder.describe(),
        base_digests=base_digests, duration=duration, snapshotter=builder.snapshotter, vary=vary,
        context=context if vary is not None else os.path.abspath(spec.context), build_contexts=sources,
        builder=f"buildx:{builder.name}", driver=builder.driver)


def version_warning(builder: BuildxBuilder) -> str | None:
    """A note when the builder's BuildKit is not the one repro pins (digests depend on it)."""
    if builder.buildkit_version and builder.buildkit_version != BUILDKIT_VERSION:
        return (f"buildx builder {builder.name} runs BuildKit {builder.buildkit_version}, not {BUILDKIT_VERSION}: "
                f"layer digests may differ from builds on {BUILDKIT_VERSION} (cause builder-version); pin it with "
                f"`docker buildx create --driver-opt image=moby/buildkit:{BUILDKIT_VERSION}`")
    return None


# A builder for tests and scripts: the remote driver on a daemon repro started ------------

@contextlib.contextmanager
def remote_builder(addr: str, name: str = "repro-remote", docker_config: str | None = None):
    """Create a buildx builder with the remote driver pointing at `addr` (an ephemeral
    buildkitd's unix socket) in a private DOCKER_CONFIG, so nothing reaches the user's
    ~/.docker; yield (name, docker_config dir). Sets DOCKER_CONFIG for the body and
    removes the builder and the dir afterwards."""
    bx = find_buildx()
    own = docker_config is None
    cfg = docker_config or tempfile.mkdtemp(prefix="repro-docker-config-")
    plugin = _plugin_path(bx)
    saved = os.environ.get("DOCKER_CONFIG")
    try:
        plugins = os.path.join(cfg, "cli-plugins")
        os.makedirs(plugins, exist_ok=True)
        if plugin and not os.path.exists(os.path.join(plugins, "docker-buildx")):
            os.symlink(plugin, os.path.join(plugins, "docker-buildx"))
        os.environ["DOCKER_CONFIG"] = cfg
        made = _docker(bx, "buildx", "create", "--name", name, "--driver", "remote", addr)
        if made.returncode != 0:
            raise BuildError(f"docker buildx create --driver remote {addr} failed: {_last_error(made.stderr)}")
        yield name, cfg
    finally:
        with contextlib.suppress(Exception):
            _docker(bx, "buildx", "rm", "--force", name, timeout=30)
        if saved is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = saved
        if own:
            shutil.rmtree(cfg, ignore_errors=True)


def _plugin_path(bx: Buildx) -> str | None:
    """Where the docker CLI found its buildx plugin (`docker info` lists plugins without a daemon)."""
    out = subprocess.run([bx.docker, "info", "--format", "{{json .ClientInfo.Plugins}}"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL, env=_env())
    with contextlib.suppress(ValueError, TypeError):
        for plugin in json.loads(out.stdout.strip() or "[]"):
            if plugin.get("Name") == "buildx" and plugin.get("Path"):
                return os.path.realpath(plugin["Path"])
    return None


__all__ = ["BUILDX_VERSION", "Buildx", "BuildxBuilder", "DOCKER_DRIVER_HINT", "build_buildx", "buildx_argv",
           "find_buildx", "parse_builder", "remote_builder", "resolve_builder", "version_warning"]
