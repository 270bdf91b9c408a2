# Shared by the set-up scripts (sourced, not run). Needs a `log` function.

# apt_install PKG...: install the given Debian packages (none given: nothing to do).
# As root with apt-get; otherwise a clear error naming them.
apt_install() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: $* (run as root, or apt-get install them)"; exit 1
  fi
  log "apt-get install $*"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
