#!/usr/bin/env bash
# The main job, from a fresh machine: `repro check` on an example context with a
# nondeterministic step, on two fresh ephemeral BuildKit daemons. Exits 1 (not reproducible).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/setup.sh" || exit 2
cd "$(dirname "$here")"
ctx="${1:-testdata/contexts/clock-in-file}"
base="$("${PYTHON:-python3}" testdata/make_base.py)" || exit 2
set -x
repro check "$ctx" --source-date-epoch 1700000000 --build-context "base=oci-layout://$base"
