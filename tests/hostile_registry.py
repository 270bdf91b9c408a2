"""A malicious registry for the registry client's worst days (issue #16): an HTTP server
on 127.0.0.1 in front of a real docker-registry (tests/registry_fixtures.py), which it
forwards to except where it is told to misbehave, and a token service on 127.0.0.2 (a
different host, as the client sees it) that records what it is sent.

    HostileRegistry(upstream)
        drip_body = (PATH_PART, seconds_per_byte)   manifests sent a byte at a time
        drip_head = (PATH_PART, seconds_per_byte)   the status line and headers, likewise
        retry_after = "60"                          every request: 429, Retry-After 60
        realm = URL                                 answer 401 Bearer realm=URL to every request
                                                    without a Bearer token (the token is not checked)
    TokenService(host, mode)                        mode "deny": 401 to all, "endless": 200 and a
                                                    body that never ends, "grant": an opaque token;
                                                    `.seen` holds each request's (path, Authorization)
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up on us are the point


@dataclass
class TokenService:
    host: str = "127.0.0.2"
    mode: str = "deny"
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                service.seen.append((self.path, self.headers.get("Authorization", "")))
                if service.mode == "grant":
                    body = b'{"token":"opaque-test-token"}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif service.mode == "endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()  # no length: the body ends when the connection does
                    self.wfile.write(b'{"token":"')
                    chunk = b"A" * 65536
                    with contextlib.suppress(OSError):
                        while True:
                            self.wfile.write(chunk)
                else:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self._httpd = _Server((self.host, 0), Handler)
        self.url = f"http://{self.host}:{self._httpd.server_address[1]}/token"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass
class HostileRegistry:
    upstream: str  # host:port of a real registry
    drip_body: tuple[str, float] | None = None
    drip_head: tuple[str, float] | None = None
    retry_after: str | None = None
    realm: str | None = None
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._handle("HEAD")

            def do_GET(self) -> None:
                self._handle("GET")

            def _drip(self, data: bytes, per_byte: float) -> None:
                with contextlib.suppress(OSError):
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(per_byte)

            def _handle(self, method: str) -> None:
                hostile.requests.append(f"{method} {self.path}")
                if hostile.retry_after is not None:
                    self.send_response(429)
                    self.send_header("Retry-After", hostile.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if hostile.realm and not self.headers.get("Authorization", "").startswith("Bearer "):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", f'Bearer realm="{hostile.realm}",service="hostile"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(hostile.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "authorization")}
                conn.request(method, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                head = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n".encode()]
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length"):
                        head.append(f"{k}: {v}\r\n".encode())
                length = resp.getheader("Content-Length", "0") if method == "HEAD" else str(len(body))
                head.append(f"Content-Length: {length}\r\n\r\n".encode())
                if hostile.drip_head and hostile.drip_head[0] in self.path:
                    self._drip(b"".join(head), hostile.drip_head[1])
                    return
                self.wfile.write(b"".join(head))
                if method == "HEAD":
                    return
                if hostile.drip_body and hostile.drip_body[0] in self.path:
                    self._drip(body, hostile.drip_body[1])
                    return
                self.wfile.write(body)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextlib.contextmanager
def hostile(upstream: str, **kw: object) -> Iterator[HostileRegistry]:
    h = HostileRegistry(upstream, **kw)  # type: ignore[arg-type]
    try:
        yield h
    finally:
        h.close()


@contextlib.contextmanager
def token_service(mode: str, host: str = "127.0.0.2") -> Iterator[TokenService]:
    t = TokenService(host, mode)
    try:
        yield t
    finally:
        t.close()
