#!/usr/bin/env bash
# Everything repro and its tests need on a fresh Debian machine; skips what is there.
# The main job's part is scripts/setup-runtime.sh (all demo.sh needs); this adds what only
# the tests need. Sourced by scripts/test.sh; prints nothing on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/setup-runtime.sh"

# Debian packages for the tests: a real registry (docker-registry), skopeo, htpasswd
# (apache2-utils) and openssl for the TLS and token-auth registries and the mTLS buildkitd
# pair, git, chromium for the HTML report, ssh-agent (openssh-client) for the --ssh tests and
# qemu-user-static for the emulated-platform test, debootstrap for the Debian base image
# (testdata/make_debian_base.py).
want=(docker-registry skopeo apache2-utils openssl git chromium openssh-client qemu-user-static debootstrap)
# The docker CLI (client only: buildx builders are driven through it) usually comes with the
# machine; Debian's docker.io is the fallback (its daemon is never used).
command -v docker >/dev/null || want+=(docker.io)
mapfile -t missing < <(apt_missing "${want[@]}")
apt_install ${missing[@]+"${missing[@]}"}

# Python: the test extras.
pip_install_repro "$root" test

# diffoscope (for --diffoscope and its test), cached by version. (diffoci, which only the
# benchmark runs, comes with a plain `scripts/install-bench-tools.sh`: benchmarks/README.md.)
bash "$here/install-bench-tools.sh" diffoscope >/dev/null

# docker buildx (for --builder buildx:NAME and its tests), at the release that vendors the
# pinned BuildKit, cached by version and linked as a docker CLI plugin.
bash "$here/install-buildx.sh" >/dev/null
