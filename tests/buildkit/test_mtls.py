"""Remote builders over tcp:// with mutual TLS: the fixture's daemons accept only clients
whose certificate their CA signed (what `repro check --addr tcp://...` relies on)."""

from __future__ import annotations

import subprocess

import pytest

from tests.remote_fixtures import Certs

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


def _repro(*args: str) -> subprocess.CompletedProcess:
    import os
    import sys

    from tests.buildkit_fixtures import ROOT

    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, stdin=subprocess.DEVNULL, env={**os.environ})


def test_check_builds_once_on_each_remote_tls_daemon(buildkit_tools, base_image, tls_certs: Certs, tls_daemons,
                                                     tmp_path) -> None:
    import json

    from tests.buildkit_fixtures import EPOCH, context

    a, b = tls_daemons
    report = tmp_path / "report.json"
    run = _repro("check", context("deterministic"), "--source-date-epoch", str(EPOCH), "--build-context",
                 base_image.build_context, "--progress", "quiet", "--addr", a.addr, "--addr", b.addr,
                 *tls_certs.client_flags(), "--format", "json", "-o", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    builds = json.loads(report.read_text())["build"]["builds"]
    assert [x["driver"] for x in builds] == ["remote", "remote"]
    assert {a.addr, b.addr} == {x["daemon"].rsplit(" at ", 1)[1] for x in builds}  # one build on each machine
    # the same daemons refuse a client without the certificate their CA signed: one line, exit 2
    refused = _repro("check", context("deterministic"), "--source-date-epoch", str(EPOCH), "--build-context",
                     base_image.build_context, "--progress", "quiet", "--addr", a.addr, "--addr", b.addr,
                     "--tlscacert", tls_certs.ca, "--tlscert", tls_certs.other_client_cert, "--tlskey",
                     tls_certs.other_client_key)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert a.addr in refused.stderr or b.addr in refused.stderr


def test_build_on_a_tls_daemon_and_bad_tls_options(buildkit_tools, base_image, tls_certs: Certs, tls_daemons,
                                                   tmp_path) -> None:
    from tests.buildkit_fixtures import EPOCH, context

    out = tmp_path / "one.tar"
    run = _repro("build", context("deterministic"), "-o", str(out), "--source-date-epoch", str(EPOCH),
                 "--build-context", base_image.build_context, "--progress", "quiet", "--addr", tls_daemons[0].addr,
                 *tls_certs.client_flags())
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.is_file() and run.stdout.startswith("sha256:")
    only_cert = _repro("build", context("deterministic"), "-o", str(out), "--source-date-epoch", str(EPOCH),
                       "--addr", tls_daemons[0].addr, "--tlscert", tls_certs.client_cert)
    assert only_cert.returncode == 2 and "--tlscert and --tlskey go together" in only_cert.stderr
