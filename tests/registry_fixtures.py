"""Real registries on 127.0.0.1 for tests marked `registry` (Debian's docker-registry,
distribution v2), and a small proxy in front of one for faults a registry will not make.

Nothing here skips: a missing docker-registry, skopeo, htpasswd or openssl fails the
test with the package to install (scripts/setup.sh installs them all).

    registry          plain HTTP, no auth
    auth_registry     plain HTTP, htpasswd (bcrypt) basic auth: USER / PASSWORD
    tls_registry      HTTPS with a self-signed certificate (tls_registry.ca is its cert)
    token_registry    plain HTTP, token auth: a Bearer challenge whose realm is a tiny token
                      server here that checks USER / PASSWORD and signs a JWT (openssl)
    Proxy(upstream)   forwards to a registry; cuts a blob after N bytes, answers 429,
                      serves other bytes for a blob, and logs every request
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterator

import pytest

from tests.polling import wait_for

USER = "auditor"
PASSWORD = "pw-7c1f9e-not-in-any-output"  # tests grep every output for it
SERVICE, ISSUER = "repro-test-registry", "repro-test-issuer"


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} not found: apt-get install {package} (scripts/setup.sh installs it)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    root: str  # its storage directory
    scheme: str = "http"
    ca: str = ""  # the TLS certificate (self-signed: it is its own CA)
    flags: tuple[str, ...] = ("--plain-http",)  # what repro needs to reach it
    proc: subprocess.Popen | None = None

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    def blob_file(self, digest: str) -> str:
        hexpart = digest.split(":", 1)[1]
        return os.path.join(self.root, "docker", "registry", "v2", "blobs", "sha256", hexpart[:2], hexpart, "data")


def _write_config(path: str, root: str, port: int, extra: str) -> None:
    with open(path, "w") as f:
        f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: repro-test-secret
{extra}""")


@contextlib.contextmanager
def run_registry(workdir: str, *, auth: str = "", tls: tuple[str, str] | None = None) -> Iterator[Registry]:
    """Start docker-registry with its storage under WORKDIR; stop it afterwards."""
    binary = need("docker-registry", "docker-registry")
    port = free_port()
    root = os.path.join(workdir, "store")
    os.makedirs(root, exist_ok=True)
    extra = auth
    if tls:
        extra = f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" + extra
    config = os.path.join(workdir, "config.yml")
    _write_config(config, root, port, extra)
    log = open(os.path.join(workdir, "registry.log"), "wb")
    proc = subprocess.Popen([binary, "serve", config], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    scheme = "https" if tls else "http"
    reg = Registry(f"127.0.0.1:{port}", root, scheme, tls[0] if tls else "",
                   ("--insecure",) if tls else ("--plain-http",), proc)
    try:
        _wait_for(reg, proc, workdir)
        yield reg
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _wait_for(reg: Registry, proc: subprocess.Popen, workdir: str) -> None:
    host, port = reg.host.split(":")

    def answers() -> bool:
        assert proc.poll() is None, open(os.path.join(workdir, "registry.log")).read()[-2000:]
        try:
            if reg.scheme == "https":
                import ssl
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, int(port), timeout=2, context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/v2/")
            return conn.getresponse().status in (200, 401)
        except OSError:
            return False

    wait_for(answers, timeout=30, what="docker-registry to answer /v2/", interval=0.1)


def htpasswd_auth(workdir: str) -> str:
    binary = need("htpasswd", "apache2-utils")
    line = subprocess.run([binary, "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
    path = os.path.join(workdir, "htpasswd")
    with open(path, "w") as f:
        f.write(line.strip() + "\n")
    return f"auth:\n  htpasswd:\n    realm: repro-test\n    path: {path}\n"


def self_signed(workdir: str) -> tuple[str, str]:
    binary = need("openssl", "openssl")
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run([binary, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def docker_config(path: str, host: str, user: str = USER, password: str = PASSWORD, **extra: object) -> str:
    """A DOCKER_CONFIG directory holding config.json with inline credentials for HOST."""
    os.makedirs(path, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"auths": {host: {"auth": auth}}, **extra}, f)
    return path


def skopeo_copy(src: str, reg: Registry, name: str, *, creds: str | None = None) -> None:
    """skopeo copy --all --preserve-digests SRC docker://REGISTRY/NAME."""
    skopeo = need("skopeo", "skopeo")
    argv = [skopeo, "--insecure-policy", "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false"]
    if creds:
        argv += ["--dest-creds", creds]
    subprocess.run([*argv, src, reg.ref(name)], check=True, capture_output=True, timeout=120)


# -- token auth ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The realm of a token-auth registry: GET /token?service=&scope= with Basic USER:PASSWORD
    answers {"token": JWT} signed with the registry's trusted key (RS256, x5c header)."""

    def __init__(self, workdir: str) -> None:
        self.cert, self.key = self_signed(workdir)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], capture_output=True,
                             check=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlparse

                query = parse_qs(urlparse(self.path).query)
                server.requests.append(self.path)
                want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")[0], ":".join(scope.split(":")[1:-1]), scope.split(":")[-1]
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 3600, "nbf": now - 60, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        return f"{signing}.{_b64url(sig)}"

    def auth_config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {self.cert}\n")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- a proxy for faults ----------------------------------------------------------------------


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that drops its connection (as tests make them do) is not news


@dataclass
class Logged:
    method: str
    path: str
    status: int
    bytes: int  # body bytes sent to the client


@dataclass
class Proxy:
    """HTTP proxy to UPSTREAM (host:port). Set `cut[digest] = n` to close the connection
    after n body bytes of that blob, `replace[digest] = data` to serve other bytes for it,
    `throttle = k` to answer the next k requests with `throttle_status` (429; Retry-After:
    `retry_after`)."""

    upstream: str
    cut: dict[str, int] = field(default_factory=dict)
    replace: dict[str, bytes] = field(default_factory=dict)
    throttle: int = 0
    throttle_status: int = 429
    retry_after: str = "0"
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward("GET")

            def do_HEAD(self) -> None:
                self._forward("HEAD")

            def _forward(self, method: str) -> None:
                with lock:
                    throttled = proxy.throttle > 0
                    if throttled:
                        proxy.throttle -= 1
                if throttled:
                    self.send_response(proxy.throttle_status)
                    self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    proxy.log.append(Logged(method, self.path, proxy.throttle_status, 0))
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(method, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                digest = self.path.rsplit("/blobs/", 1)[1] if "/blobs/" in self.path else ""
                if method == "GET" and resp.status == 200 and digest in proxy.replace:
                    body = proxy.replace[digest]
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "keep-alive", "date", "server",
                                         "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", resp.getheader("Content-Length", "0") if method == "HEAD"
                                 else str(len(body)))
                self.end_headers()
                if method == "HEAD":
                    proxy.log.append(Logged(method, self.path, resp.status, 0))
                    return
                if digest in proxy.cut and resp.status == 200:
                    sent = body[: proxy.cut[digest]]
                    self.wfile.write(sent)
                    self.wfile.flush()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    proxy.log.append(Logged(method, self.path, resp.status, len(sent)))
                    return
                self.wfile.write(body)
                proxy.log.append(Logged(method, self.path, resp.status, len(body)))

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    def blob_gets(self) -> list[str]:
        """Digests of the blobs downloaded (GET) through the proxy, in order."""
        return [l.path.rsplit("/blobs/", 1)[1] for l in self.log if l.method == "GET" and "/blobs/" in l.path]

    def fetched_bytes(self) -> int:
        return sum(l.bytes for l in self.log)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextlib.contextmanager
def proxy_to(reg: Registry) -> Iterator[Proxy]:
    p = Proxy(reg.host)
    try:
        yield p
    finally:
        p.close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(str(tmp_path_factory.mktemp("registry"))) as reg:
        yield reg


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    work = str(tmp_path_factory.mktemp("auth-registry"))
    with run_registry(work, auth=htpasswd_auth(work)) as reg:
        yield reg


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    work = str(tmp_path_factory.mktemp("tls-registry"))
    with run_registry(work, tls=self_signed(work)) as reg:
        yield reg


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    work = str(tmp_path_factory.mktemp("token-registry"))
    tokens = TokenServer(work)
    try:
        with run_registry(work, auth=tokens.auth_config()) as reg:
            yield reg
    finally:
        tokens.close()
