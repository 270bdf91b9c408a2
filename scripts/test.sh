#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, then runs pytest.
# Tests start their own buildkitd daemons and registries; nothing may be skipped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/setup.sh"
cd "$(dirname "$here")"
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider "$@"
