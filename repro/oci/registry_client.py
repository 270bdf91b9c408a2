"""HTTP for the registry source, with oras-py's `Registry` as the client.

oras gives the session, the auth backends (`basic`, and `token`: the Bearer exchange of
the distribution spec) and the send-authenticate-resend step. Around it, this module
decides what oras cannot know:

- the auth backend, from the `WWW-Authenticate` challenge on `/v2/`: oras's default token
  backend takes a Basic challenge's realm for a token URL and fails, and its basic
  backend raises AttributeError when it has no credentials;
- retries: only 429 and 502/503/504 answers and connections reset before an answer,
  bounded, with backoff (or the registry's Retry-After). oras's own retry decorator sleeps
  3+5+11+29+83 s on any exception, an unknown host included, so it is bypassed;
- time: requests has no timeout by default, and its timeout runs between bytes, so a
  server dripping a byte a second never times out. Here every request has a deadline
  for its whole answer (headers in a watched thread, bodies read as they come and
  checked against it), retries wait at most `timeout` per request, and a command's
  registry work in all ends at `deadline` (RegistryOptions);
- the token exchange of Bearer auth is done here, not by oras (which reads the token
  answer whole, however long, and sends the registry's credentials to whatever realm a
  401 names): credentials go to a realm on another host only over HTTPS;
- errors: every failure is one RegistryError naming the host, the repository and the
  status. Never a URL with credentials, a header, or a registry's error text (which may
  quote the request); only the error code from its JSON.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from urllib.parse import urlencode, urlsplit
from dataclasses import dataclass, field
from typing import Any, Callable

import oras.auth
import oras.auth.utils
import oras.provider
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from repro.errors import RegistryError
from repro.oci.registry_auth import Credentials, auth_files, find_credentials
from repro.oci.registry_options import MIN_BLOB_RATE, RegistryOptions
from repro.oci.verify import CHUNK, RawReader, read_limited, short

# oras logs through the standard logging module; a library that reads images does not print
logging.getLogger("oras").addHandler(logging.NullHandler())
logging.getLogger("oras").propagate = False

# do_request without oras's @retry (see the module docstring)
_ORAS_REQUEST: Callable[..., requests.Response] = getattr(
    oras.provider.Registry.do_request, "__wrapped__", oras.provider.Registry.do_request
)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0
MAX_TOKEN_BYTES = 1 << 20  # a token answer (a JWT is a few KiB); more is refused, never read whole
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass
class FetchStats:
    """What a client fetched: requests sent, body bytes read, blobs downloaded (GET)."""

    requests: int = 0
    bytes: int = 0
    blobs: list[str] = field(default_factory=list)


class _TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class RegistryClient:
    """One repository on one registry. Not shared between threads: each opened image
    has its own."""

    def __init__(self, host: str, repository: str, options: RegistryOptions, label: str = "",
                 credentials: Callable[[str], Credentials | None] = find_credentials) -> None:
        self.host, self.repository, self.options = host, repository, options
        self.where = label or f"{host}/{repository}"  # for messages: the reference as the user gave it
        self.stats = FetchStats()
        self._find_credentials = credentials
        self._credentials: Credentials | None = None
        api_host = DOCKER_HUB_API if host == "docker.io" else host
        self._base = f"{'http' if options.plain_http else 'https'}://{api_host}/v2/{repository}"
        self._root = f"{'http' if options.plain_http else 'https'}://{api_host}/v2/"
        self._oras: oras.provider.Registry | None = None
        self._basic_header: dict[str, str] = {}

    # -- requests ---------------------------------------------------------------------

    def get_manifest(self, reference: str, accept: tuple[str, ...], limit: int) -> tuple[bytes, str, str]:
        """(body, Content-Type without parameters, Docker-Content-Digest or "") of the
        manifest or index REFERENCE (a tag or a digest); at most `limit` + 1 bytes read."""
        what = f"manifest {short(reference)}" if ":" in reference else f"tag {reference}"
        until = self._until(self.options.timeout, what)
        resp = self._send("GET", f"{self._base}/manifests/{reference}", {"Accept": ", ".join(accept)}, what, until)
        try:
            self._check(resp, what)
            body = read_limited(BlobStream(resp, self, what, until), limit)
        finally:
            resp.close()
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return body, media_type, resp.headers.get("Docker-Content-Digest", "").strip()

    def blob_size(self, digest: str) -> int | None:
        """The size the registry reports for blob DIGEST (HEAD); None when it has none."""
        what = f"blob {digest}"
        resp = self._send("HEAD", f"{self._base}/blobs/{digest}", {}, what, self._until(self.options.timeout, what))
        try:
            if resp.status_code == 404:
                return None
            self._check(resp, what)
        finally:
            resp.close()
        try:
            return int(resp.headers["Content-Length"])
        except (KeyError, ValueError):
            return -1  # the registry does not say: reading the blob checks its size

    def open_blob(self, digest: str) -> "BlobStream | None":
        """Blob DIGEST, streamed; None when the registry does not have it."""
        what = f"blob {digest}"
        start = time.monotonic()
        resp = self._send("GET", f"{self._base}/blobs/{digest}", {}, what, self._until(self.options.timeout, what))
        if resp.status_code == 404:
            resp.close()
            return None
        try:
            self._check(resp, what)
            try:
                size = max(int(resp.headers.get("Content-Length", "")), 0)
            except ValueError:
                size = 0
            # the whole download: `timeout`, plus its size at the slowest rate accepted
            until = min(start + self.options.timeout + size / MIN_BLOB_RATE, self._until(float("inf"), what))
        except BaseException:
            resp.close()
            raise
        self.stats.blobs.append(digest)
        return BlobStream(resp, self, what, until)

    def close(self) -> None:
        if self._oras is not None:
            self._oras.session.close()

    # -- the connection, authentication and retries ------------------------------------

    def _client(self) -> oras.provider.Registry:
        """oras's client, with the auth backend the registry's challenge on /v2/ asks for."""
        if self._oras is not None:
            return self._oras
        verify = not self.options.insecure
        client = oras.provider.Registry(hostname=self.host, insecure=self.options.plain_http, tls_verify=verify,
                                        auth_backend="token")
        adapter = _TimeoutAdapter(self.options.timeout)
        client.session.mount("http://", adapter)
        client.session.mount("https://", adapter)
        # oras's own token requests read the answer whole and send the credentials to any
        # realm: should oras ever ask for a token itself (a 401 after a 200 on /v2/), it
        # gets ours
        client.auth.request_token = lambda h: self._fetch_token(client, h)  # type: ignore[method-assign]
        client.auth.request_anonymous_token = lambda h: self._fetch_token(client, h)  # type: ignore[method-assign]
        try:
            resp = self._retrying(lambda: client.session.get(self._root, verify=verify, stream=True), "/v2/",
                                  self._until(self.options.timeout, "/v2/"))
            try:
                self._authenticate(client, resp)
            finally:
                resp.close()
        except BaseException:
            client.session.close()
            raise
        self._oras = client
        return client

    def _authenticate(self, client: oras.provider.Registry, ping: requests.Response) -> None:
        if ping.status_code == 404:
            raise RegistryError(f"{self.host}: not a registry: /v2/ answered 404 Not Found")
        if ping.status_code != 401:
            self._check(ping, "/v2/")
            return
        scheme = ping.headers.get("WWW-Authenticate", "").split(" ", 1)[0].lower()
        self._credentials = self._find_credentials(self.host)
        creds = self._credentials
        if scheme == "basic":
            if creds is None:
                raise RegistryError(self._no_credentials())
            client.auth = oras.auth.get_auth_backend("basic", client.session, self.options.plain_http,
                                                     tls_verify=not self.options.insecure)
            client.auth.set_basic_auth(creds.username, creds.password)
            self._basic_header = client.auth.get_auth_header()
        elif scheme == "bearer":
            # oras would fetch the token on the first 401 itself: done here instead, so that
            # the answer is bounded and the credentials' destination checked (docs/registries.md)
            from oras.auth.utils import parse_auth_header

            client.auth.set_token_auth(self._fetch_token(client, parse_auth_header(
                ping.headers.get("WWW-Authenticate", ""))))
        else:
            raise RegistryError(f"{self.host}: asks for an unknown kind of authentication "
                                f"({scheme or 'no challenge'}) (401 Unauthorized)")

    def _fetch_token(self, client: oras.provider.Registry, h: Any) -> str:
        """The distribution spec's token exchange, for pulling this repository: GET the
        challenge's realm (`h`, oras's parsed WWW-Authenticate) with its service and our
        scope, with the registry's credentials only where they may go
        (`_may_send_credentials`), else anonymously."""
        realm = str(getattr(h, "realm", "") or "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"{self.host}: the token realm of its Bearer challenge is not an HTTP(S) URL")
        what = f"token from {parts.scheme}://{parts.netloc}"
        params = {"scope": f"repository:{self.repository}:pull"}
        if getattr(h, "service", None):
            params["service"] = str(h.service)
        headers = {"Accept": "application/json"}
        creds = self._credentials
        withheld = creds is not None and not self._may_send_credentials(parts.scheme, parts.hostname)
        if creds is not None and not withheld:
            headers["Authorization"] = "Basic " + oras.auth.utils.get_basic_auth(creds.username, creds.password)
        url = f"{realm}{'&' if parts.query else '?'}{urlencode(params)}"
        until = self._until(self.options.timeout, what)
        verify = not self.options.insecure
        resp = self._retrying(lambda: client.session.get(url, headers=headers, verify=verify, stream=True,
                                                         allow_redirects=False), what, until)
        try:
            if resp.status_code != 200:
                if withheld and resp.status_code in (401, 403):
                    raise RegistryError(
                        f"{self.where}: authentication required, and the credentials for {self.host} were not sent "
                        f"to its token service {parts.scheme}://{parts.netloc}: another host, over plain HTTP "
                        f"(credentials go to another host only over HTTPS)")
                if resp.status_code in (401, 403):
                    raise RegistryError(self._auth_failed(resp.status_code, what))
                raise RegistryError(f"{self.where}: {what}: the token service answered {resp.status_code} "
                                    f"{resp.reason or ''}".rstrip())
            body = read_limited(BlobStream(resp, self, what, until), MAX_TOKEN_BYTES)
        finally:
            resp.close()
        if len(body) > MAX_TOKEN_BYTES:
            raise RegistryError(f"{self.where}: {what}: the token answer is larger than {MAX_TOKEN_BYTES} bytes")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token or not token.isprintable():
            raise RegistryError(f"{self.where}: {what}: the token service's answer holds no token")
        return token

    def _may_send_credentials(self, scheme: str, hostname: str) -> bool:
        """Over HTTPS to anyone the registry names; over plain HTTP only to the registry's
        own host, and only when the user asked for plain HTTP to it (--plain-http)."""
        if scheme == "https":
            return True
        own = urlsplit(self._root).hostname or ""
        return self.options.plain_http and hostname.lower() == own.lower()

    def _until(self, seconds: float, what: str) -> float:
        """When a request started now must be over: `seconds` from now, or the end of the
        command's registry deadline, whichever comes first."""
        left = self.options.clock.remaining()
        if left <= 0:
            raise RegistryError(self._deadline_passed(what))
        return time.monotonic() + min(seconds, left)

    def _deadline_passed(self, what: str) -> str:
        return (f"{self.where}: {what}: the command's registry deadline of {self.options.deadline:.0f}s has passed "
                f"(raise it with --registry-deadline)")

    def _late(self, what: str, until: float) -> str:
        if self.options.clock.remaining() <= 0:
            return self._deadline_passed(what)
        return (f"{self.where}: {what}: not complete in time (a request may take {self.options.timeout:.0f}s, "
                f"a blob that plus its size at {MIN_BLOB_RATE >> 10} KiB/s; raise with --registry-timeout)")

    def _send(self, method: str, url: str, headers: dict[str, str], what: str, until: float) -> requests.Response:
        """Every response is streamed: bodies are read as needed (error bodies at most 64 KiB)."""
        client = self._client()

        def once() -> requests.Response:
            h = dict(headers)
            h.update(self._basic_header)  # sent up front: saves the 401 round trip on every request
            try:
                return _ORAS_REQUEST(client, url, method, headers=h, stream=True)
            except requests.exceptions.RequestException:
                raise  # _retrying classifies these
            except ValueError as e:
                if "authentication" in str(e):  # oras: "Cannot respond to request for authentication."
                    raise RegistryError(self._auth_failed(None, what)) from None
                raise RegistryError(f"{self.where}: {what}: the token exchange failed ({type(e).__name__})") from None
            except (AttributeError, KeyError, TypeError) as e:  # oras's auth code on an odd challenge or token
                raise RegistryError(f"{self.where}: {what}: the token exchange failed ({type(e).__name__})") from None

        return self._retrying(once, what, until)

    def _retrying(self, send: Callable[[], requests.Response], what: str, until: float) -> requests.Response:
        """send() until an answer worth keeping; each attempt's answer (its headers) must
        come by `until`, and the waits between attempts add up to at most `timeout`."""
        attempts = self.options.retries + 1
        waited = 0.0
        for attempt in range(attempts):
            last = attempt == attempts - 1
            start = time.monotonic()
            try:
                self.stats.requests += 1
                resp = self._within(send, until + waited, what)
            except requests.exceptions.RequestException as e:
                delay = self.options.backoff * 2 ** attempt
                if last or not _worth_retrying(e) or not self._may_wait(waited, delay):
                    raise RegistryError(self._transport_error(e, what)) from None
                time.sleep(delay)
                waited += delay + (time.monotonic() - start)
                continue
            if resp.status_code not in RETRY_STATUSES or last:
                return resp
            delay = _retry_after(resp.headers.get("Retry-After"), self.options.backoff * 2 ** attempt)
            if not self._may_wait(waited, delay):
                return resp  # _check names the status
            resp.close()
            time.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _may_wait(self, waited: float, delay: float) -> bool:
        """Whether another `delay` s of waiting fits: at most `timeout` s of waits per
        request, and never past the command's deadline."""
        return waited + delay <= self.options.timeout and delay < self.options.clock.remaining()

    def _within(self, send: Callable[[], requests.Response], until: float, what: str) -> requests.Response:
        """send() in a watched thread: a server that drips its response headers a byte at
        a time never trips the between-bytes timeout, so the caller stops waiting at
        `until`. The abandoned thread ends with its connection (or the process)."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["resp"] = send()
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                box["error"] = e

        worker = threading.Thread(target=run, name="repro-registry-request", daemon=True)
        worker.start()
        worker.join(max(0.0, until - time.monotonic()))
        if worker.is_alive():
            raise RegistryError(self._late(what, until))
        if "error" in box:
            raise box["error"]
        return box["resp"]

    # -- messages --------------------------------------------------------------------------

    def _check(self, resp: requests.Response, what: str) -> None:
        status = resp.status_code
        if 200 <= status < 300:
            return
        reason = f"{status} {resp.reason or ''}".strip()
        code = _error_code(resp)
        if status in (401, 403):
            raise RegistryError(self._auth_failed(status, what, code))
        if status == 404:
            if code == "NAME_UNKNOWN":
                raise RegistryError(f"{self.where}: repository not found (404 {code})")
            raise RegistryError(f"{self.where}: {what} not found ({reason}{', ' + code if code else ''})")
        if status == 429:
            raise RegistryError(f"{self.host}: rate limited ({reason}), still after retrying for up to "
                                f"{self.options.timeout:.0f}s; try again later")
        hint = ""
        if status == 400 and self.options.plain_http:
            hint = "; is it an HTTPS registry? (drop --plain-http)"
        raise RegistryError(f"{self.where}: {what}: the registry answered {reason}"
                            f"{' (' + code + ')' if code else ''}{hint}")

    def _auth_failed(self, status: int | None, what: str, code: str = "") -> str:
        """401/403 (None: oras could not complete the token exchange, status unknown)."""
        name = {401: "401 Unauthorized", 403: "403 Forbidden"}.get(status or 0, "authentication failed")
        creds = self._credentials
        if creds is None:
            if status != 403:
                return self._no_credentials()
            return f"{self.where}: access denied to {what} ({name}) and no credentials for {self.host} were found"
        if status == 403:
            return f"{self.where}: access denied to {what} ({name}): the user from {creds.source} may not read it"
        return (f"{self.where}: access denied to {what} ({name}): the credentials for {self.host} "
                f"from {creds.source} were rejected")

    def _no_credentials(self) -> str:
        return (f"{self.where}: authentication required (401 Unauthorized) and no credentials for {self.host} "
                f"were found (looked in {', '.join(auth_files())}); log in with `docker login {self.host}` "
                f"or set REGISTRY_AUTH_FILE")

    def _transport_error(self, e: BaseException, what: str) -> str:
        reason = _reason(e)
        text = str(reason)
        os_error = _os_error(reason)
        if isinstance(reason, urllib3.exceptions.NameResolutionError) or isinstance(os_error, socket.gaierror):
            return f"{self.host}: unknown host (the name does not resolve)"
        if isinstance(e, requests.exceptions.SSLError):
            if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
                return f"{self.host}: HTTPS handshake failed: the registry seems to speak plain HTTP (use --plain-http)"
            if "CERTIFICATE_VERIFY_FAILED" in text:
                return (f"{self.host}: TLS certificate not trusted (use --insecure to skip verification, "
                        f"or set REQUESTS_CA_BUNDLE to its CA certificate)")
            return f"{self.host}: TLS handshake failed"
        if isinstance(e, requests.exceptions.Timeout):
            return f"{self.host}: no answer within {self.options.timeout:.0f}s for {what}"
        if isinstance(os_error, ConnectionRefusedError):
            return f"{self.host}: connection refused (is the registry running on that port?)"
        if isinstance(e, requests.exceptions.ConnectionError):
            return f"{self.host}: connection failed for {what} ({type(reason).__name__})"
        return f"{self.host}: request for {what} failed ({type(e).__name__})"


class BlobStream(RawReader):
    """A response body, read as it arrives. Transport failures (a connection dropped
    mid-body, a timeout) become RegistryErrors naming the blob and how far it got."""

    def __init__(self, resp: requests.Response, client: RegistryClient, what: str, until: float) -> None:
        super().__init__()
        self._resp, self._client, self._what, self._until = resp, client, what, until
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        if time.monotonic() > self._until:
            raise RegistryError(self._client._late(f"{self._what} (after {self.count} bytes)", self._until))
        try:
            # read1: what has arrived (one socket read), so that the deadline is checked
            # between reads however slowly the bytes come
            data = self._resp.raw.read1(size, decode_content=True)
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as e:
            if isinstance(_reason(e), (socket.timeout, urllib3.exceptions.ReadTimeoutError)) \
                    or isinstance(e, urllib3.exceptions.ReadTimeoutError):
                raise RegistryError(f"{self._client.where}: {self._what}: no byte for {self._client.options.timeout:.0f}s "
                                    f"after {self.count} bytes") from None
            raise RegistryError(
                f"{self._client.where}: connection lost while reading {self._what} after {self.count} bytes "
                f"({type(_reason(e)).__name__})"
            ) from None
        self.count += len(data)
        self._client.stats.bytes += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()


# -- small helpers ---------------------------------------------------------------------------


def _reason(e: BaseException) -> BaseException:
    """The urllib3 exception under a requests one (requests -> MaxRetryError -> reason)."""
    inner = e.args[0] if e.args and isinstance(e.args[0], BaseException) else e
    reason = getattr(inner, "reason", None)
    return reason if isinstance(reason, BaseException) else inner


def _os_error(e: BaseException) -> OSError | None:
    """The operating system's error behind a urllib3 one (refused, name not known)."""
    cur: BaseException | None = e
    for _ in range(6):
        if cur is None:
            return None
        if isinstance(cur, OSError) and isinstance(cur.errno, int):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _worth_retrying(e: requests.exceptions.RequestException) -> bool:
    """A connection reset or dropped before the answer may be a registry restarting; an
    unknown host, a refused connection, TLS trouble or a timeout will not change."""
    if isinstance(e, (requests.exceptions.SSLError, requests.exceptions.Timeout)):
        return False
    if not isinstance(e, requests.exceptions.ConnectionError):
        return False
    reason = _reason(e)
    if isinstance(reason, (urllib3.exceptions.NameResolutionError, urllib3.exceptions.NewConnectionError)):
        return False
    return True


def _retry_after(value: str | None, default: float) -> float:
    if value:
        try:
            return min(max(float(value), 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass  # an HTTP date: use our own backoff
    return default


def _error_code(resp: requests.Response) -> str:
    """The first error code of a distribution-spec error body (never its message)."""
    try:
        if not resp.headers.get("Content-Type", "").startswith("application/json"):
            return ""
        body, until = b"", time.monotonic() + 10.0  # a few seconds at most: it only improves a message
        while resp.raw is not None and len(body) < 65536 and time.monotonic() < until:
            data = resp.raw.read1(65536 - len(body), decode_content=True)
            if not data:
                break
            body += data
        doc = json.loads(body or b"{}")
        code = doc["errors"][0]["code"]
        return code if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) < 40 else ""
    except Exception:  # noqa: BLE001 - a body we cannot read adds nothing to the message
        return ""
