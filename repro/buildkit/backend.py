"""The backend protocol: what the orchestrator (repro.buildkit.orchestrator) needs from a
way of running one build, implemented by buildctl (repro.buildkit.buildctl) and
`docker buildx build` (repro.buildkit.buildx).

A backend knows one builder: which BuildKit it is (`describe`), the client command
line and environment for one build (`invocation`), how a failed client run reads as an
error (`failure`), and whether repro can reach inside its RUN steps (`run_steps`). The orchestrator does everything else once for every backend:
validation, the private work dir, the varied context copy, start times, the process
(repro.buildkit.runner), the `.part` file, the metadata file and the BuildResult.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Hashable, Protocol

from repro.buildkit.runner import ClientRun
from repro.buildkit.spec import BuildSpec, ContextArgs, Push
from repro.errors import BuildError


@dataclass(frozen=True)
class BuilderInfo:
    """Where a build ran, as the report names it."""

    name: str                # BuildResult.builder: "buildctl" or "buildx:NAME"
    driver: str              # buildctl: "ephemeral" (repro's own daemon) or "remote" (--addr);
                             # buildx: the builder's driver (docker-container, kubernetes, remote)
    daemon: str              # e.g. "ephemeral rootful buildkitd v0.32.2 (overlayfs) at unix://..."
    buildkit_version: str    # "v0.32.2"
    addr: str = ""
    snapshotter: str = ""


@dataclass(frozen=True)
class Workspace:
    """One build's private files, made by the orchestrator before the client runs."""

    work: str                # private temp dir, removed after the build
    context: str             # the context to send (a varied copy under --vary)
    dockerfile: str          # the Dockerfile to send
    part: str | None         # where the client writes the OCI tarball (renamed on success)
    metadata: str            # where the client writes its --metadata-file


@dataclass(frozen=True)
class Invocation:
    """A client command line and the whole environment it runs with."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSteps:
    """Whether repro can vary what RUN steps see on a backend (repro.buildkit.variations):
    only on a daemon repro started itself, whose runc is repro's wrapper."""

    dir: str | None        # that daemon's dir (where the wrapper reads its plan)
    unreachable: str = ""  # when dir is None: why not, in words for the report


class Backend(Protocol):
    tool: str  # the client, for messages: "buildctl", "docker buildx"

    def describe(self) -> BuilderInfo:
        """Who builds: asked once per build, before the client runs."""
        ...

    def serial_key(self) -> Hashable:
        """Builds whose backends share a key share a solver: the orchestrator runs them one
        after the other, so that the solver cannot merge them."""
        ...

    def invocation(self, spec: BuildSpec, contexts: ContextArgs, ws: Workspace, mode: str,
                   push: Push | None) -> Invocation:
        """The client command for one build of `spec` in `ws`; `mode` is its --progress.
        InputError for what this backend cannot do (e.g. push)."""
        ...

    def failure(self, run: ClientRun, who: str) -> BuildError:
        """The error for a client run that exited non-zero; `who` names the build
        ("build", "build 2")."""
        ...

    def run_steps(self) -> RunSteps:
        """Whether RUN-step variations can be applied here (see RunSteps)."""
        ...


def csv_field(value: str) -> str:
    """One field of a CSV-valued option (--output type=oci,dest=...), quoted as needed."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def output_option(pairs: list[tuple[str, str]]) -> str:
    """A client's `--output` value from key/value pairs."""
    return ",".join(csv_field(f"{k}={v}") for k, v in pairs)
