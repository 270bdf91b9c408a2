#!/usr/bin/env bash
# Install the pinned BuildKit (buildctl + buildkitd) into a cache dir keyed by version,
# and the Debian packages the daemons need (runc, rootlesskit, uidmap).
#
# Binaries already on PATH are used when their version matches. Otherwise BuildKit is
# built from the Go module proxy: `go install ...@vX` refuses because BuildKit's go.mod
# has `exclude` directives, so we download the module and `go build` from a writable copy.
#
# Users with internet may instead unpack a release archive:
#   https://github.com/moby/buildkit/releases/download/v0.32.2/buildkit-v0.32.2.linux-amd64.tar.gz
# and put its bin/ on PATH (or in $REPRO_TOOLS_DIR/buildkit/v0.32.2/bin).
#
# Prints the bin directory on the last line of stdout.
set -euo pipefail

VERSION="${BUILDKIT_VERSION:-v0.32.2}"
TOOLS="${REPRO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/repro/tools}"
BIN="$TOOLS/buildkit/$VERSION/bin"

log() { echo "install-buildkit: $*" >&2; }

have_version() {  # $1 = binary path
  "$1" --version 2>/dev/null | grep -q " $VERSION " 
}

# Debian packages the daemons need.
need=()
command -v runc >/dev/null || need+=(runc)
command -v rootlesskit >/dev/null || need+=(rootlesskit)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v setpriv >/dev/null && command -v unshare >/dev/null || need+=(util-linux)  # ephemeral daemons
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
apt_install ${need[@]+"${need[@]}"}

# One install at a time (CI jobs and test sessions may start together).
mkdir -p "$TOOLS/buildkit"
exec 9>"$TOOLS/buildkit/.install.lock"
flock 9

# Already on PATH with the right version?
if pb=$(command -v buildctl) && pd=$(command -v buildkitd) && have_version "$pb" && have_version "$pd"; then
  dirname "$pb"; exit 0
fi
if [ -x "$BIN/buildctl" ] && [ -x "$BIN/buildkitd" ] && have_version "$BIN/buildctl" && have_version "$BIN/buildkitd"; then
  echo "$BIN"; exit 0
fi

command -v go >/dev/null || { log "go is needed to build BuildKit $VERSION (or put the release binaries on PATH)"; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work" "${tmpbin:-}"' EXIT
log "building BuildKit $VERSION from the Go module proxy (takes a few minutes)"
export GOPATH="${GOPATH:-$(go env GOPATH)}" GOFLAGS=-mod=mod
dir=$(cd "$work" && go mod download -json "github.com/moby/buildkit@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$(dirname "$BIN")"
tmpbin=$(mktemp -d "$BIN.tmp.XXXXXX")
( cd "$work/src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
    -o "$tmpbin/" ./cmd/buildctl ./cmd/buildkitd ) >&2
chmod 755 "$tmpbin" "$tmpbin"/*
rm -rf "$BIN"; mv "$tmpbin" "$BIN"
have_version "$BIN/buildctl" || { log "built buildctl does not report $VERSION: $("$BIN/buildctl" --version)"; exit 1; }
log "installed $("$BIN/buildctl" --version) into $BIN"
echo "$BIN"
