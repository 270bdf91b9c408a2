#!/usr/bin/env bash
# Install the peers that benchmarks/bench_diff.py times next to `repro diff`:
# diffoci v0.1.8 (Go, from the Go module proxy) and diffoscope (PyPI), plus the Debian
# packages they call. Each goes into a cache dir keyed by version and is skipped when
# already there:
#   $TOOLS/diffoci/v0.1.8/bin/diffoci
#   $TOOLS/diffoscope/332/venv/bin/diffoscope
# with TOOLS=${REPRO_TOOLS_DIR:-${XDG_CACHE_HOME:-~/.cache}/repro/tools}.
# The last lines of stdout are the executables (diffoci first). With arguments, only the
# tools named (`diffoci`, `diffoscope`) are installed: scripts/setup.sh wants diffoscope only.
#
# What we found out (diffoci v0.1.8 source, read from the module cache after
# `go mod download github.com/reproducible-containers/diffoci@v0.1.8`):
#
# * `go install ...@v0.1.8` fails on this network: before building, go looks up the
#   module's deprecation through `@v/list`, which the proxy answers with 403. After a
#   `go mod download` of that exact version the module cache holds a `list` file, so
#   `go install` with GOPROXY=file://$GOMODCACHE/cache/download,$GOPROXY succeeds (the
#   dependencies still come from the real proxy through the fallback).
# * No containerd is needed. `--backend` is auto|containerd|local; auto tries the
#   containerd socket and silently falls back to `local`: a containerd content store +
#   bbolt metadata DB in `--local-cache DIR` (default /var/cache/diffoci as root). We pass
#   `--backend=local --local-cache=<fresh dir>` so nothing outside the bench dir is used.
# * `diffoci load --input A.tar` (or `< A.tar`) imports a docker-archive or OCI archive
#   (tar, optionally compressed) with containerd's transfer service. The image NAME comes
#   from the archive's index.json: the `io.containerd.image.name` annotation (a full
#   reference, kept as is) or else `org.opencontainers.image.ref.name` (a bare tag
#   becomes `unused:TAG`, which `diff` can't look up since it normalises names to
#   docker.io/library/...). There is no flag to name the image at load time, and two
#   archives carrying the same name overwrite each other. So each archive must carry a
#   unique full name such as `docker.io/library/bench-a:latest`; an archive without
#   either annotation fails with "no image name found".
# * `diffoci diff --pull=never IMAGE0 IMAGE1` then compares the two stored images
#   (default `--platform linux/amd64`). Strict by default; `--semantic` ignores file and
#   image timestamps, history, file order and tar format. Entries are paired by name but
#   their index in the tar is compared too (strict mode), so one file inserted in the
#   middle of a layer makes every later entry differ. Output is a tab-aligned table
#   TYPE NAME INPUT-0 INPUT-1 on stdout (types Desc, Idx, Mani, Cfg, Layer, File); exit
#   0 equal, 1 differences, 2 error. Layers are read with Go's tar + gzip, no size limit
#   below 4 GiB compressed.
#
# diffoscope (PyPI, pure Python) looks inside an OCI archive this way: python-magic
# (needs libmagic1) recognises the tar, libarchive-c (needs the libarchive13 shared
# library) lists and extracts it, the gzip layer is decompressed by running the external
# `gzip -d -c`, then the inner tar goes through libarchive again and each differing member
# is compared with `diff` (diffutils), `cmp` and, for binary data, `xxd`. Missing tools
# only make it fall back to less detail, so we install them when absent.
# The catch: archive members are paired by NAME, and an OCI archive names blobs by their
# digest, so two images whose layers differ have no member names in common beyond
# index.json. Without the optional `tlsh` module diffoscope then only reports the
# archives' file lists and index.json and never opens a layer; with it (PyPI `py-tlsh`)
# it fuzzy-matches the renamed blobs ("Files 82% similar despite different names") and
# descends into gzip -> tar -> files. So py-tlsh is part of the install.
set -euo pipefail

DIFFOCI_VERSION="${DIFFOCI_VERSION:-v0.1.8}"
DIFFOSCOPE_VERSION="${DIFFOSCOPE_VERSION:-332}"
TOOLS="${REPRO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/repro/tools}"
DIFFOCI_BIN="$TOOLS/diffoci/$DIFFOCI_VERSION/bin/diffoci"
DIFFOSCOPE_VENV="$TOOLS/diffoscope/$DIFFOSCOPE_VERSION/venv"
PYTHON="${PYTHON:-python3}"

log() { echo "install-bench-tools: $*" >&2; }

want_diffoci=1 want_diffoscope=1
if [ $# -gt 0 ]; then
  want_diffoci=0 want_diffoscope=0
  for t in "$@"; do
    case "$t" in
      diffoci) want_diffoci=1 ;;
      diffoscope) want_diffoscope=1 ;;
      *) log "unknown tool $t (diffoci, diffoscope)"; exit 2 ;;
    esac
  done
fi

# --- Debian packages: GNU time (optional, handy for cross-checks), and what diffoscope calls.
need=()
command -v gzip >/dev/null || need+=(gzip)
command -v diff >/dev/null || need+=(diffutils)
command -v xxd >/dev/null || need+=(xxd)
[ -x /usr/bin/time ] || need+=(time)
ldconfig -p 2>/dev/null | grep -q 'libarchive\.so\.13' || need+=(libarchive13)
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || need+=(libmagic1)
# py-tlsh ships no wheels: pip compiles it, which takes a C++ compiler and Python's headers
# (Debian's python3 keeps them in python3-dev).
if [ "$want_diffoscope" = 1 ]; then
  command -v g++ >/dev/null || need+=(g++)
  "$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    2>/dev/null || need+=(python3-dev)
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
apt_install ${need[@]+"${need[@]}"}

# --- diffoci
if [ "$want_diffoci" = 0 ]; then
  :
elif [ -x "$DIFFOCI_BIN" ] && "$DIFFOCI_BIN" --version 2>/dev/null | grep -q " $DIFFOCI_VERSION\$"; then
  log "diffoci $DIFFOCI_VERSION already in $DIFFOCI_BIN"
else
  command -v go >/dev/null || { log "go is needed to install diffoci $DIFFOCI_VERSION"; exit 1; }
  log "building diffoci $DIFFOCI_VERSION from the Go module proxy (about a minute)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  modcache="$(go env GOMODCACHE)"
  proxy="$(go env GOPROXY)"
  ( cd "$work" && go mod download -json "github.com/reproducible-containers/diffoci@$DIFFOCI_VERSION" >/dev/null )
  mkdir -p "$(dirname "$DIFFOCI_BIN")"
  ( cd "$work" && GOBIN="$(dirname "$DIFFOCI_BIN")" GOPROXY="file://$modcache/cache/download,$proxy" \
      GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
      go install "github.com/reproducible-containers/diffoci/cmd/diffoci@$DIFFOCI_VERSION" ) >&2
  "$DIFFOCI_BIN" --version | grep -q " $DIFFOCI_VERSION\$" || {
    log "built diffoci does not report $DIFFOCI_VERSION: $("$DIFFOCI_BIN" --version)"; exit 1; }
  log "installed $("$DIFFOCI_BIN" --version) into $DIFFOCI_BIN"
fi

# --- diffoscope, in its own venv so it never touches the project's environment.
if [ "$want_diffoscope" = 0 ]; then
  :
elif [ -x "$DIFFOSCOPE_VENV/bin/diffoscope" ] \
    && [ "$("$DIFFOSCOPE_VENV/bin/diffoscope" --version 2>/dev/null)" = "diffoscope $DIFFOSCOPE_VERSION" ] \
    && "$DIFFOSCOPE_VENV/bin/python" -c "import tlsh, magic, libarchive" 2>/dev/null; then
  log "diffoscope $DIFFOSCOPE_VERSION already in $DIFFOSCOPE_VENV"
else
  log "pip install diffoscope==$DIFFOSCOPE_VERSION into $DIFFOSCOPE_VENV"
  rm -rf "$DIFFOSCOPE_VENV"
  "$PYTHON" -m venv "$DIFFOSCOPE_VENV"
  # diffoscope's own dependencies are python-magic and libarchive-c; py-tlsh lets it pair
  # renamed blobs (see above); defusedxml only silences a warning about XML comparisons.
  "$DIFFOSCOPE_VENV/bin/pip" install -q --disable-pip-version-check \
      "diffoscope==$DIFFOSCOPE_VERSION" "py-tlsh==5.0.0" "defusedxml==0.7.1" >&2
  log "installed $("$DIFFOSCOPE_VENV/bin/diffoscope" --version) into $DIFFOSCOPE_VENV"
fi

[ "$want_diffoci" = 0 ] || echo "$DIFFOCI_BIN"
[ "$want_diffoscope" = 0 ] || echo "$DIFFOSCOPE_VENV/bin/diffoscope"
