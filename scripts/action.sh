#!/usr/bin/env bash
# The two steps of the repro GitHub Action (action.yml at the repository root):
#
#   action.sh install   repro (pip, from the action's checkout), the Debian packages the
#                       daemons need, and the pinned BuildKit (scripts/setup-runtime.sh);
#                       tells later steps which Python has repro ($GITHUB_ENV).
#   action.sh check     `repro check` from the INPUT_* variables action.yml sets; writes the
#                       outputs (verdict, report, attestation, exit-code) to $GITHUB_OUTPUT;
#                       repro itself appends the Markdown report to $GITHUB_STEP_SUMMARY.
#                       Exits as repro does, unless INPUT_FAIL_ON says otherwise.
#
# Ephemeral rootful buildkitd daemons need root: on a runner that is not root, repro runs
# through `sudo` (INPUT_SUDO=auto|true|false; false means rootless daemons).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

log() { echo "repro-action: $*" >&2; }
fail() { log "$*"; exit 2; }

as_root() {  # run "$@" as root when INPUT_SUDO asks for it (or auto and we are not root)
  local mode="${INPUT_SUDO:-auto}"
  if [ "$mode" = true ] || { [ "$mode" = auto ] && [ "$(id -u)" != 0 ]; }; then
    sudo --preserve-env=GITHUB_STEP_SUMMARY,SSH_AUTH_SOCK,DOCKER_CONFIG,REGISTRY_AUTH_FILE,HOME \
      env "PATH=$PATH" "$@"
  else
    "$@"
  fi
}

install() {
  # setup-runtime.sh: apt packages (runc, rootlesskit, uidmap, libfaketime, busybox-static),
  # `pip install -e` of this checkout, `repro install-buildkit`; it skips what is there.
  as_root bash -c 'source "$1/setup-runtime.sh" && echo "$PYTHON"' _ "$here" > "${RUNNER_TEMP:-/tmp}/repro-python"
  local python
  python="$(tail -n 1 "${RUNNER_TEMP:-/tmp}/repro-python")"
  [ -n "$python" ] || fail "set-up did not say which Python has repro"
  if [ -n "${GITHUB_ENV:-}" ]; then
    echo "REPRO_PYTHON=$python" >> "$GITHUB_ENV"
  fi
  as_root "$python" -m repro --version >&2
}

split_list() {  # comma- or newline-separated list -> one item a line, blanks dropped
  tr ',\n' '\n\n' <<< "$1" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v '^$' || true
}

check() {
  local python="${REPRO_PYTHON:-python3}" out_dir="${RUNNER_TEMP:-/tmp}/repro"
  mkdir -p "$out_dir"
  local fmt="${INPUT_FORMAT:-markdown}" ext
  case "$fmt" in
    markdown) ext=md ;; json) ext=json ;; html) ext=html ;; text) ext=txt ;; junit) ext=xml ;;
    *) fail "format: '$fmt' is not one of markdown, json, html, text, junit" ;;
  esac
  case "${INPUT_FAIL_ON:-not-reproducible}" in
    not-reproducible|error|never) ;;
    *) fail "fail-on: '${INPUT_FAIL_ON}' is not one of not-reproducible, error, never" ;;
  esac
  local report="$out_dir/report.$ext" attestation=""
  local -a args=(check)
  if [ -n "${INPUT_BAKE:-}" ]; then
    local -a bake
    read -r -a bake <<< "$INPUT_BAKE"
    args+=(--bake "${bake[@]}")
  else
    args+=("${INPUT_CONTEXT:-.}")
  fi
  [ -z "${INPUT_FILE:-}" ] || args+=(-f "$INPUT_FILE")
  [ -z "${INPUT_BUILDS:-}" ] || args+=(--builds "$INPUT_BUILDS")
  case "${INPUT_VARY:-}" in
    "") ;;
    true) args+=(--vary) ;;
    false) # repro's default may vary; say no where this repro has the flag
      if as_root "$python" -m repro check --help 2>/dev/null | grep -q -- '--no-vary'; then args+=(--no-vary); fi ;;
    *) args+=("--vary=$INPUT_VARY") ;;
  esac
  [ -z "${INPUT_AGAINST:-}" ] || args+=(--against "$INPUT_AGAINST")
  local p
  while IFS= read -r p; do args+=(--platform "$p"); done < <(split_list "${INPUT_PLATFORMS:-}")
  case "${INPUT_ATTEST:-false}" in
    false|"") ;;
    true) attestation="$out_dir/repro.intoto.json" ;;
    *) attestation="$INPUT_ATTEST" ;;
  esac
  [ -z "$attestation" ] || args+=(--attest "$attestation")
  args+=(--format "$fmt" -o "$report")
  if [ -n "${INPUT_ARGS:-}" ]; then
    local -a extra
    read -r -a extra <<< "$INPUT_ARGS"
    args+=("${extra[@]}")
  fi

  log "repro ${args[*]}"
  local code=0
  as_root "$python" -m repro "${args[@]}" 2> >(tee "$out_dir/stderr.txt" >&2) || code=$?
  wait  # for tee
  local verdict
  case "$code" in
    0) verdict=reproducible ;;
    1) verdict=not-reproducible ;;
    *) verdict=error
       if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
         { echo "### repro check: error"; echo; echo '```'; tail -n 5 "$out_dir/stderr.txt"; echo '```'; } \
           >> "$GITHUB_STEP_SUMMARY"
       fi ;;
  esac
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "verdict=$verdict"
      echo "exit-code=$code"
      [ -f "$report" ] && echo "report=$report" || echo "report="
      [ -n "$attestation" ] && [ -f "$attestation" ] && echo "attestation=$attestation" || echo "attestation="
    } >> "$GITHUB_OUTPUT"
  fi
  case "${INPUT_FAIL_ON:-not-reproducible}" in
    not-reproducible) exit "$code" ;;
    error) [ "$code" -ge 2 ] && exit "$code"; exit 0 ;;
    never) exit 0 ;;
  esac
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) fail "usage: action.sh install|check" ;;
esac
