"""Bake files (docker-bake.hcl, JSON, compose): the targets `repro check --bake` verifies.

repro writes no HCL parser: `docker buildx bake --print [-f FILE]... [TARGET]...` resolves
the definition (variables, functions, inheritance, groups, matrices) exactly as a
release's own `docker buildx bake` would, and prints JSON; each target becomes a
BuildSpec. It runs in the current directory, as the user's bake would, so relative
paths mean the same.

What a target sets that changes its image must reach repro's builds, or the verdict would
be about another image: fields repro cannot pass yet are refused by name. Fields that only
say where an image goes (tags, output, cache-to...) are listed in `BakeTarget.ignored`.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from repro.buildkit.spec import BuildSpec
from repro.errors import BuildError, InputError

# do not change the image: where it goes, caching, attestations (repro requests none)
IGNORED = ("tags", "output", "cache-from", "cache-to", "pull", "no-cache", "attest", "description", "call",
           "entitlements", "policy")
_HANDLED = ("context", "contexts", "dockerfile", "dockerfile-inline", "args", "labels", "annotations", "target",
            "platforms", "secret", "ssh")
_DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml", "docker-bake.json",
                  "docker-bake.hcl", "docker-bake.override.json", "docker-bake.override.hcl")


@dataclass(frozen=True)
class BakeTarget:
    name: str
    spec: BuildSpec                  # source_date_epoch: the target's SOURCE_DATE_EPOCH arg, else None
    ignored: tuple[str, ...] = ()    # fields set that do not change the image


def bake_print(files: tuple[str, ...], targets: tuple[str, ...], *, cwd: str | None = None) -> dict:
    """The resolved definition from `docker buildx bake --print`; InputError with buildx's
    own message when it refuses the files."""
    from repro.buildkit.buildx import _env, _last_error, find_buildx

    bx = find_buildx()
    argv = [bx.docker, "buildx", "bake", "--print"]
    for f in files:
        argv += ["-f", f]
    argv += ["--", *targets] if targets else []
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL,
                             env=_env())
    except subprocess.TimeoutExpired:
        raise BuildError("docker buildx bake --print did not finish within 120s") from None
    if out.returncode != 0:
        raise InputError(f"docker buildx bake --print: {_last_error(out.stderr)}")
    try:
        definition = json.loads(out.stdout)
    except ValueError:
        raise BuildError("docker buildx bake --print did not print JSON") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("target"), dict):
        raise InputError("docker buildx bake --print: no targets")
    return definition


def read_bake(files: tuple[str, ...] = (), targets: tuple[str, ...] = (), *, inline_dir: str,
              cwd: str | None = None) -> list[BakeTarget]:
    """The targets of a bake definition (the default group, or `targets`), in the order
    `bake --print` lists the group's targets (buildx sorts them); `dockerfile-inline`
    texts are written into `inline_dir`."""
    cwd = os.path.abspath(cwd or os.getcwd())
    if not files and not any(os.path.isfile(os.path.join(cwd, f)) for f in _DEFAULT_FILES):
        raise InputError(f"no bake file in {cwd} ({', '.join(_DEFAULT_FILES[4:6])}, compose.yaml): give one")
    for f in files:
        if not os.path.isfile(os.path.join(cwd, f)):
            raise InputError(f"--bake {f}: no such file")
    definition = bake_print(files, targets, cwd=cwd)
    found = definition["target"]
    order: list[str] = []
    groups = definition.get("group") or {}
    for group in ([groups.get("default")] if not targets and isinstance(groups.get("default"), dict) else []):
        order += [t for t in group.get("targets") or [] if t in found]
    order += sorted(t for t in found if t not in order)
    return [_target(name, found[name], cwd, inline_dir) for name in order]


def _pairs(value: object, what: str, name: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise InputError(f"bake target {name}: {what} is not a map")
    return [(str(k), "" if v is None else str(v)) for k, v in value.items()]


def _target(name: str, t: dict, cwd: str, inline_dir: str) -> BakeTarget:
    unknown = sorted(k for k in t if k not in _HANDLED and k not in IGNORED)
    if unknown:
        raise InputError(f"bake target {name} sets {unknown[0]!r}, which repro does not pass to its builds yet: "
                         f"the verdict would be about another image")
    context = str(t.get("context") or ".")
    if "://" in context or context.startswith("git@"):
        raise InputError(f"bake target {name}: context {context} is remote; check out the source and use a directory")
    context = os.path.normpath(os.path.join(cwd, context))
    if "dockerfile-inline" in t:
        os.makedirs(inline_dir, exist_ok=True)
        dockerfile = os.path.join(inline_dir, f"{name}.Dockerfile")
        with open(dockerfile, "w", encoding="utf-8") as f:
            f.write(str(t["dockerfile-inline"]))
    else:
        dockerfile = os.path.normpath(os.path.join(context, str(t.get("dockerfile") or "Dockerfile")))
    epoch: int | None = None
    build_args = []
    for key, value in _pairs(t.get("args"), "args", name):
        if key == "SOURCE_DATE_EPOCH":
            try:
                epoch = int(value)
            except ValueError:
                raise InputError(f"bake target {name}: SOURCE_DATE_EPOCH={value!r} is not an integer") from None
        else:
            build_args.append(f"{key}={value}")
    contexts = []
    for key, value in _pairs(t.get("contexts"), "contexts", name):
        if "://" not in value:
            value = os.path.normpath(os.path.join(cwd, value))
        elif value.startswith("target:"):
            raise InputError(f"bake target {name}: context {key}=target:... (another target's image) is not "
                             "supported yet")
        contexts.append(f"{key}={value}")
    secrets = []
    for s in t.get("secret") or []:
        if isinstance(s, dict):
            fields = {k: str(v) for k, v in s.items() if v not in (None, "")}
            if "src" in fields:
                fields["src"] = os.path.normpath(os.path.join(cwd, fields["src"]))
            secrets.append(",".join(f"{k}={v}" for k, v in fields.items()))
        else:
            secrets.append(str(s))
    ssh = []
    for s in t.get("ssh") or []:
        if isinstance(s, dict):
            paths = ",".join(os.path.normpath(os.path.join(cwd, p)) for p in s.get("paths") or [])
            ssh.append(f"{s.get('id') or 'default'}" + (f"={paths}" if paths else ""))
        else:
            ssh.append(str(s))
    exporter = []
    for a in t.get("annotations") or []:
        kinds, sep, rest = str(a).partition(":")
        key_value = rest if sep and "=" in rest and "=" not in kinds else str(a)
        prefixes = kinds.split(",") if key_value is rest else ["manifest"]
        for p in prefixes:
            exporter.append(("annotation." if p == "manifest" else f"annotation-{p}.") + key_value)
    spec = BuildSpec(context=context, dockerfile=dockerfile, target=t.get("target") or None,
                     platforms=tuple(str(p) for p in t.get("platforms") or ()), build_args=tuple(build_args),
                     build_contexts=tuple(contexts), secrets=tuple(secrets), ssh=tuple(ssh), source_date_epoch=epoch,
                     labels=tuple(f"{k}={v}" for k, v in _pairs(t.get("labels"), "labels", name)),
                     exporter=tuple(exporter))
    return BakeTarget(name, spec, tuple(k for k in IGNORED if k in t))
