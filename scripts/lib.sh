# Shared by the set-up scripts (sourced, not run). Needs a `log` function.

# apt_missing PKG...: print the given Debian packages that are not installed, one a line.
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$p"
  done
}

# apt_install PKG...: install the given Debian packages (none given: nothing to do).
# As root with apt-get (the package lists are refreshed once per set-up); otherwise a
# clear error naming them.
apt_install() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: $* (run as root, or apt-get install them)"; exit 1
  fi
  log "apt-get install $*"
  if [ -z "${REPRO_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2
    export REPRO_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# use_python: export PYTHON, an interpreter repro can be pip-installed into: $PYTHON when
# given; else python3, unless its pip is missing or refuses to install (PEP 668: Debian's
# own python3 is "externally managed"); then a venv in $REPRO_VENV (default
# ~/.cache/repro/venv), whose bin/ is put first on PATH.
use_python() {
  if [ -n "${PYTHON:-}" ]; then export PYTHON; return 0; fi
  command -v python3 >/dev/null || apt_install python3
  if python3 -m pip --version >/dev/null 2>&1 && python3 -c '
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(1 if managed and sys.prefix == sys.base_prefix else 0)'; then
    export PYTHON=python3; return 0
  fi
  local venv="${REPRO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/repro/venv}"
  if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    log "python3 has no usable pip (PEP 668): installing into a venv, $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
  fi
  export PYTHON="$venv/bin/python" PATH="$venv/bin:$PATH"
}

# pip_install_repro ROOT [EXTRA]: `pip install -e ROOT[EXTRA]` into $PYTHON unless repro is
# installed from ROOT and every requirement ROOT/pyproject.toml declares for $PYTHON (those
# of EXTRA too) is met: scripts/installed.py, which honours environment markers, so a
# requirement that does not apply here (isal where it has no wheel) does not rerun pip.
# Asked from / so that the answer is the installed package, not the current directory's.
pip_install_repro() {
  local root="$1" extra="${2:-}"
  if (cd / && "$PYTHON" "$root/scripts/installed.py" "$root" "$extra" 2>/dev/null); then
    return 0
  fi
  log "pip install -e .${extra:+[$extra]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check -e "$root${extra:+[$extra]}" >&2
}
