"""Fixtures for tests that run real buildkitd daemons (marked `buildkit`).

Nothing here skips: a missing buildctl/buildkitd, runc or rootlesskit makes the tests
fail with the tool's install hint, because a verifier whose build tests silently skip
proves nothing. The fixtures are registered in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterator

import pytest

from repro import BUILDKIT_VERSION
from repro.buildkit import Tools, find_buildkit
from repro.buildkit.procs import mounts_under, processes_mentioning
from tests import ROOT

CONTEXTS = os.path.join(ROOT, "testdata", "contexts")
EPOCH = 1700000000  # 2023-11-14T22:13:20Z
ROOTLESS_USER = "repro-rootless"


def load_make_base():
    return load_testdata("make_base")


def load_testdata(name: str):
    """A script of testdata/ (make_base, make_debian_base, ...) loaded as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "testdata", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class BaseImage:
    path: str    # the OCI layout dir
    digest: str  # its manifest digest

    @property
    def build_context(self) -> str:
        """--build-context value with the tag (resolved to the digest by repro)."""
        return f"base=oci-layout://{self.path}:latest"


@pytest.fixture(scope="session")
def buildkit_tools() -> Tools:
    return find_buildkit()  # ToolMissing fails the test: install with scripts/install-buildkit.sh


@pytest.fixture(scope="session")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> BaseImage:
    out = tmp_path_factory.mktemp("base") / "layout"
    return BaseImage(str(out), load_make_base().make_base(str(out)))


@pytest.fixture(scope="session")
def debian_base() -> BaseImage:
    """A real Debian base (debootstrap --variant=minbase bookworm from Debian's mirror) as an
    OCI layout, for builds that `apt-get install`. Cached across runs in ~/.cache/repro
    (testdata/make_debian_base.py; the first run takes a few minutes and needs root)."""
    make = load_testdata("make_debian_base")
    path = make.default_dir()
    return BaseImage(path, make.make_debian_base(path))


def context(name: str) -> str:
    return os.path.join(CONTEXTS, name)


def expected(name: str) -> dict:
    with open(os.path.join(CONTEXTS, name, "expected.json")) as f:
        return json.load(f)


def manifest_digests(oci_tar: str) -> list[str]:
    """The manifest digests listed in an OCI tarball's index.json."""
    import tarfile

    with tarfile.open(oci_tar) as tf:
        member = tf.extractfile("index.json")
        assert member is not None
        index = json.load(member)
    return [m["digest"] for m in index["manifests"]]


def sha256_file(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Isolated:
    """A short private temp dir that daemons and builds use instead of $TMPDIR."""

    dir: str

    def leftovers(self) -> dict[str, list]:
        return {
            "processes": processes_mentioning(self.dir),
            "mounts": mounts_under(self.dir),
            "files": sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else [],
        }


@contextlib.contextmanager
def isolated_tempdir() -> Iterator[Isolated]:
    """Point tempfile at a fresh short dir (unix socket paths must stay under 108 bytes);
    after the body, nothing may be left in it: no process naming it, no mount, no file."""
    parent = tempfile.mkdtemp(prefix="rbt-", dir="/tmp")
    os.chmod(parent, 0o755)
    saved = tempfile.tempdir
    tempfile.tempdir = parent
    try:
        yield Isolated(parent)
    finally:
        tempfile.tempdir = saved
    left = Isolated(parent).leftovers()
    shutil.rmtree(parent, ignore_errors=True)
    assert left == {"processes": [], "mounts": [], "files": []}, f"left behind: {left}"


@pytest.fixture
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Isolated]:
    tmp_path_factory.getbasetemp()  # pytest finds its own temp root via tempfile: fix it first
    with isolated_tempdir() as iso:
        yield iso


# Rootless ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootlessUser:
    name: str
    uid: int
    share: str      # a world-readable dir outside pytest's private temp root
    tools_dir: str  # a REPRO_TOOLS_DIR the user can read
    base: BaseImage  # a copy of the base image the user can read
    python: str = "/usr/bin/python3"  # an interpreter of the user's with repro's dependencies (user_python)

    def private_dir(self, prefix: str) -> str:
        """A fresh short dir owned by the user (for outputs and as its TMPDIR)."""
        path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chown(path, self.uid, -1)
        return path

    def readable(self, image: BaseImage, name: str) -> BaseImage:
        """A copy of `image` the user can read (in the share; once per session and name)."""
        dst = os.path.join(self.share, name)
        if not os.path.isdir(dst):
            shutil.copytree(image.path, dst)
            for dirpath, _, filenames in os.walk(dst):
                os.chmod(dirpath, 0o755)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o644)
        return BaseImage(dst, image.digest)

    def run_python(self, code: str, *, cwd: str = "/tmp", timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `code` as the user with the user's own interpreter (`python`), this checkout first
        on its path: repro as an unprivileged user who installed it runs it."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": pwd.getpwnam(self.name).pw_dir,
               "REPRO_TOOLS_DIR": self.tools_dir, "PYTHONPATH": ROOT, "LANG": "C.UTF-8"}
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                               *[f"{k}={v}" for k, v in env.items()], self.python, "-c", code],
                              capture_output=True, text=True, timeout=timeout, cwd=cwd)


def user_python(user: str, home: str) -> str:
    """A venv of the user's (in its home, cached by Python version and requirements) with
    repro's dependencies installed from PyPI by pip, as the user: the suite's own interpreter
    and packages may live where the user cannot read them (/root: pyenv, or setup's venv
    in ~/.cache/repro/venv), and Debian's /usr/bin/python3 lacks zstandard and the rest.
    Returns its python. repro itself comes from this checkout (PYTHONPATH)."""
    import hashlib
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requirements = tomllib.load(f)["project"]["dependencies"]
    base = "/usr/bin/python3"
    assert os.access(base, os.X_OK), "the rootless tests run repro as the user with Debian's /usr/bin/python3"
    version = subprocess.run([base, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout
    key = hashlib.sha256(json.dumps([version, requirements]).encode()).hexdigest()[:12]
    venv = os.path.join(home, ".cache", "repro-tests", f"venv-{key}")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(os.path.join(venv, "ready")):
        return python
    env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={home}", "LANG=C.UTF-8",
           *[f"{k}={v}" for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy", "no_proxy",
                                                                        "pip_index_url", "pip_trusted_host")]]
    as_user = ["runuser", "-u", user, "--", *env]
    shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted run
    for argv in ([base, "-m", "venv", venv],
                 [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]):
        proc = subprocess.run([*as_user, *argv], capture_output=True, text=True, cwd="/tmp", timeout=900)
        assert proc.returncode == 0, (f"making the rootless user's venv failed: {' '.join(argv)}\n"
                                      f"{proc.stderr[-2000:]}\n(Debian: apt-get install python3-venv)")
    subprocess.run([*as_user, "touch", os.path.join(venv, "ready")], check=True)
    return python


def _has_subid(path: str, user: str) -> bool:
    with contextlib.suppress(OSError), open(path) as f:
        return any(line.split(":")[0] == user for line in f)
    return False


@pytest.fixture(scope="session")
def rootless_user(buildkit_tools: Tools, base_image: BaseImage) -> Iterator[RootlessUser]:
    """An unprivileged user with subuid/subgid ranges (created if missing; needs root),
    with readable copies of the BuildKit binaries and the base image."""
    assert os.geteuid() == 0, "the rootless tests create their user with useradd and need root"
    try:
        pw = pwd.getpwnam(ROOTLESS_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", ROOTLESS_USER], check=True,
                       capture_output=True)
        pw = pwd.getpwnam(ROOTLESS_USER)
    if not _has_subid("/etc/subuid", ROOTLESS_USER) or not _has_subid("/etc/subgid", ROOTLESS_USER):
        first = 200000 + (pw.pw_uid % 1000) * 65536
        subprocess.run(["usermod", "--add-subuids", f"{first}-{first + 65535}",
                        "--add-subgids", f"{first}-{first + 65535}", ROOTLESS_USER], check=True, capture_output=True)
    # /root/.cache and pytest's temp root are private to root: share copies
    share = tempfile.mkdtemp(prefix="repro-rootless-share-", dir="/tmp")
    try:
        bin_dir = os.path.join(share, "tools", "buildkit", BUILDKIT_VERSION, "bin")
        os.makedirs(bin_dir)
        shutil.copy2(buildkit_tools.buildctl, os.path.join(bin_dir, "buildctl"))
        shutil.copy2(buildkit_tools.buildkitd, os.path.join(bin_dir, "buildkitd"))
        base = os.path.join(share, "base")
        shutil.copytree(base_image.path, base)
        for dirpath, _, filenames in os.walk(share):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        yield RootlessUser(ROOTLESS_USER, pw.pw_uid, share, os.path.join(share, "tools"),
                           BaseImage(base, base_image.digest), user_python(ROOTLESS_USER, pw.pw_dir))
    finally:
        shutil.rmtree(share, ignore_errors=True)
