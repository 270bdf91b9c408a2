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

    def private_dir(self, prefix: str) -> str:
        """A fresh short dir owned by the user (for outputs and as its TMPDIR)."""
        path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chown(path, self.uid, -1)
        return path

    def run_python(self, code: str, *, cwd: str = "/tmp", timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `code` with the system python as the user, with repro importable."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": pwd.getpwnam(self.name).pw_dir,
               "REPRO_TOOLS_DIR": self.tools_dir, "PYTHONPATH": ROOT, "LANG": "C.UTF-8"}
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                               *[f"{k}={v}" for k, v in env.items()], "/usr/bin/python3", "-c", code],
                              capture_output=True, text=True, timeout=timeout, cwd=cwd)


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
                           BaseImage(base, base_image.digest))
    finally:
        shutil.rmtree(share, ignore_errors=True)
