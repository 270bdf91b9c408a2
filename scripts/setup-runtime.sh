#!/usr/bin/env bash
# What the main job needs on a fresh Debian machine (`repro check` on ephemeral BuildKit
# daemons), nothing more; skips what is there. Sourced by scripts/demo.sh and
# scripts/setup.sh; prints nothing on stdout. Leaves PYTHON set (lib.sh: use_python) and
# the pinned BuildKit first on PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

log() { echo "setup: $*" >&2; }
source "$here/lib.sh"

# runc: the OCI runtime the daemons run steps with; rootlesskit + uidmap: daemons when not
# root; util-linux: unshare/setpriv for ephemeral daemons; libfaketime: check's time
# variation; busybox-static: the demo's offline base image (no registry is reachable).
mapfile -t missing < <(apt_missing runc rootlesskit uidmap util-linux libfaketime busybox-static)
apt_install ${missing[@]+"${missing[@]}"}

# repro itself, editable from this checkout.
use_python
pip_install_repro "$root"

# BuildKit (pinned), built from the Go module proxy into a cache keyed by version: the
# package's own installer (repro/buildkit/install.py).
bkbin="$("$PYTHON" -m repro install-buildkit | tail -n 1)"
export PATH="$bkbin:$PATH"
