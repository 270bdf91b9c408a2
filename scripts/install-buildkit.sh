#!/usr/bin/env bash
# Install the pinned BuildKit (buildctl + buildkitd) into a cache dir keyed by version,
# and the Debian packages the daemons need (runc, rootlesskit, uidmap).
#
# The BuildKit part is `repro install-buildkit` (repro/buildkit/install.py, shipped in the
# package, so a pip-installed repro does the same): binaries on PATH or in
# $REPRO_TOOLS_DIR/buildkit/<version>/bin are used when their version matches; otherwise
# BuildKit is built from the Go module proxy with the machine's Go.
#
# Users with internet may instead unpack a release archive:
#   https://github.com/moby/buildkit/releases/download/v0.32.2/buildkit-v0.32.2.linux-amd64.tar.gz
# and put its bin/ on PATH (or in $REPRO_TOOLS_DIR/buildkit/v0.32.2/bin).
#
# Needs repro importable by $PYTHON (scripts/setup-runtime.sh installs it; from a bare
# checkout, PYTHONPATH=. with click installed also works). Prints the bin directory on
# the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "install-buildkit: $*" >&2; }

# Debian packages the daemons need.
need=()
command -v runc >/dev/null || need+=(runc)
command -v rootlesskit >/dev/null || need+=(rootlesskit)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v setpriv >/dev/null && command -v unshare >/dev/null || need+=(util-linux)  # ephemeral daemons
source "$here/lib.sh"
apt_install ${need[@]+"${need[@]}"}

exec "${PYTHON:-python3}" -m repro install-buildkit
