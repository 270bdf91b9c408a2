"""Where registry credentials come from: the files docker, podman and skopeo use.

Files, first match wins:

1. `$REGISTRY_AUTH_FILE` (containers-auth.json; the same `auths` format as docker's)
2. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`

In one file, docker's order: `credHelpers[host]`, then the inline `auths[host].auth`
(base64 `user:password`), then `credsStore`. A helper is run as docker runs it
(`docker-credential-NAME get`, the server on stdin, JSON on stdout); "not found" from a
helper is not an error, just no credentials.

Secrets stay inside `Credentials` (its repr hides the password). Messages name the file
or the helper, never a value: a helper's stderr is not quoted, since nobody promises
what it contains.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Mapping

from repro.errors import InputError, RegistryError

DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"  # the key docker login writes for Docker Hub
HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = ""  # the file or helper they came from, for messages

    def __str__(self) -> str:
        return f"credentials for {self.username!r} from {self.source}"


def auth_files(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credential files consulted, in order (whether or not they exist)."""
    env = os.environ if environ is None else environ
    files = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(env["REGISTRY_AUTH_FILE"])
    if env.get("DOCKER_CONFIG"):
        files.append(os.path.join(env["DOCKER_CONFIG"], "config.json"))
    else:
        files.append(os.path.join(os.path.expanduser("~"), ".docker", "config.json"))
    return files


def normalise_server(key: str) -> str:
    """`https://host:5000/v2/` -> `host:5000`; Docker Hub's keys -> `docker.io`."""
    key = key.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    key = key.split("/", 1)[0].lower()
    return "docker.io" if key in DOCKER_HUB_ALIASES else key


def find_credentials(host: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials for registry `host` (`host[:port]`), or None if no file has any."""
    want = normalise_server(host)
    for path in auth_files(environ):
        config = _read_config(path)
        if config is None:
            continue
        helpers = config.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if normalise_server(key) == want and isinstance(helper, str) and helper:
                    found = run_helper(helper, host)
                    if found is not None:
                        return found
        auths = config.get("auths") or {}
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if normalise_server(key) == want and isinstance(entry, dict):
                    found = _inline(entry, path, host)
                    if found is not None:
                        return found
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            found = run_helper(store, host)
            if found is not None:
                return found
    return None


def credentials_file(host: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The first file with an entry (credHelpers or auths) for `host`; its secret is not read."""
    want = normalise_server(host)
    for path in auth_files(environ):
        config = _read_config(path)
        if config is None:
            continue
        for section in ("credHelpers", "auths"):
            entries = config.get(section) or {}
            if isinstance(entries, dict) and any(normalise_server(k) == want for k in entries):
                return path
    return None


def _read_config(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"cannot read credentials file {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(data)
    except ValueError:
        raise InputError(f"credentials file {path} is not valid JSON") from None  # the error could quote a secret
    if not isinstance(doc, dict):
        raise InputError(f"credentials file {path} is not a JSON object")
    return doc


def _inline(entry: dict, path: str, host: str) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InputError(f"credentials file {path}: the auth entry for {host} is not base64 of user:password") from None
        if not sep:
            raise InputError(f"credentials file {path}: the auth entry for {host} is not base64 of user:password")
        return Credentials(user, password, path)
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return Credentials(user, password, path)
    return None  # an empty entry: docker writes one when a helper holds the secret


def run_helper(name: str, host: str) -> Credentials | None:
    """Ask `docker-credential-NAME` for `host`; None when it has nothing for it."""
    binary = f"docker-credential-{name}"
    server = DOCKER_HUB_SERVER if normalise_server(host) == "docker.io" else host
    try:
        proc = subprocess.run([binary, "get"], input=server.encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        raise RegistryError(f"{host}: credential helper {binary} is configured but not installed") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{host}: credential helper {binary} did not answer within {HELPER_TIMEOUT:.0f}s") from None
    except OSError as e:
        raise RegistryError(f"{host}: cannot run credential helper {binary}: {e.strerror or e}") from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise RegistryError(f"{host}: credential helper {binary} failed (exit status {proc.returncode})")
    try:
        doc = json.loads(proc.stdout)
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{host}: credential helper {binary} gave an answer that is not its JSON") from None
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    if user == "<token>":
        raise RegistryError(f"{host}: credential helper {binary} holds an identity token, which repro cannot use; "
                            f"log in with a user name and password or access token")
    return Credentials(user, secret, binary)
