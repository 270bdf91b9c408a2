"""The buildx backend: builds through `docker buildx build` on a named buildx builder,
behind the same backend protocol (repro.buildkit.backend) as buildctl.

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
repro.buildkit.orchestrator): one BuildKit's solver could otherwise merge them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Hashable

from repro.buildkit.backend import BuilderInfo, Invocation, RunSteps, Workspace, output_option
from repro.buildkit.runner import ClientRun
from repro.buildkit.spec import BuildSpec, ContextArgs, Push, split_oci_layout_ref
from repro.errors import BuildError, InputError, ToolMissing

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


def buildx_context_args(contexts: ContextArgs) -> list[str]:
    """`--build-context` arguments for buildx from the contexts the buildctl path
    validated and pinned (context_args), so both pin the same bases; an oci-layout tag
    is passed to buildx already resolved to its digest."""
    args: list[str] = []
    digests = dict(contexts.base_digests)
    for name, value in contexts.sources:
        if value.startswith("oci-layout://"):
            path = split_oci_layout_ref(value[len("oci-layout://"):])[0]
            value = f"oci-layout://{os.path.abspath(path)}@{digests[name]}"
        elif "://" not in value:
            value = os.path.abspath(value)
        args += ["--build-context", f"{name}={value}"]
    return args


def buildx_argv(bx: Buildx, builder: BuildxBuilder, spec: BuildSpec, context: str, dockerfile: str,
                ctx_args: list[str], exporter: dict[str, str], dest: str, meta_path: str, mode: str) -> list[str]:
    output = output_option([("type", "oci"), ("dest", dest), *exporter.items()])
    argv = [bx.docker, "buildx", "build", "--builder", builder.name, "--progress", mode,
            "--file", dockerfile, "--build-arg", f"SOURCE_DATE_EPOCH={spec.source_date_epoch}"]
    for arg in spec.build_args:
        argv += ["--build-arg", arg]
    for label in spec.labels:
        argv += ["--label", label]
    if spec.target:
        argv += ["--target", spec.target]
    if spec.platforms:
        argv += ["--platform", ",".join(spec.platforms)]
    argv += ctx_args
    for secret in spec.secrets:
        argv += ["--secret", secret]
    for ssh in spec.ssh:
        argv += ["--ssh", ssh]
    if spec.no_cache:
        argv.append("--no-cache")
    argv += ["--provenance=false", "--sbom=false", "--output", output, "--metadata-file", meta_path, context]
    return argv


@dataclass
class BuildxBackend:
    """`docker buildx build` on one buildx builder (resolved with resolve_builder)."""

    bx: Buildx
    builder: BuildxBuilder
    tool: str = "docker buildx"

    def describe(self) -> BuilderInfo:
        b = self.builder
        return BuilderInfo(name=f"buildx:{b.name}", driver=b.driver, daemon=b.describe(),
                           buildkit_version=b.buildkit_version, addr=b.endpoint, snapshotter=b.snapshotter)

    def serial_key(self) -> Hashable:
        return ("buildx", self.builder.name)

    def invocation(self, spec: BuildSpec, contexts: ContextArgs, ws: Workspace, mode: str,
                   push: Push | None) -> Invocation:
        if push is not None:
            raise InputError(f"--builder buildx:{self.builder.name} writes an OCI tarball with -o; "
                             "--push is for buildctl")
        if ws.part is None:
            raise InputError(f"--builder buildx:{self.builder.name} needs an output tarball (-o)")
        argv = buildx_argv(self.bx, self.builder, spec, ws.context, ws.dockerfile, buildx_context_args(contexts),
                           spec.exporter_options(), ws.part, ws.metadata, mode)
        # no git labels or provenance in the metadata file: nothing in the build may depend on them
        return Invocation(argv, _env({"BUILDX_GIT_LABELS": "", "BUILDX_METADATA_PROVENANCE": "disabled",
                                      "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}))

    def run_steps(self) -> RunSteps:
        return RunSteps(None, f"buildx builder {self.builder.name} ({self.builder.driver} driver) runs a BuildKit "
                              "repro did not start, so repro cannot reach inside its RUN steps")

    def failure(self, run: ClientRun, who: str) -> BuildError:
        err = run.failure(f"{who} on buildx builder {self.builder.name}")
        err.output_tail = run.lines  # type: ignore[attr-defined]
        return err


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


__all__ = ["BUILDX_VERSION", "Buildx", "BuildxBackend", "BuildxBuilder", "DOCKER_DRIVER_HINT", "buildx_argv",
           "find_buildx", "parse_builder", "remote_builder", "resolve_builder"]
