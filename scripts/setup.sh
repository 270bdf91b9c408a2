#!/usr/bin/env bash
# Everything repro and its tests need on a fresh Debian machine; skips what is there.
# Sourced by scripts/test.sh and scripts/demo.sh; prints nothing on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

log() { echo "setup: $*" >&2; }

# Debian packages: runtime (runc, rootlesskit, uidmap), offline base images (busybox-static),
# tests (docker-registry, skopeo, apache2-utils for htpasswd, openssl for the TLS and token-auth
# registries, git, chromium for the HTML report).
want=(runc rootlesskit uidmap busybox-static docker-registry skopeo apache2-utils openssl git chromium)
# The docker CLI (client only: buildx builders are driven through it) usually comes with the
# machine; Debian's docker.io is the fallback (its daemon is never used).
command -v docker >/dev/null || want+=(docker.io)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
source "$here/lib.sh"
apt_install ${missing[@]+"${missing[@]}"}

# Python: repro itself (editable) with its test extras.
py="${PYTHON:-python3}"
# Asked from / so that the answer is the installed package, not the current directory's.
if ! (cd / && "$py" -c 'import repro, click, zstandard, oras, dockerfile, isal, pytest, hypothesis') 2>/dev/null \
   || [ "$(cd / && "$py" -c 'import repro,os;print(os.path.dirname(os.path.dirname(repro.__file__)))' 2>/dev/null)" != "$root" ]; then
  log "pip install -e .[test]"
  "$py" -m pip install -q --disable-pip-version-check -e "$root[test]" >&2
fi

# diffoscope (for --diffoscope and its test) and diffoci (for the benchmark), cached by version.
bash "$here/install-bench-tools.sh" >/dev/null

# BuildKit (pinned), built from the Go module proxy into a cache keyed by version.
bkbin="$(bash "$here/install-buildkit.sh" | tail -n 1)"
export PATH="$bkbin:$PATH"

# docker buildx (for --builder buildx:NAME and its tests), at the release that vendors the
# pinned BuildKit, cached by version and linked as a docker CLI plugin.
bash "$here/install-buildx.sh" >/dev/null
