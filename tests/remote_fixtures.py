"""Fixtures for builds the way release pipelines run them: remote buildkitd over tcp://
with mutual TLS, a real ssh-agent for `--ssh`, a multi-architecture base image, and
arm64 emulation through qemu-user-static.

Nothing here skips: a missing openssl, ssh-agent or qemu-user-static fails the test
with its install hint (scripts/setup.sh installs them all).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterator

import pytest

from tests.buildkit_fixtures import BaseImage, load_make_base
from repro.buildkit import EphemeralDaemon, Tools


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install {package} (scripts/setup.sh does)"
    return path


# mutual TLS ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Certs:
    dir: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str         # a CA that signed nothing the daemons trust
    other_client_cert: str
    other_client_key: str

    def client_flags(self) -> list[str]:
        """buildctl's (and repro's) client flags for these daemons."""
        return ["--tlscacert", self.ca, "--tlscert", self.client_cert, "--tlskey", self.client_key]


def _openssl(*args: str, cwd: str) -> None:
    out = subprocess.run([_need("openssl", "openssl"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr}"


def _ca(d: str, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN=repro test {name}", cwd=d)


def _signed(d: str, name: str, ca: str, usage: str, san: str = "") -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else ""))
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed (made
    with openssl), and a second CA with a client certificate the daemons must refuse."""
    d = str(tmp_path_factory.mktemp("mtls"))
    _ca(d, "ca")
    _signed(d, "buildkitd", "ca", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    _signed(d, "client", "ca", "clientAuth")
    _ca(d, "other-ca")
    _signed(d, "other-client", "other-ca", "clientAuth")
    p = lambda name: os.path.join(d, name)  # noqa: E731
    return Certs(d, p("ca.pem"), p("buildkitd.pem"), p("buildkitd.key"), p("client.pem"), p("client.key"),
                 p("other-ca.pem"), p("other-client.pem"), p("other-client.key"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TLSDaemon:
    addr: str          # tcp://127.0.0.1:PORT (TLS, client certificate required)
    daemon: EphemeralDaemon


@contextlib.contextmanager
def tls_daemon(tools: Tools, certs: Certs) -> Iterator[TLSDaemon]:
    """An ephemeral buildkitd that also listens on tcp://127.0.0.1:PORT with mutual TLS
    (its unix socket, which only repro's readiness check uses, carries no TLS)."""
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    extra = ("--addr", addr, "--tlscacert", certs.ca, "--tlscert", certs.server_cert, "--tlskey", certs.server_key)
    with EphemeralDaemon(tools=tools, extra_args=extra) as daemon:
        yield TLSDaemon(addr, daemon)


@pytest.fixture(scope="module")
def tls_daemons(buildkit_tools: Tools, tls_certs: Certs) -> Iterator[tuple[TLSDaemon, TLSDaemon]]:  # noqa: F811
    """Two buildkitd on tcp:// with mutual TLS: two 'remote' builders."""
    saved = tempfile.tempdir
    short = tempfile.mkdtemp(prefix="rtls-", dir="/tmp")
    tempfile.tempdir = short
    try:
        with tls_daemon(buildkit_tools, tls_certs) as a, tls_daemon(buildkit_tools, tls_certs) as b:
            yield a, b
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(short, ignore_errors=True)


# ssh-agent -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agent:
    sock: str            # SSH_AUTH_SOCK
    pid: int
    public_key: str      # the loaded key, as `ssh-add -L` lists it
    key_path: str        # the private key file (for --ssh ID=PATH)


@pytest.fixture
def ssh_agent(tmp_path) -> Iterator[Agent]:
    """A real ssh-agent with a fresh ed25519 key loaded; killed afterwards."""
    keygen, agent, add = (_need(t, "openssh-client") for t in ("ssh-keygen", "ssh-agent", "ssh-add"))
    key = str(tmp_path / "id_ed25519")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "repro-test", "-f", key], check=True, timeout=60)
    sock = tempfile.mktemp(prefix="repro-agent-", suffix=".sock", dir="/tmp")
    proc = subprocess.Popen([agent, "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            subprocess.run(["sleep", "0.05"])
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run([add, "-q", key], check=True, env=env, timeout=60, capture_output=True)
        listed = subprocess.run([add, "-L"], env=env, capture_output=True, text=True, timeout=60).stdout.strip()
        yield Agent(sock, proc.pid, listed, key)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.unlink(sock)


# platforms -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def multiarch_base(tmp_path_factory: pytest.TempPathFactory) -> BaseImage:
    """The busybox base as an image index for linux/amd64 and linux/arm64 (arm64's
    busybox-static fetched once from Debian's mirror; see testdata/make_base.py)."""
    out = tmp_path_factory.mktemp("base-multi") / "layout"
    return BaseImage(str(out), load_make_base().make_base(str(out), arches=("amd64", "arm64")))


BINFMT = "/proc/sys/fs/binfmt_misc"


@pytest.fixture(scope="session")
def arm64_emulation() -> str:
    """qemu-user-static registered for aarch64 in binfmt_misc (mounted and registered
    here if needed, from Debian's /usr/lib/binfmt.d entry, with the F flag so that the
    interpreter works inside build containers). Returns the interpreter's path."""
    conf = "/usr/lib/binfmt.d/qemu-aarch64.conf"
    assert os.path.isfile(conf), "qemu-user-static is missing: apt-get install qemu-user-static"
    if not os.path.exists(os.path.join(BINFMT, "register")):
        out = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT], capture_output=True, text=True)
        assert out.returncode == 0, f"cannot mount binfmt_misc (needs root): {out.stderr.strip()}"
    entry = os.path.join(BINFMT, "qemu-aarch64")
    if not os.path.exists(entry):
        with open(conf) as f:
            rule = next(line.strip() for line in f if line.startswith(":"))
        with open(os.path.join(BINFMT, "register"), "w") as f:
            f.write(rule)
    with open(entry) as f:
        status = f.read()
    assert status.startswith("enabled"), status
    return next(line.split(None, 1)[1] for line in status.splitlines() if line.startswith("interpreter"))
