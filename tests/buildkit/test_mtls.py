"""Remote builders over tcp:// with mutual TLS: the fixture's daemons accept only clients
whose certificate their CA signed (what `repro check --addr tcp://...` relies on)."""

from __future__ import annotations

import subprocess

import pytest

from tests.buildkit_fixtures import buildkit_tools  # noqa: F401  (fixture)
from tests.remote_fixtures import Certs, tls_certs, tls_daemons  # noqa: F401  (fixtures)

pytestmark = pytest.mark.buildkit


def _workers(tools, addr: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([tools.buildctl, "--addr", addr, *flags, "debug", "workers"], capture_output=True,
                          text=True, timeout=60)


def test_tls_daemons_answer_only_clients_with_a_certificate_they_trust(buildkit_tools, tls_certs: Certs,
                                                                      tls_daemons) -> None:
    for d in tls_daemons:
        assert d.addr.startswith("tcp://127.0.0.1:")
        ok = _workers(buildkit_tools, d.addr, *tls_certs.client_flags())
        assert ok.returncode == 0 and "linux/amd64" in ok.stdout, ok.stderr
        no_cert = _workers(buildkit_tools, d.addr, "--tlscacert", tls_certs.ca)
        assert no_cert.returncode != 0
        stranger = _workers(buildkit_tools, d.addr, "--tlscacert", tls_certs.ca, "--tlscert",
                            tls_certs.other_client_cert, "--tlskey", tls_certs.other_client_key)
        assert stranger.returncode != 0
        plain = _workers(buildkit_tools, d.addr)
        assert plain.returncode != 0
    assert tls_daemons[0].addr != tls_daemons[1].addr
