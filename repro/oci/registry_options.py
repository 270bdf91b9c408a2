"""How to reach registries; a module of its own so that importing repro.oci does not
import the HTTP stack (oras, requests) until an image is actually read from a registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: `plain_http` speaks HTTP instead of HTTPS; `insecure`
    keeps HTTPS but does not verify the certificate. `retries` more attempts after a
    429/5xx answer or a reset connection, waiting `backoff` * 2**n seconds (or what
    Retry-After says, up to a minute); `timeout` seconds for connecting and between bytes."""

    plain_http: bool = False
    insecure: bool = False
    retries: int = 4
    backoff: float = 0.5
    timeout: float = 60.0
