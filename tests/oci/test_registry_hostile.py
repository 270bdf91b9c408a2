"""The registry client against a malicious registry (tests/hostile_registry.py, in front of
a real docker-registry): no hang, no unbounded read, no credentials to another host
(issue #16, items 4-6). Each case runs `repro` as a subprocess and bounds its wall time
and peak RSS (tests/peak_rss.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import pytest

from tests import ROOT, imagegen as g
from tests.hostile_registry import hostile, token_service
from tests.peak_rss import run_with_peak_rss
from tests.registry_fixtures import skopeo_copy
from repro.oci import RegistryOptions
from repro.oci.registry_client import RegistryClient

pytestmark = pytest.mark.registry

USER, SECRET = "auditor", "s3cret-never-leaves-127.0.0.1"


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    layout = tmp_path_factory.mktemp("hostile-layout") / "img"
    g.write_image(g.simple_image(), layout, "oci")
    skopeo_copy(f"oci:{layout}", registry, "hostile/app:1")
    return registry


def run(args: list[str], tmp_path, env: dict[str, str] | None = None, limit: float = 60) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS MiB) of `python -m repro ARGS`."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "PYTHONPATH": ROOT, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"),
            "REGISTRY_AUTH_FILE": "", **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "repro", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=full, cwd=str(tmp_path))
    try:
        err = proc.communicate(timeout=limit)[1].decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"repro {' '.join(args)} still running after {limit}s") from None
    elapsed = time.monotonic() - start
    # communicate() reaped it: the RSS of the child comes from RUSAGE_CHILDREN deltas, so
    # measure with a second run only where memory matters (see endless token below)
    return proc.returncode, err, elapsed, 0.0


def run_measured(args: list[str], tmp_path, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run `python -m repro ARGS`; (exit code, stderr, peak RSS in MiB of that process
    alone: tests/peak_rss.py). A hang past 60 s is a failure, not a stuck test run."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "PYTHONPATH": ROOT, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"),
            "REGISTRY_AUTH_FILE": "", **(env or {})}
    return run_with_peak_rss([sys.executable, "-m", "repro", *args], env=full, cwd=str(tmp_path), timeout=60)


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("repro: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_manifest_dripped_a_byte_at_a_time_ends_at_the_timeout(pushed, tmp_path):
    with hostile(pushed.host, drip_body=("/manifests/", 0.5)) as h:
        code, err, took, _ = run(["inspect", "--plain-http", "--registry-timeout", "3", h.ref("hostile/app:1")],
                                 tmp_path)
    assert code == 2 and "not complete in time" in one_line(err) and "--registry-timeout" in err
    assert took < 20, took


def test_response_headers_dripped_a_byte_at_a_time_end_at_the_timeout(pushed, tmp_path):
    with hostile(pushed.host, drip_head=("/manifests/", 0.5)) as h:
        code, err, took, _ = run(["inspect", "--plain-http", "--registry-timeout", "3", h.ref("hostile/app:1")],
                                 tmp_path)
    assert code == 2 and "not complete in time" in one_line(err)
    assert took < 20, took


def test_the_command_deadline_bounds_everything(pushed, tmp_path):
    with hostile(pushed.host, drip_body=("/manifests/", 0.5)) as h:
        code, err, took, _ = run(["inspect", "--plain-http", "--registry-deadline", "2", h.ref("hostile/app:1")],
                                 tmp_path)
    assert code == 2 and "--registry-deadline" in one_line(err)
    assert took < 20, took


def test_retry_after_waits_at_most_the_timeout_per_request(pushed, tmp_path):
    with hostile(pushed.host, retry_after="60") as h:  # 60 s each: once 4 minutes per request
        code, err, took, _ = run(["inspect", "--plain-http", "--registry-timeout", "5", h.ref("hostile/app:1")],
                                 tmp_path)
    assert code == 2 and "rate limited" in one_line(err)
    assert took < 20, took
    with hostile(pushed.host, retry_after="2") as h:
        code, err, took, _ = run(["inspect", "--plain-http", "--registry-timeout", "5", h.ref("hostile/app:1")],
                                 tmp_path)
        attempts = len(h.requests)
    assert code == 2 and "rate limited" in one_line(err)
    assert attempts == 3 and 3.5 < took < 20, (attempts, took)  # waited 2 + 2 s, not a third time


def test_an_endless_token_answer_is_refused_with_bounded_memory(pushed, tmp_path):
    with token_service("endless") as tokens, hostile(pushed.host, realm=tokens.url) as h:
        start = time.monotonic()
        code, err, rss = run_measured(["inspect", "--plain-http", h.ref("hostile/app:1")], tmp_path)
        took = time.monotonic() - start
    assert code == 2 and "token answer is larger than" in one_line(err)
    assert rss < 200, f"peak RSS {rss:.0f} MiB"
    assert took < 30, took


def _credentials_for(host: str, tmp_path) -> dict[str, str]:
    config = tmp_path / "auth.json"
    auth = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    config.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"REGISTRY_AUTH_FILE": str(config)}


def test_credentials_are_never_sent_to_a_realm_on_another_host_over_http(pushed, tmp_path):
    with token_service("deny", "127.0.0.2") as tokens, hostile(pushed.host, realm=tokens.url) as h:
        code, err, _, _ = run(["inspect", "--plain-http", h.ref("hostile/app:1")], tmp_path,
                              env=_credentials_for(h.host, tmp_path))
        seen = list(tokens.seen)
    line = one_line(err)
    assert code == 2 and "were not sent" in line and "127.0.0.2" in line and SECRET not in err
    assert seen, "the token service was never asked"
    assert all(auth == "" for _, auth in seen), seen  # asked anonymously, never with the secret


def test_an_anonymous_token_from_another_host_still_works(pushed, tmp_path):
    with token_service("grant", "127.0.0.2") as tokens, hostile(pushed.host, realm=tokens.url) as h:
        code, err, _, _ = run(["inspect", "--plain-http", h.ref("hostile/app:1")], tmp_path,
                              env=_credentials_for(h.host, tmp_path))
        seen = list(tokens.seen)
    assert code == 0, err
    assert seen and all(auth == "" for _, auth in seen), seen


def test_credentials_do_go_to_the_registrys_own_host_under_plain_http(pushed, tmp_path):
    # the control: same host name (another port), --plain-http given -> sent, as docker does
    with token_service("grant", "127.0.0.1") as tokens, hostile(pushed.host, realm=tokens.url) as h:
        code, err, _, _ = run(["inspect", "--plain-http", h.ref("hostile/app:1")], tmp_path,
                              env=_credentials_for(h.host, tmp_path))
        seen = list(tokens.seen)
    want = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    assert code == 0, err
    assert [auth for _, auth in seen] == [want]


def test_https_realms_on_other_hosts_may_have_the_credentials():
    client = RegistryClient("reg.example:5000", "app", RegistryOptions())
    assert client._may_send_credentials("https", "auth.example")
    assert not client._may_send_credentials("http", "auth.example")
    assert not client._may_send_credentials("http", "reg.example")  # HTTPS registry: no downgrade
    plain = RegistryClient("reg.example:5000", "app", RegistryOptions(plain_http=True))
    assert plain._may_send_credentials("http", "reg.example") and not plain._may_send_credentials("http", "evil")
