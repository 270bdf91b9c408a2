"""Real BuildKit builds under reproducibility settings.

    spec = BuildSpec(context="app", source_date_epoch=resolve_source_date_epoch("app", None),
                     build_contexts=("base=oci-layout://base-layout",))
    result = build(spec, "out.tar")                 # a fresh ephemeral daemon, torn down after
    results = build_many(spec, 2, "out/", vary=True)  # two daemons in parallel, second perturbed

Modules: spec (BuildSpec, epoch, build contexts), tools (find the pinned BuildKit),
daemon (EphemeralDaemon), build (build, build_many, BuildResult), vary (perturbed
inputs), doctor (prerequisite checks), procs (process/mount/signal housekeeping).
"""

from repro.buildkit.build import BuildResult, Push, build, build_many, buildkit_error_lines
from repro.buildkit.daemon import DaemonInfo, EphemeralDaemon, daemon_info, sweep_stale
from repro.buildkit.doctor import Check, doctor
from repro.buildkit.spec import BuildSpec, context_args, resolve_oci_layout, resolve_source_date_epoch
from repro.buildkit.tools import Tools, find_buildkit
from repro.buildkit.vary import Vary

__all__ = [
    "BuildResult", "BuildSpec", "Check", "DaemonInfo", "EphemeralDaemon", "Push", "Tools", "Vary", "build",
    "build_many", "buildkit_error_lines", "context_args", "daemon_info", "doctor", "find_buildkit",
    "resolve_oci_layout", "resolve_source_date_epoch", "sweep_stale",
]
