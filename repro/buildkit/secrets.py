"""`--secret` and `--ssh`: read and checked before any daemon starts, and the secrets'
values kept out of everything repro shows or writes.

buildctl and `docker buildx build` take the same forms, which repro passes through
unchanged to every build:

    --secret id=ID,src=PATH     (also source=PATH, type=file)   a file
    --secret id=ID,env=VAR      (also type=env)                 an environment variable
    --ssh default               the agent at $SSH_AUTH_SOCK
    --ssh ID=SOCKET|KEY[,KEY]   an agent socket, or key files served by the client's own agent

BuildKit mounts a secret only for the RUN that asks for it and never stores it, but a
RUN step can still print it: `Redactor` replaces every secret's value with
`[secret ID]` in the build output repro relays and in the errors it raises, so neither
the terminal, a CI log, `--debug` output nor a report carries it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from repro.errors import InputError

_MAX_SECRET = 1 << 20      # values of larger files are not redacted (they are not tokens)
_MIN_REDACTED = 4          # shorter strings would redact ordinary words


@dataclass(frozen=True)
class Secret:
    id: str
    kind: str   # "file" | "env"
    ref: str    # the path or the variable name


def parse_secret(value: str) -> Secret:
    """One `--secret` value; InputError for a form neither buildctl nor buildx takes."""
    fields: dict[str, str] = {}
    for item in value.split(","):
        key, sep, v = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise InputError(f"--secret {value!r}: {item!r} is not KEY=VALUE (id=ID,src=PATH or id=ID,env=VAR)")
        fields[key] = v
    unknown = set(fields) - {"id", "src", "source", "env", "type"}
    if unknown:
        raise InputError(f"--secret {value!r}: unknown key {sorted(unknown)[0]!r} (id, src, env, type)")
    kind = fields.get("type") or ("env" if "env" in fields else "file")
    if kind not in ("file", "env"):
        raise InputError(f"--secret {value!r}: type must be file or env, not {kind!r}")
    ref = fields.get("env") if kind == "env" else fields.get("src", fields.get("source"))
    sid = fields.get("id") or ref or ""
    if not sid or not ref:
        raise InputError(f"--secret {value!r}: give id=ID with src=PATH or env=VAR")
    return Secret(sid, kind, ref)


def check_sources(secrets: tuple[str, ...], ssh: tuple[str, ...], env: dict[str, str] | None = None) -> None:
    """InputError, before any build starts, for a secret file that is not there, an
    environment variable that is not set, or an ssh agent or key that is missing."""
    env = os.environ if env is None else env
    seen: set[str] = set()
    for value in secrets:
        s = parse_secret(value)
        if s.id in seen:
            raise InputError(f"--secret id={s.id} is given twice")
        seen.add(s.id)
        if s.kind == "file" and not os.path.isfile(s.ref):
            raise InputError(f"--secret id={s.id}: {s.ref} is not a file")
        if s.kind == "env" and s.ref not in env:
            raise InputError(f"--secret id={s.id}: environment variable {s.ref} is not set")
    for value in ssh:
        sid, sep, paths = value.partition("=")
        if not sid:
            raise InputError(f"--ssh {value!r}: give default, ID=SOCKET or ID=KEY[,KEY]")
        if not sep:  # default (or an ID): the agent at $SSH_AUTH_SOCK
            sock = env.get("SSH_AUTH_SOCK", "")
            if not sock:
                raise InputError(f"--ssh {value}: SSH_AUTH_SOCK is not set: start an agent (eval \"$(ssh-agent)\"; "
                                 "ssh-add KEY) or give --ssh ID=KEYFILE")
            paths = sock
        for path in paths.split(","):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                raise InputError(f"--ssh {value}: {path} does not exist") from None
            if not (stat.S_ISSOCK(mode) or stat.S_ISREG(mode)):
                raise InputError(f"--ssh {value}: {path} is neither an agent socket nor a key file")


def secret_values(secrets: tuple[str, ...], env: dict[str, str] | None = None) -> dict[str, str]:
    """value -> secret id, for every secret whose value can be read: the whole value and
    each of its lines (a multi-line file, e.g. a .netrc, leaks line by line)."""
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    for value in secrets:
        s = parse_secret(value)
        text: str | None = None
        if s.kind == "env":
            text = env.get(s.ref)
        else:
            try:
                if os.path.getsize(s.ref) <= _MAX_SECRET:
                    with open(s.ref, "rb") as f:
                        text = f.read().decode("utf-8", errors="replace")
            except OSError:
                text = None
        if not text:
            continue
        for candidate in (text, text.strip(), *text.splitlines()):
            candidate = candidate.strip() if candidate is not text else candidate
            if len(candidate) >= _MIN_REDACTED:
                found.setdefault(candidate, s.id)
    return found


class Redactor:
    """Replaces secret values in text with `[secret ID]`: longest values first, so that a
    whole file is replaced before its lines."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = sorted(values.items(), key=lambda kv: -len(kv[0]))

    def __bool__(self) -> bool:
        return bool(self._values)

    def __call__(self, text: str) -> str:
        for _ in range(4):  # a replacement next to a partial value can form the value again
            changed = False
            for value, sid in self._values:
                if value in text:
                    mark = f"[secret {sid}]"
                    text = text.replace(value, mark if value not in mark else "[secret]" if value not in "[secret]"
                                        else "\u2022")
                    changed = True
            if not changed:
                break
        else:
            for value, _ in self._values:  # a text built to defeat the loop: drop what is left of it
                text = text.replace(value, "")
        return text

    @classmethod
    def for_secrets(cls, secrets: tuple[str, ...], env: dict[str, str] | None = None) -> Redactor:
        return cls(secret_values(secrets, env))
