"""A team's reproducibility policy in the repository: `repro.toml` in the build context.

    # repro.toml
    [check]
    ignore = ["var/cache/*"]          # --ignore GLOB...
    semantic = false                  # --semantic
    platforms = ["linux/amd64"]       # --platform P...
    source-date-epoch = "git"         # or an integer: --source-date-epoch N
    builds = 2                        # --builds N
    vary = "default"                  # --vary LIST: "all", "time,umask", ["time"], true, false (--no-vary)
    bisect = false                    # --bisect
    builders = ["buildctl"]           # --builder ... (check only)

`repro check` and `repro build` read CONTEXT/repro.toml when it exists (`--config FILE`
names another file, `--no-config` ignores it). Flags given on the command line override
the file key by key. The file's sha256 and its settings go into the report's `policy`
(and so into the policy digest of the attestation), with the keys that flags overrode:
a verdict always says which policy produced it.

Unknown tables or keys are errors, not warnings: a misspelt `ignore` must not silently
compare more strictly, nor a misspelt `semantic` less. Reading TOML needs Python 3.11
(`tomllib`); on 3.10 a present repro.toml is an error that says so.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from repro.errors import InputError

CONFIG_NAME = "repro.toml"

# key -> (what it holds, the flag it stands for)
KEYS: dict[str, tuple[str, str]] = {
    "ignore": ("a list of path globs", "--ignore"),
    "semantic": ("true or false", "--semantic"),
    "platforms": ("a list of os/arch[/variant]", "--platform"),
    "source-date-epoch": ('"git" or an integer (seconds since 1970)', "--source-date-epoch"),
    "builds": ("an integer of at least 1", "--builds"),
    "vary": ('true, false, a set ("default", "all", "none") or a list of variations', "--vary"),
    "bisect": ("true or false", "--bisect"),
    "builders": ('a list of "buildctl", "buildx" or "buildx:NAME"', "--builder"),
}


@dataclass(frozen=True)
class Config:
    """The [check] settings of one repro.toml (empty when there is none)."""

    path: str | None = None         # as found or given
    sha256: str | None = None       # of the file's bytes
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def report(self, overridden: list[str] | tuple[str, ...] = (), name: str | None = None) -> dict[str, Any] | None:
        """The report's `policy.config`: file, sha256, settings, and what flags overrode."""
        if self.path is None:
            return None
        return {"file": name or os.path.basename(self.path), "sha256": self.sha256,
                "settings": {k: self.values[k] for k in sorted(self.values)},
                "overridden_by_flags": sorted(set(overridden) & set(self.values))}


def load_config(context: str, explicit: str | None = None, *, disabled: bool = False) -> Config:
    """Read `explicit`, else CONTEXT/repro.toml if it exists; Config() when there is none."""
    if disabled:
        return Config()
    path = explicit or os.path.join(context, CONFIG_NAME)
    if explicit is None and not os.path.isfile(path):
        return Config()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise InputError(f"{path}: reading repro.toml needs Python 3.11 or later (tomllib); run repro with "
                         "Python 3.11+, or pass --no-config to build without it") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None
    return Config(path, hashlib.sha256(data).hexdigest(), parse_settings(doc, path))


def parse_settings(doc: Mapping[str, Any], where: str = CONFIG_NAME) -> dict[str, Any]:
    """Validate the document's [check] table; InputError naming the key for anything else."""
    extra = sorted(k for k in doc if k != "check")
    if extra:
        raise InputError(f"{where}: unknown table or key {extra[0]!r} (settings go in a [check] table)")
    table = doc.get("check", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: check must be a table ([check])")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise InputError(f"{where}: unknown key [check] {key!r} (known: {', '.join(KEYS)})")
        out[key] = _value(key, value, where)
    return out


def _value(key: str, value: Any, where: str) -> Any:
    what, _ = KEYS[key]
    bad = InputError(f"{where}: [check] {key} must be {what}, not {value!r}")
    if key in ("ignore", "platforms", "builders"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise bad
        if key == "builders":
            from repro.buildkit.buildx import parse_builder

            for v in value:
                parse_builder(v)
        return list(value)
    if key == "vary":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            from repro.buildkit.variations import select

            try:
                select(value)
            except InputError as e:
                raise InputError(f"{where}: [check] vary: {str(e).split(': ', 1)[-1]}") from None
            return value
        raise bad
    if key in ("semantic", "bisect"):
        if not isinstance(value, bool):
            raise bad
        return value
    if key == "builds":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad
        return value
    # source-date-epoch
    if value == "git" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise bad
