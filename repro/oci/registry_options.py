"""How to reach registries; a module of its own so that importing repro.oci does not
import the HTTP stack (oras, requests) until an image is actually read from a registry."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 60.0
DEFAULT_DEADLINE = 3600.0
MIN_BLOB_RATE = 64 << 10  # bytes/s a blob download must average, past its first `timeout` seconds


class Deadline:
    """The time one command may spend on registries, in all: it starts with the first
    request and is shared by every client the command opens (both images of a diff)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start: float | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        with self._lock:
            if self._start is None:
                self._start = time.monotonic()
            return self.seconds - (time.monotonic() - self._start)


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: `plain_http` speaks HTTP instead of HTTPS; `insecure`
    keeps HTTPS but does not verify the certificate. `retries` more attempts after a
    429/5xx answer or a reset connection, waiting `backoff` * 2**n seconds (or what
    Retry-After says), at most `timeout` seconds of waiting per request in all.

    `timeout` (--registry-timeout): connecting, and any silence, may last at most this
    long; a request for a document (manifest, index, token, HEAD) must be answered in
    full within it; a blob download within it plus its size at MIN_BLOB_RATE.
    `deadline` (--registry-deadline): everything one command does with registries, retries
    and waits included, ends within it (`clock` measures it)."""

    plain_http: bool = False
    insecure: bool = False
    retries: int = 4
    backoff: float = 0.5
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    clock: Deadline = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.clock is None:
            object.__setattr__(self, "clock", Deadline(self.deadline))
