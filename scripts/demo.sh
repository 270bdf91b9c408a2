#!/usr/bin/env bash
# The main job, from a fresh machine: `repro check` on an example context with a
# nondeterministic step, on two fresh ephemeral BuildKit daemons. Exits 1 (not reproducible).
# Installs only what the main job needs (scripts/setup-runtime.sh), not the test tools.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/setup-runtime.sh" || exit 2
cd "$(dirname "$here")"
ctx="${1:-testdata/contexts/clock-in-file}"
# The offline base image (busybox-static as an OCI layout): no registry is needed.
base="${XDG_CACHE_HOME:-$HOME/.cache}/repro/base"
"${PYTHON:-python3}" testdata/make_base.py "$base" >/dev/null || exit 2
# --vary: the second build starts later, from a copy of the context at another path with
# shifted file mtimes, so nondeterminism that depends on the clock or paths shows up.
set -x
repro check "$ctx" --vary --source-date-epoch 1700000000 --build-context "base=oci-layout://$base"
