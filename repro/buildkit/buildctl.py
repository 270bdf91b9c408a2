"""The buildctl backend: builds on one buildkitd, repro's own ephemeral daemon or one
at an address (--addr, $BUILDKIT_HOST).

Every build runs with --no-cache, SOURCE_DATE_EPOCH as a build arg, and the OCI exporter
with rewrite-timestamp, explicit media types and forced gzip; no attestations are
requested (note: an empty `attest:provenance=` would turn provenance *on*, because
BuildKit keys on the option's presence).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from typing import Hashable

from repro.buildkit.backend import BuilderInfo, Invocation, RunSteps, Workspace, output_option
from repro.buildkit.daemon import EphemeralDaemon, daemon_info
from repro.buildkit.runner import ClientRun
from repro.buildkit.spec import BuildSpec, ContextArgs, Push
from repro.buildkit.tools import Tools
from repro.errors import BuildError, InputError

# a broken connection to the daemon: it may have died
# what buildctl says when the daemon's connection breaks (grpc's wording varies with the moment:
# "rpc error: code = Unavailable ...", "Unavailable: connection error: ... connection reset by peer")
_TRANSPORT_ERRORS = ("code = Unavailable", "Unavailable: connection error", "error reading from server",
                     "connection refused", "connection reset by peer", "broken pipe")


@dataclass(frozen=True)
class ClientTLS:
    """buildctl's client side of mutual TLS with a tcp:// buildkitd (its --tlscacert,
    --tlscert, --tlskey, --tlsservername): the CA that signed the daemon's certificate,
    and the certificate and key the daemon's CA signed for us."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    servername: str | None = None

    def __bool__(self) -> bool:
        return any((self.cacert, self.cert, self.key, self.servername))

    def args(self) -> list[str]:
        out: list[str] = []
        for flag, value in (("--tlscacert", self.cacert), ("--tlscert", self.cert), ("--tlskey", self.key),
                            ("--tlsservername", self.servername)):
            if value:
                out += [flag, os.path.abspath(value) if flag != "--tlsservername" else value]
        return out

    def validate(self) -> None:
        """InputError for a file that is not there, or a certificate without its key."""
        for flag, value in (("--tlscacert", self.cacert), ("--tlscert", self.cert), ("--tlskey", self.key)):
            if value and not os.path.isfile(value):
                raise InputError(f"{flag} {value}: not a file")
        if bool(self.cert) != bool(self.key):
            raise InputError("--tlscert and --tlskey go together (the client certificate and its key)")


@dataclass
class BuildctlBackend:
    """buildctl against `addr`; `daemon` when it is an EphemeralDaemon repro started
    (then the report calls the driver "ephemeral", and a build failure checks whether
    the daemon died). `tls`: client certificates for a tcp:// daemon with mutual TLS."""

    tools: Tools
    addr: str
    daemon: EphemeralDaemon | None = None
    tool: str = "buildctl"
    tls: ClientTLS | None = None

    def _tls_args(self) -> list[str]:
        return self.tls.args() if self.tls and self.daemon is None else []

    @classmethod
    def on(cls, daemon: EphemeralDaemon) -> BuildctlBackend:
        assert daemon.tools is not None
        return cls(daemon.tools, daemon.addr, daemon)

    def describe(self) -> BuilderInfo:
        d = self.daemon
        info = d.info if d is not None and d.info.worker_id else daemon_info(self.tools, self.addr,
                                                                            tls_args=self._tls_args())
        return BuilderInfo(
            name="buildctl", driver="ephemeral" if d is not None else "remote",
            daemon=d.describe() if d is not None else f"buildkitd {info.buildkit_version} at {self.addr}",
            buildkit_version=info.buildkit_version, addr=self.addr, snapshotter=info.snapshotter)

    def serial_key(self) -> Hashable:
        return ("addr", self.addr)

    def invocation(self, spec: BuildSpec, contexts: ContextArgs, ws: Workspace, mode: str,
                   push: Push | None) -> Invocation:
        argv = buildctl_argv(self.tools, self.addr, spec, ws.context, ws.dockerfile, contexts.args,
                             spec.exporter_options(), ws.part, ws.metadata, mode, push, tls_args=self._tls_args())
        env = {k: v for k, v in os.environ.items() if k not in ("BUILDKIT_HOST", "SOURCE_DATE_EPOCH")}
        if push is not None:
            env.update(_push_auth_env(push, ws.work))
        return Invocation(argv, env)

    def run_steps(self) -> RunSteps:
        d = self.daemon
        if d is None:
            return RunSteps(None, f"buildkitd at {self.addr} was not started by repro, so repro cannot reach "
                                  "inside its RUN steps")
        if d.run_steps_unreachable:
            return RunSteps(None, d.run_steps_unreachable)
        return RunSteps(d.dir)

    def failure(self, run: ClientRun, who: str) -> BuildError:
        message = run.error_text()
        d = self.daemon
        if d is not None and d.proc is not None and any(m in message for m in _TRANSPORT_ERRORS):
            with contextlib.suppress(subprocess.TimeoutExpired):
                d.proc.wait(timeout=5)  # the connection broke: give a dying daemon time to be seen dead
        if d is not None and not d.alive():
            status = d.proc.returncode if d.proc is not None else None
            err = BuildError(f"{who}: buildkitd at {self.addr} died during the build (status {status}): {message}; "
                             f"daemon log: {d.log_tail(6)}")
        else:
            err = run.failure(who)
        err.output_tail = run.lines  # type: ignore[attr-defined]
        return err


def buildctl_argv(tools: Tools, addr: str, spec: BuildSpec, context: str, dockerfile: str,
                  ctx_args: tuple[str, ...], exporter: dict[str, str], dest: str | None, meta_path: str,
                  mode: str, push: Push | None = None, tls_args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`buildctl build` with the reproducibility settings (see the module docstring);
    `tls_args`: ClientTLS.args() for a tcp:// daemon."""
    outputs = []
    if dest is not None:
        outputs.append([("type", "oci"), ("dest", dest), *exporter.items()])
    if push is not None:  # the image exporter takes the same reproducibility options
        outputs.append([("type", "image"), ("name", push.name), ("push", "true"), *exporter.items(),
                        *([("registry.insecure", "true")] if push.insecure else [])])
    argv = [tools.buildctl, "--addr", addr, *tls_args, "build", "--progress", mode, "--frontend", "dockerfile.v0",
            "--local", f"context={context}", "--local", f"dockerfile={os.path.dirname(dockerfile)}",
            "--opt", f"filename={os.path.basename(dockerfile)}",
            "--opt", f"build-arg:SOURCE_DATE_EPOCH={spec.source_date_epoch}"]
    for arg in spec.build_args:
        argv += ["--opt", f"build-arg:{arg}"]
    for label in spec.labels:
        argv += ["--opt", f"label:{label}"]
    if spec.target:
        argv += ["--opt", f"target={spec.target}"]
    if spec.platforms:
        argv += ["--opt", "platform=" + ",".join(spec.platforms)]
    argv += list(ctx_args)
    for secret in spec.secrets:
        argv += ["--secret", secret]
    for ssh in spec.ssh:
        argv += ["--ssh", ssh]
    if spec.no_cache:
        argv.append("--no-cache")
    for output in outputs:
        argv += ["--output", output_option(output)]
    argv += ["--metadata-file", meta_path]
    return argv


def _push_auth_env(push: Push, work: str) -> dict[str, str]:
    """buildctl reads registry credentials from docker's config only ($DOCKER_CONFIG or
    ~/.docker). When repro finds the push registry's credentials in REGISTRY_AUTH_FILE,
    show buildctl that file through a symlink in the build's private temp dir: the same
    format, and the secret is never copied."""
    from repro.oci.reference import parse_reference
    from repro.oci.registry_auth import credentials_file

    host = parse_reference("docker://" + push.name).registry
    found = credentials_file(host)
    if found is None or found != os.environ.get("REGISTRY_AUTH_FILE"):
        return {}
    config_dir = os.path.join(work, "docker-config")
    os.mkdir(config_dir, 0o700)
    os.symlink(os.path.abspath(found), os.path.join(config_dir, "config.json"))
    return {"DOCKER_CONFIG": config_dir}
