"""The runtime place of variations: the runc wrapper an ephemeral daemon runs, the plan
it reads before each RUN step, and the log it writes.

Files in a daemon's dir (see repro.buildkit.daemon):
    runc                the script buildkitd runs as runc (--oci-worker-binary)
    runc-wrapper.py     a copy of _runc_wrapper.py
    variations.json     the plan of the build running now (absent: no RUN-step variation)
    variations/         files the plan bind-mounts (meminfo, cpu-online, ...) and logs

The script calls the Python wrapper only for `runc run` / `runc create` while a plan
exists, so a control build pays nothing; every other runc call goes straight to runc.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys

WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_runc_wrapper.py")
PLAN = "variations.json"
FILES = "variations"


def install(directory: str, runc: str) -> str:
    """Write the runc script and the wrapper into a daemon's `directory`; return the
    script's path (buildkitd's --oci-worker-binary)."""
    state = os.path.join(directory, "runc-state")
    shutil.copyfile(WRAPPER, os.path.join(directory, "runc-wrapper.py"))
    runc_cmd = f"{shlex.quote(runc)} --root {shlex.quote(state)}"
    python = shlex.quote(sys.executable)
    plan = shlex.quote(os.path.join(directory, PLAN))
    wrapper = shlex.quote(os.path.join(directory, "runc-wrapper.py"))
    script = os.path.join(directory, "runc")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                "# runc with its state in this daemon's dir instead of the shared /run/runc;\n"
                "# RUN steps of a varied build go through repro's wrapper (see variations.json)\n"
                f"if [ -s {plan} ]; then\n"
                '  for a in "$@"; do case "$a" in run|create)\n'
                f'    exec {python} -I -S {wrapper} {plan} {runc_cmd} -- "$@";; esac; done\n'
                "fi\n"
                f'exec {runc_cmd} "$@"\n')
    os.chmod(script, 0o755)
    return script


def write_plan(directory: str, edits: list[dict], log: str, sync: dict | None = None) -> None:
    """The plan for the next build on the daemon in `directory` (atomically: RUN steps
    of a build running meanwhile read the old plan or the new, never half of one)."""
    path = os.path.join(directory, PLAN)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"log": log, "edits": edits, **({"sync": sync} if sync else {})}, f)
    os.replace(tmp, path)


def clear_plan(directory: str) -> None:
    try:
        os.unlink(os.path.join(directory, PLAN))
    except FileNotFoundError:
        pass


def read_log(path: str) -> list[dict]:
    """The wrapper's records, one per RUN step (container) of the build."""
    records = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records
