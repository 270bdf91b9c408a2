#!/usr/bin/env bash
# Install docker buildx (the docker CLI plugin) at the version that vendors repro's pinned
# BuildKit, into a cache dir keyed by version, and link it as a docker CLI plugin.
#
# Debian 12 ships no docker-buildx package (newer suites do: there, `apt-get install
# docker-buildx` puts the plugin in /usr/libexec/docker/cli-plugins and this script uses it).
# Otherwise buildx is built from the Go module proxy with the machine's Go, as
# install-buildkit.sh does for BuildKit: `go mod download` the module, `go build ./cmd/buildx`
# from a writable copy.
#
# The plugin is linked as ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-buildx unless a
# docker-buildx is already there. `repro check --builder buildx:NAME` runs `docker buildx`, so
# the docker CLI must find it; no Docker daemon is needed for the `remote` driver.
#
# Prints the plugin binary's path on the last line of stdout.
set -euo pipefail

VERSION="${BUILDX_VERSION:-v0.36.1}"  # vendors github.com/moby/buildkit v0.32.2
TOOLS="${REPRO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/repro/tools}"
DIR="$TOOLS/buildx/$VERSION"
PLUGINS="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

log() { echo "install-buildx: $*" >&2; }

have_version() {  # $1 = plugin binary: `docker-buildx version` prints "github.com/docker/buildx vX.Y.Z <rev>"
  "$1" version 2>/dev/null | grep -q " $VERSION "
}

link_plugin() {  # $1 = binary
  mkdir -p "$PLUGINS"
  if [ -e "$PLUGINS/docker-buildx" ] && ! [ -L "$PLUGINS/docker-buildx" ]; then
    log "$PLUGINS/docker-buildx exists and is not ours: left alone"
  else
    ln -sfn "$1" "$PLUGINS/docker-buildx"
  fi
  echo "$1"
}

mkdir -p "$TOOLS/buildx"
exec 9>"$TOOLS/buildx/.install.lock"
flock 9

for sys in /usr/libexec/docker/cli-plugins/docker-buildx /usr/lib/docker/cli-plugins/docker-buildx \
           /usr/local/lib/docker/cli-plugins/docker-buildx; do
  if [ -x "$sys" ] && have_version "$sys"; then echo "$sys"; exit 0; fi
done
if [ -x "$DIR/docker-buildx" ] && have_version "$DIR/docker-buildx"; then
  link_plugin "$DIR/docker-buildx"; exit 0
fi

command -v go >/dev/null || { log "go is needed to build buildx $VERSION (or apt-get install docker-buildx on Debian 13+)"; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work" "${tmpdir:-}"' EXIT
log "building docker buildx $VERSION from the Go module proxy (takes a few minutes)"
export GOPATH="${GOPATH:-$(go env GOPATH)}" GOFLAGS=-mod=mod
read -r dir rev < <(cd "$work" && go mod download -json "github.com/docker/buildx@$VERSION" \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["Dir"], (m.get("Origin") or {}).get("Hash", "")[:7] or "unknown")')
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
tmpdir=$(mktemp -d "$DIR.tmp.XXXXXX")
( cd "$work/src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/buildx/version.Version=$VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx -X github.com/docker/buildx/version.Revision=$rev" \
    -o "$tmpdir/docker-buildx" ./cmd/buildx ) >&2
chmod 755 "$tmpdir" "$tmpdir/docker-buildx"
rm -rf "$DIR"; mv "$tmpdir" "$DIR"
have_version "$DIR/docker-buildx" || { log "built buildx does not report $VERSION: $("$DIR/docker-buildx" version)"; exit 1; }
log "installed $("$DIR/docker-buildx" version) into $DIR"
link_plugin "$DIR/docker-buildx"
