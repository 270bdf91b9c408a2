"""`repro install-buildkit` as a pip user has it: the package built into a wheel, installed
into a fresh venv (no system site packages, no checkout on sys.path), run outside the
checkout with an empty tools dir. It must point at itself when BuildKit is missing, build
the pinned BuildKit from the Go module proxy, and then find it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repro import BUILDKIT_VERSION
from repro.buildkit.install import find_go
from tests.buildkit_fixtures import ROOT

pytestmark = pytest.mark.buildkit


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), ROOT],
                   check=True, capture_output=True, timeout=900, cwd=work)
    (wheel,) = (work / "dist").glob("repro_oci-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=900, cwd=work)
    return venv


def run(venv: Path, *args: str, tools: Path, path: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "REPRO_TOOLS_DIR": str(tools),
           "LANG": "C.UTF-8"}
    for keep in ("GOPATH", "GOMODCACHE", "GOCACHE", "GOPROXY", "GOFLAGS", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    return subprocess.run([str(venv / "bin" / "repro"), *args], capture_output=True, text=True, env=env,
                          timeout=1800, cwd=cwd)


def test_the_wheel_installs_buildkit_and_then_finds_it(venv, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    # the package comes from the wheel in the venv, not from the checkout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import repro; print(repro.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert where.startswith(str(venv)) and not where.startswith(ROOT)
    go_dir = os.path.dirname(find_go())
    no_buildkit = f"{venv / 'bin'}:{go_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
    assert shutil.which("buildctl", path=no_buildkit) is None

    # missing: one line that names the packaged installer, not a script pip users lack
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    r = run(venv, "build", str(ctx), "-o", str(tmp_path / "out.tar"), "--source-date-epoch", "0",
            tools=tools, path=no_buildkit, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "run `repro install-buildkit`" in r.stderr and "scripts/" not in r.stderr
    r = run(venv, "doctor", tools=tools, path=no_buildkit, cwd=tmp_path)
    assert r.returncode == 2 and "fix: run `repro install-buildkit`" in r.stdout

    # install: the pinned version, built from the Go module proxy
    r = run(venv, "install-buildkit", tools=tools, path=no_buildkit, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    bin_dir = tools / "buildkit" / BUILDKIT_VERSION / "bin"
    assert r.stdout.splitlines()[-1] == str(bin_dir)
    assert sorted(os.listdir(bin_dir)) == ["buildctl", "buildkitd"]
    for name in ("buildctl", "buildkitd"):
        assert os.stat(bin_dir / name).st_mode & 0o777 == 0o755
        v = subprocess.run([str(bin_dir / name), "--version"], capture_output=True, text=True, check=True).stdout
        assert f" {BUILDKIT_VERSION} " in v, v
    assert sorted(os.listdir(tools / "buildkit" / BUILDKIT_VERSION)) == ["bin"]  # no temp dir left behind

    # found: doctor is satisfied, and a second install has nothing to do (not even Go)
    r = run(venv, "doctor", "--format", "json", tools=tools, path=no_buildkit, cwd=tmp_path)
    assert '"name": "buildkit",\n    "ok": true' in r.stdout, r.stdout
    without_go = f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"
    r = run(venv, "install-buildkit", tools=tools, path=without_go, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == str(bin_dir)
    assert "already installed" in r.stderr


def test_without_go_the_installer_says_what_it_needs(monkeypatch, tmp_path):
    from repro.buildkit import install
    from repro.errors import ToolMissing

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("REPRO_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setattr(install, "_GO_PLACES", ())
    with pytest.raises(ToolMissing, match=r"^go not found: building BuildKit v\d+\.\d+\.\d+ needs Go"):
        install.install_buildkit()
    assert not (tmp_path / "tools" / "buildkit" / BUILDKIT_VERSION / "bin").exists()
