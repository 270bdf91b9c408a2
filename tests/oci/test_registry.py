"""The registry source against real registries (Debian's docker-registry on 127.0.0.1):
images written by imagegen and pushed with skopeo, read back through `docker://`, and
every error a user will hit (auth, TLS, 404, tampering, dropped connections, 429)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from repro.errors import InputError, IntegrityError, RegistryError
from repro.oci import RegistryOptions, open_image
from repro.oci.registry_auth import find_credentials
from tests import imagegen as g
from tests.oci.validate import read_layer, validate
from tests.registry_fixtures import PASSWORD, USER, Registry, docker_config, proxy_to, skopeo_copy

from tests import ROOT

pytestmark = pytest.mark.registry
PLAIN = RegistryOptions(plain_http=True, backoff=0.01)


def push(spec, tmp_path, reg: Registry, name: str, creds: str | None = None) -> g.Built:
    layout = tmp_path / f"layout-{name.replace('/', '-').replace(':', '-')}"
    built = g.write_image(spec, layout, "oci")
    skopeo_copy(f"oci:{layout}", reg, name, creds=creds)
    return built


def repro(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=full,
                          timeout=timeout, cwd=ROOT)


def isolated_home(tmp_path) -> dict[str, str]:
    """No credentials from the machine: HOME and DOCKER_CONFIG point at empty dirs."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"), "REGISTRY_AUTH_FILE": ""}


# -- the validation suite of every source ----------------------------------------------------


def test_registry_source_reads_what_imagegen_wrote(tmp_path, registry):
    spec = g.simple_image(empty_history=[(0, "ARG X=1"), (1, "ENV A=b")])
    built = push(spec, tmp_path, registry, "suite/simple:1")
    with open_image(registry.ref("suite/simple:1"), registry=PLAIN) as image:
        validate(image, built, spec, "docker")
    with open_image(registry.ref(f"suite/simple@{built.digest}"), registry=PLAIN, verify_all=True) as image:
        validate(image, built, spec, "docker")


def test_docker_media_types_and_uncompressed_and_zstd_layers(tmp_path, registry):
    spec = g.simple_image(docker_media_types=True)
    spec.layers[1].compression = "none"
    built = push(spec, tmp_path, registry, "suite/docker:1")
    with open_image(registry.ref("suite/docker:1"), registry=PLAIN) as image:
        validate(image, built, spec, "docker")
        assert image.manifests[0].descriptor.media_type == g.DOCKER_MANIFEST
    zspec = g.simple_image()
    zspec.layers[0].compression = "zstd"
    built = push(zspec, tmp_path, registry, "suite/zstd:1")
    with open_image(registry.ref("suite/zstd:1"), registry=PLAIN) as image:
        validate(image, built, zspec, "docker")


def test_multi_platform_index_with_attestations(tmp_path, registry):
    amd = g.simple_image(platform="linux/amd64", attestation=True)
    arm = g.simple_image(platform="linux/arm64/v8", attestation=True, labels={"arch": "arm"})
    spec = g.IndexSpec([amd, arm], annotations={"org.opencontainers.image.created": g.CREATED})
    built = push(spec, tmp_path, registry, "suite/multi:1")
    with open_image(registry.ref("suite/multi:1"), registry=PLAIN) as image:
        validate(image, built, spec, "docker")
        assert image.digest == built.digest and image.index["annotations"]
        assert [str(mi.platform) for mi in image.manifests] == [
            "linux/amd64", "unknown/unknown", "linux/arm64/v8", "unknown/unknown"]
        assert [mi.is_attestation for mi in image.manifests] == [False, True, False, True]


def test_platform_walks_only_that_platform_and_its_attestation(tmp_path, registry):
    amd = g.simple_image(platform="linux/amd64", attestation=True)
    arm = g.simple_image(platform="linux/arm64/v8", attestation=True, labels={"arch": "arm"})
    built = push(g.IndexSpec([amd, arm]), tmp_path, registry, "suite/multi:2")
    arm_built = built.manifests[1]
    with proxy_to(registry) as proxy:
        with open_image(proxy.ref("suite/multi:2"), registry=PLAIN, platform="linux/arm64/v8") as image:
            assert [mi.descriptor.digest for mi in image.manifests] == [arm_built.digest, arm_built.attestation_digest]
        paths = " ".join(l.path for l in proxy.log)
        assert built.manifests[0].digest not in paths and built.manifests[0].config_digest not in paths
        assert proxy.blob_gets() == [arm_built.config_digest, *attestation_config(built, 1)]
        with pytest.raises(InputError, match=r"platform linux/s390x is not in the index; it has: linux/amd64, "
                                             r"linux/arm64/v8"):
            open_image(proxy.ref("suite/multi:2"), registry=PLAIN, platform="linux/s390x")
        r = repro("diff", "--plain-http", "--platform", "linux/s390x", proxy.ref("suite/multi:2"),
                  proxy.ref("suite/multi:2"))
        assert r.returncode == 2 and "platform linux/s390x is not in the index" in r.stderr, r.stderr
        r = repro("diff", "--plain-http", "--platform", "linux/arm64/v8", proxy.ref("suite/multi:2"),
                  proxy.ref("suite/multi:2"))
        assert r.returncode == 0, r.stderr


def attestation_config(built: g.Built, i: int) -> list[str]:
    att = json.loads(built.blobs[built.manifests[i].attestation_digest])
    return [att["config"]["digest"]]


def test_nested_index(tmp_path, registry):
    """index -> index -> manifests: the inner index pushed with skopeo, the outer one by hand."""
    spec = g.IndexSpec([g.simple_image(platform="linux/amd64"), g.simple_image(platform="linux/arm64")])
    built = push(spec, tmp_path, registry, "suite/nested:inner")
    inner = built.blobs[built.digest]
    outer = g.canonical({"schemaVersion": 2, "mediaType": g.OCI_INDEX, "manifests": [
        {"mediaType": g.OCI_INDEX, "digest": built.digest, "size": len(inner)}]})
    r = requests.put(f"http://{registry.host}/v2/suite/nested/manifests/outer", data=outer,
                     headers={"Content-Type": g.OCI_INDEX}, timeout=30)
    assert r.status_code == 201, r.text
    with open_image(registry.ref("suite/nested:outer"), registry=PLAIN) as image:
        assert image.digest == g.sha256(outer)
        assert [str(mi.platform) for mi in image.manifests] == ["linux/amd64", "linux/arm64"]
        assert image.index["manifests"][0]["digest"] == built.digest  # the top-level index is the outer one
        built.digest = g.sha256(outer)
        validate(image, built, spec, "docker")


# -- only what a comparison needs ------------------------------------------------------------


def test_equal_diff_ids_are_never_downloaded(tmp_path, registry):
    big = g.file("big.bin", os.urandom(2 << 20))
    spec = g.ImageSpec(layers=[g.LayerSpec([big], compression="none"),
                               g.LayerSpec([g.file("app/version", b"1\n")])])
    a = push(spec, tmp_path, registry, "fetch/app:1")
    b = push(g.vary(spec, 1, "app/version", content=b"2\n"), tmp_path, registry, "fetch/app:2")
    assert a.manifests[0].layer_digests[0] == b.manifests[0].layer_digests[0]
    with proxy_to(registry) as proxy:
        r = repro("diff", "--plain-http", proxy.ref("fetch/app:1"), proxy.ref("fetch/app:1"))
        assert r.returncode == 0, r.stderr
        same = proxy.fetched_bytes()
        assert set(proxy.blob_gets()) == {a.manifests[0].config_digest}  # the config (once per side); no layer
        proxy.log.clear()
        r = repro("diff", "--plain-http", "--format", "json", proxy.ref("fetch/app:1"), proxy.ref("fetch/app:2"))
        assert r.returncode == 1, r.stderr
        assert [(f["path"], f["field"]) for f in json.loads(r.stdout)["findings"]] == [("app/version", "content")]
        fetched = proxy.blob_gets()
        assert a.manifests[0].layer_digests[0] not in fetched  # the 2 MiB layer both share
        assert a.manifests[0].layer_digests[1] in fetched and b.manifests[0].layer_digests[1] in fetched
        different = proxy.fetched_bytes()
    print(f"\nbytes fetched: identical images {same}, one small layer differing {different}, "
          f"shared layer {a.manifests[0].layer_digests[0][:19]} is {2 << 20} bytes and was never fetched")
    assert same < 4096 and different < 8192


def test_a_layer_is_streamed_not_buffered(tmp_path, registry):
    spec = g.ImageSpec(layers=[g.LayerSpec([g.file("big.bin", os.urandom(8 << 20))], compression="none")])
    push(spec, tmp_path, registry, "fetch/big:1")
    with open_image(registry.ref("fetch/big:1"), registry=PLAIN) as image:
        layer = image.manifests[0].layers[0]
        with image.open_layer(layer) as stream:
            first = b""
            while len(first) < 4096:
                first += stream.read(4096 - len(first))
            client = image._blobs.client
            assert client.stats.bytes < 2 << 20  # read as it arrives
            while stream.read(1 << 20):
                pass
        assert client.stats.bytes >= 8 << 20


# -- errors ----------------------------------------------------------------------------------


# The tests below that tamper with the store use images of their own (a label): blobs are
# shared by digest across the session's repositories.


def test_tampered_blob_in_the_registry_store_is_exit_2_naming_the_digest(tmp_path, registry):
    spec = g.vary(g.simple_image(), 1, "app/run", content=b"#!/bin/sh\necho tampered-blob test\n")
    a = push(spec, tmp_path, registry, "tamper/app:1")
    push(g.vary(spec, 1, "app/run", content=b"#!/bin/sh\necho other\n"), tmp_path, registry, "tamper/app:2")
    victim = a.manifests[0].layer_digests[1]
    assert victim not in g.build_oci(g.simple_image()).blobs  # no other test's layer
    path = registry.blob_file(victim)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF  # same size: the registry still serves it
    with open(path, "wb") as f:
        f.write(bytes(data))
    r = repro("diff", "--plain-http", registry.ref("tamper/app:1"), registry.ref("tamper/app:2"))
    assert r.returncode == 2
    assert victim[:19] in r.stderr and "digest mismatch" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_tampered_manifest_is_a_digest_mismatch(tmp_path, registry):
    built = push(g.simple_image(labels={"test": "tampered-manifest"}), tmp_path, registry, "tamper/manifest:1")
    path = registry.blob_file(built.digest)
    doc = json.loads(open(path, "rb").read())
    doc["annotations"] = {"x": "y"}
    with open(path, "wb") as f:
        f.write(g.canonical(doc))
    for ref in (registry.ref("tamper/manifest:1"), registry.ref(f"tamper/manifest@{built.digest}")):
        with pytest.raises(IntegrityError, match="digest mismatch") as e:
            open_image(ref, registry=PLAIN)
        assert built.digest[:19] in str(e.value)


def test_proxy_serving_other_bytes_for_a_blob(tmp_path, registry):
    spec = g.simple_image()
    a = push(spec, tmp_path, registry, "proxy/app:1")
    victim = a.manifests[0].layer_digests[0]
    with proxy_to(registry) as proxy:
        for other in (b"\x1f\x8b" + b"\0" * 100, b"\x1f\x8b" + b"\0" * (a_size(a, victim) - 2)):
            proxy.replace[victim] = other  # shorter, then as long as the real blob
            with pytest.raises(IntegrityError, match=victim[:19]):
                with open_image(proxy.ref("proxy/app:1"), registry=PLAIN) as image:
                    read_layer(image, image.manifests[0].layers[0])


def a_size(built: g.Built, digest: str) -> int:
    return len(built.blobs[digest])


def test_connection_dropped_mid_blob_is_exit_2_and_leaves_nothing(tmp_path, registry):
    spec = g.ImageSpec(layers=[g.LayerSpec([g.file("big.bin", os.urandom(1 << 20))], compression="none")])
    a = push(spec, tmp_path, registry, "drop/app:1")
    push(g.vary(spec, 0, "big.bin", content=os.urandom(1 << 20)), tmp_path, registry, "drop/app:2")
    victim = a.manifests[0].layer_digests[0]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with proxy_to(registry) as proxy:
        proxy.cut[victim] = 300_000
        r = repro("diff", "--plain-http", proxy.ref("drop/app:1"), proxy.ref("drop/app:2"),
                  env={"TMPDIR": str(tmp)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("repro: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "connection lost while reading blob " + victim in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(tmp) == []


def test_rate_limiting_is_retried_with_backoff_then_given_up(tmp_path, registry):
    push(g.simple_image(), tmp_path, registry, "limit/app:1")
    with proxy_to(registry) as proxy:
        proxy.throttle = 3
        with open_image(proxy.ref("limit/app:1"), registry=PLAIN) as image:
            assert image.manifests
        assert [l.status for l in proxy.log[:4]] == [429, 429, 429, 200]
        proxy.throttle = 1000
        # a hang guard, not a speed check: the retries are bounded (counted below)
        r = repro("inspect", "--plain-http", proxy.ref("limit/app:1"), timeout=60)
        assert r.returncode == 2 and "rate limited (429" in r.stderr and "try again later" in r.stderr, r.stderr
        assert 3 <= len([l for l in proxy.log if l.status == 429]) - 3 <= 6  # bounded: 1 + 4 retries


def test_a_persistent_503_is_retried_then_exit_2(tmp_path, registry):
    push(g.simple_image(), tmp_path, registry, "limit/app:3")
    with proxy_to(registry) as proxy:
        proxy.throttle, proxy.throttle_status = 1000, 503
        r = repro("inspect", "--plain-http", proxy.ref("limit/app:3"))
        assert r.returncode == 2 and "the registry answered 503 Service Unavailable" in r.stderr, r.stderr
        assert len(proxy.log) == 5


def test_a_bearer_challenge_without_a_realm_is_one_line():
    """oras's token code raises AttributeError on it: still one RegistryError."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer service="odd"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RegistryError) as e:
            open_image(f"docker://127.0.0.1:{server.server_address[1]}/odd/app:1", registry=PLAIN)
        assert "Traceback" not in str(e.value) and "odd/app" in str(e.value)
    finally:
        server.shutdown()
        server.server_close()


def test_retry_after_is_honoured(tmp_path, registry):
    push(g.simple_image(), tmp_path, registry, "limit/app:2")
    with proxy_to(registry) as proxy:
        proxy.throttle, proxy.retry_after = 1, "1"
        started = time.monotonic()
        with open_image(proxy.ref("limit/app:2"), registry=PLAIN):
            pass
        assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("ref, message", [
    ("nothing/here:1", "nothing/here:1: tag 1 not found (404 Not Found, MANIFEST_UNKNOWN)"),
    ("suite/simple:nope", "suite/simple:nope: tag nope not found (404 Not Found, MANIFEST_UNKNOWN)"),
    ("suite/simple@sha256:" + "0" * 64, "manifest sha256:000000000000… not found (404 Not Found"),
])
def test_missing_manifest_is_exit_2(tmp_path, registry, ref, message):
    push(g.simple_image(), tmp_path, registry, "suite/simple:1")
    r = repro("inspect", "--plain-http", registry.ref(ref))
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_unknown_host_and_refused_connection_fail_fast():
    # hang guards (timeout=): oras's own retry would sleep about two minutes here
    r = repro("inspect", "docker://no-such-host.invalid/app:1", timeout=30)
    assert r.returncode == 2 and "no-such-host.invalid: unknown host" in r.stderr, r.stderr
    from tests.registry_fixtures import free_port

    r = repro("inspect", "--plain-http", f"docker://127.0.0.1:{free_port()}/app:1", timeout=30)
    assert r.returncode == 2 and "connection refused" in r.stderr, r.stderr


def test_https_to_a_plain_registry_says_plain_http(registry):
    r = repro("inspect", registry.ref("suite/simple:1"))
    assert r.returncode == 2 and "use --plain-http" in r.stderr, r.stderr


# -- TLS -------------------------------------------------------------------------------------


def test_self_signed_registry_needs_insecure_or_its_ca(tmp_path, tls_registry):
    spec = g.simple_image()
    layout = tmp_path / "layout"
    built = g.write_image(spec, layout, "oci")
    skopeo_copy(f"oci:{layout}", tls_registry, "tls/app:1")
    ref = tls_registry.ref("tls/app:1")
    r = repro("inspect", ref)
    assert r.returncode == 2 and "certificate not trusted" in r.stderr and "--insecure" in r.stderr, r.stderr
    r = repro("inspect", "--insecure", ref)
    assert r.returncode == 0 and built.digest in r.stdout, r.stderr
    r = repro("inspect", ref, env={"REQUESTS_CA_BUNDLE": tls_registry.ca})
    assert r.returncode == 0 and built.digest in r.stdout, r.stderr


# -- authentication --------------------------------------------------------------------------


@pytest.fixture
def private_image(tmp_path, auth_registry) -> tuple[str, g.Built]:
    built = push(g.simple_image(), tmp_path, auth_registry, "private/app:1", creds=f"{USER}:{PASSWORD}")
    return auth_registry.ref("private/app:1"), built


def test_htpasswd_registry_with_credentials_from_docker_config(tmp_path, auth_registry, private_image):
    ref, built = private_image
    env = isolated_home(tmp_path)
    env["DOCKER_CONFIG"] = docker_config(str(tmp_path / "dc"), auth_registry.host)
    r = repro("diff", "--plain-http", "--format", "json", ref, ref, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inputs"][0]["digest"] == built.digest
    assert PASSWORD not in r.stdout + r.stderr


def test_registry_auth_file_comes_first(tmp_path, auth_registry, private_image):
    ref, _ = private_image
    env = isolated_home(tmp_path)
    env["DOCKER_CONFIG"] = docker_config(str(tmp_path / "dc"), auth_registry.host, password="wrong")
    auth_file = os.path.join(docker_config(str(tmp_path / "raf"), auth_registry.host), "config.json")
    env["REGISTRY_AUTH_FILE"] = auth_file
    r = repro("inspect", "--plain-http", ref, env=env)
    assert r.returncode == 0, r.stderr


def test_credential_helper(tmp_path, auth_registry, private_image):
    ref, _ = private_image
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-repro-test"
    helper.write_text("#!/bin/sh\nread server\n"
                      f"[ \"$server\" = \"{auth_registry.host}\" ] || {{ echo 'credentials not found'; exit 1; }}\n"
                      f"echo '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    env = isolated_home(tmp_path)
    os.makedirs(env["DOCKER_CONFIG"])
    with open(os.path.join(env["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"credHelpers": {auth_registry.host: "repro-test"}}, f)
    env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    r = repro("inspect", "--plain-http", ref, env=env)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(env["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"credsStore": "repro-test"}, f)  # docker's default store, for every registry
    r = repro("inspect", "--plain-http", ref, env=env)
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr


@pytest.mark.parametrize("case", ["none", "wrong"])
def test_auth_failures_are_exit_2_without_the_secret(tmp_path, auth_registry, private_image, case):
    ref, _ = private_image
    env = isolated_home(tmp_path)
    secret = "wrong-" + PASSWORD
    if case == "wrong":
        env["DOCKER_CONFIG"] = docker_config(str(tmp_path / "dc"), auth_registry.host, password=secret)
    r = repro("diff", "--plain-http", ref, ref, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    if case == "none":
        assert "authentication required (401 Unauthorized)" in r.stderr and "docker login" in r.stderr
    else:
        assert "401 Unauthorized" in r.stderr and "were rejected" in r.stderr
        assert os.path.join(str(tmp_path / "dc"), "config.json") in r.stderr  # where they came from
    assert secret not in r.stderr + r.stdout and PASSWORD not in r.stderr + r.stdout
    r = repro("--debug", "inspect", "--plain-http", ref, env=env)  # not even in a traceback
    assert r.returncode == 2 and secret not in r.stderr and PASSWORD not in r.stderr


def test_credentials_in_a_reference_are_refused_and_not_echoed():
    r = repro("inspect", f"docker://{USER}:{PASSWORD}@127.0.0.1:5000/app:1")
    assert r.returncode == 2 and "credentials do not belong in an image reference" in r.stderr
    assert PASSWORD not in r.stderr


def test_token_auth_registry(tmp_path, token_registry):
    built = push(g.simple_image(), tmp_path, token_registry, "tok/app:1", creds=f"{USER}:{PASSWORD}")
    ref = token_registry.ref("tok/app:1")
    env = isolated_home(tmp_path)
    r = repro("inspect", "--plain-http", ref, env=env)
    assert r.returncode == 2 and "authentication required (401" in r.stderr, r.stderr
    env["DOCKER_CONFIG"] = docker_config(str(tmp_path / "dc"), token_registry.host)
    r = repro("diff", "--plain-http", "--format", "json", ref, ref, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inputs"][0]["digest"] == built.digest
    env["DOCKER_CONFIG"] = docker_config(str(tmp_path / "dc2"), token_registry.host, password="nope")
    r = repro("inspect", "--plain-http", ref, env=env)
    assert r.returncode == 2 and "were rejected" in r.stderr and "nope" not in r.stderr, r.stderr


def test_find_credentials_order_and_helpers_not_found(tmp_path):
    a = docker_config(str(tmp_path / "a"), "r.example:5000", user="first")
    b = docker_config(str(tmp_path / "b"), "r.example:5000", user="second")
    env = {"REGISTRY_AUTH_FILE": os.path.join(a, "config.json"), "DOCKER_CONFIG": b}
    creds = find_credentials("r.example:5000", env)
    assert creds is not None and creds.username == "first" and creds.password == PASSWORD
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)
    assert find_credentials("other.example", env) is None
    hub = docker_config(str(tmp_path / "hub"), "https://index.docker.io/v1/")
    assert find_credentials("docker.io", {"DOCKER_CONFIG": hub}).username == USER
    with pytest.raises(RegistryError, match="docker-credential-absent is configured but not installed"):
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump({"credHelpers": {"r.example:5000": "absent"}}, f)
        find_credentials("r.example:5000", {"DOCKER_CONFIG": b})
