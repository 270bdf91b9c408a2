"""Real BuildKit builds under reproducibility settings.

    spec = BuildSpec(context="app", source_date_epoch=resolve_source_date_epoch("app", None),
                     build_contexts=("base=oci-layout://base-layout",))
    result = build(spec, "out.tar")                   # a fresh ephemeral daemon, torn down after
    results = build_many(spec, 2, "out/", vary="default")  # two daemons in parallel, second varied

Modules, in the order data flows:
  spec          what to build (BuildSpec, Push), the epoch, build contexts
  tools         find the pinned BuildKit and the helpers the daemons need
  daemon        EphemeralDaemon: a private buildkitd, always torn down
  runner        the one process runner for build clients (progress, error lines, Cancel)
  backend       the backend protocol, implemented by
  buildctl        buildctl on a daemon (ours or --addr)
  buildx          `docker buildx build` on a buildx builder
  orchestrator  one build (build, run_build) or N (build_many, BuildSession); BuildResult
  variations/   what a varied build changes
  doctor        prerequisite checks;  procs: process/mount/signal housekeeping
"""

from repro.buildkit.backend import Backend, BuilderInfo
from repro.buildkit.buildctl import BuildctlBackend
from repro.buildkit.daemon import DaemonInfo, EphemeralDaemon, daemon_info, sweep_stale
from repro.buildkit.doctor import Check, doctor
from repro.buildkit.orchestrator import BuildResult, BuildSession, build, build_many, run_build
from repro.buildkit.runner import buildkit_error_lines
from repro.buildkit.spec import BuildSpec, Push, context_args, resolve_oci_layout, resolve_source_date_epoch
from repro.buildkit.tools import Tools, find_buildkit
from repro.buildkit.variations import Applied, Selection, select

__all__ = [
    "Backend", "BuildResult", "BuildSession", "BuildSpec", "BuildctlBackend", "BuilderInfo", "Check", "DaemonInfo",
    "EphemeralDaemon", "Push", "Selection", "Tools", "Applied", "build", "build_many", "buildkit_error_lines", "context_args",
    "daemon_info", "doctor", "find_buildkit", "resolve_oci_layout", "resolve_source_date_epoch", "run_build",
    "select", "sweep_stale",
]
