"""`repro install-buildkit`: build the pinned BuildKit (buildctl + buildkitd) from the Go
module proxy into repro's tools dir, where `find_buildkit` looks.

Shipped in the package so that a `pip install`ed repro can set itself up without the
checkout; `scripts/install-buildkit.sh` calls this same code. The steps:

* nothing to do when `find_buildkit` already finds the pinned version (PATH or cache);
* `go mod download -json github.com/moby/buildkit@VERSION`: `go install ...@VERSION`
  refuses, because BuildKit's go.mod has `exclude` directives;
* `go build -trimpath` of `./cmd/buildctl` and `./cmd/buildkitd` from a writable copy of
  the module, with the version stamped in as BuildKit's own Makefile does;
* the binaries land in a temp dir beside the target, are checked to report VERSION, and
  are renamed into place, so a reader never finds half an install. One install at a time
  (a lock file beside them): CI jobs and test sessions may start together.

Go itself is not installed (a BuildKit release needs a recent Go; Go fetches the toolchain
named in BuildKit's go.mod when GOTOOLCHAIN allows it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import subprocess
import tempfile
from typing import Callable, Iterator

from repro import BUILDKIT_VERSION
from repro.buildkit.tools import binary_version, find_buildkit, tools_dir
from repro.errors import BuildError, ToolMissing

MODULE = "github.com/moby/buildkit"
COMMANDS = ("buildctl", "buildkitd")
# where Go lives when it is not on PATH (the official tarball's place; Debian's golang-go)
_GO_PLACES = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
# Debian packages the daemons need, with the program each provides
RUNTIME_PACKAGES = {"runc": "runc", "rootlesskit": "rootlesskit", "newuidmap": "uidmap"}


def find_go() -> str:
    go = shutil.which("go") or next((p for p in _GO_PLACES if os.access(p, os.X_OK)), None)
    if not go:
        raise ToolMissing(f"go not found: building BuildKit {BUILDKIT_VERSION} needs Go (https://go.dev/dl/, "
                          "unpacked to /usr/local/go), or unpack BuildKit's release archive and put its bin/ on PATH")
    return go


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], cwd: str, env: dict[str, str], what: str) -> str:
    try:
        out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise ToolMissing(f"cannot run {argv[0]}: {e.strerror}") from None
    if out.returncode != 0:
        lines = [l for l in out.stderr.splitlines() if l.strip()] or [f"exit code {out.returncode}"]
        raise BuildError(f"{what} failed: {' / '.join(lines[-3:])}")
    return out.stdout


def missing_packages() -> list[str]:
    """Debian packages whose programs the daemons need and that are not installed."""
    from repro.buildkit.tools import find_helper

    missing = []
    for program, package in RUNTIME_PACKAGES.items():
        try:
            find_helper(program, "")
        except ToolMissing:
            missing.append(package)
    return missing


def install_buildkit(log: Callable[[str], None] = lambda s: None) -> str:
    """Make sure buildctl + buildkitd of the pinned version are usable; return their
    directory. ToolMissing when Go is missing, BuildError when the download or build fails."""
    version = BUILDKIT_VERSION
    with contextlib.suppress(ToolMissing):
        found = find_buildkit(version)
        log(f"BuildKit {version} is already installed: {os.path.dirname(found.buildctl)}")
        return os.path.dirname(found.buildctl)
    target = tools_dir()  # <tools>/buildkit/<version>/bin
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise ToolMissing(f"cannot create {parent}: {e.strerror} (set REPRO_TOOLS_DIR to a writable directory)") \
            from None
    with _locked(os.path.join(os.path.dirname(parent), ".install.lock")):
        # another install may have finished while we waited for the lock
        if all(binary_version(os.path.join(target, c)) == version for c in COMMANDS):
            return target
        go = find_go()
        log(f"building BuildKit {version} from the Go module proxy with {go} (a few minutes)")
        with tempfile.TemporaryDirectory(prefix="repro-install-buildkit-") as work:
            _build(go, version, work, target)
    log(f"installed BuildKit {version} into {target}")
    return target


def _build(go: str, version: str, work: str, target: str) -> None:
    env = dict(os.environ, CGO_ENABLED="0")
    env.setdefault("GOFLAGS", "-mod=mod")
    listing = _run([go, "mod", "download", "-json", f"{MODULE}@{version}"], work, env,
                   f"go mod download {MODULE}@{version}")
    try:
        module_dir = json.loads(listing)["Dir"]
    except (ValueError, KeyError, TypeError):
        raise BuildError(f"go mod download {MODULE}@{version} did not name the module's directory") from None
    src = os.path.join(work, "src")
    shutil.copytree(module_dir, src, symlinks=True)
    for root, dirs, files in os.walk(src):
        for name in dirs + files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    tmpbin = tempfile.mkdtemp(prefix="bin.tmp.", dir=os.path.dirname(target))
    try:
        ldflags = f"-s -w -X {MODULE}/version.Version={version} -X {MODULE}/version.Package={MODULE}"
        _run([go, "build", "-trimpath", "-ldflags", ldflags, "-o", tmpbin + os.sep,
              *(f"./cmd/{c}" for c in COMMANDS)], src, env, f"go build of BuildKit {version}")
        os.chmod(tmpbin, 0o755)
        for c in COMMANDS:
            os.chmod(os.path.join(tmpbin, c), 0o755)
            got = binary_version(os.path.join(tmpbin, c))
            if got != version:
                raise BuildError(f"the built {c} reports {got or 'no version'}, not {version}")
        if os.path.lexists(target):
            shutil.rmtree(target)
        os.rename(tmpbin, target)
    except BaseException:
        shutil.rmtree(tmpbin, ignore_errors=True)
        raise
