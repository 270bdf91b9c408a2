"""What to build (`BuildSpec`, `Push`) and how its inputs become buildctl arguments.

Everything here is pure except reading a context's git commit time and an OCI layout's
index.json: no daemon, no build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field

from repro.errors import InputError

DEFAULT_EXPORTER = (
    ("rewrite-timestamp", "true"),  # clamp file mtimes newer than SOURCE_DATE_EPOCH (BuildKit >= 0.13)
    ("oci-mediatypes", "true"),     # explicit: the default changed in BuildKit 0.31 (cause media-types)
    ("compression", "gzip"),
    ("force-compression", "true"),  # recompress base layers too, so blob digests depend on one compressor
)
_RESERVED_EXPORTER = {"type", "dest", "tar", "name", "push"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Push:
    """Also push the image with the image exporter (same reproducibility options).
    `name`: HOST/REPO:TAG; `insecure`: plain HTTP or unverified TLS (registry.insecure)."""

    name: str
    insecure: bool = False


@dataclass(frozen=True)
class BuildSpec:
    """One build's inputs. Tuples keep it hashable and its order the user's order.

    build_args: "K=V"; build_contexts: "NAME=VALUE" in buildx's forms (a directory,
    `docker-image://REF`, `oci-layout://PATH[:TAG|@sha256:DIGEST]`, or any other URL
    BuildKit understands); secrets / ssh: buildctl's `--secret` / `--ssh` values;
    exporter: extra `key=value` options for the OCI exporter, overriding the defaults;
    no_cache: False only for a build that should reuse what its daemon already built
    (a later `--target` build on a daemon still running); an honest check never sets it.
    """

    context: str = "."
    dockerfile: str | None = None  # default: <context>/Dockerfile
    target: str | None = None
    platforms: tuple[str, ...] = ()
    build_args: tuple[str, ...] = ()
    build_contexts: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    ssh: tuple[str, ...] = ()
    source_date_epoch: int | None = None
    compression: str = "gzip"
    exporter: tuple[str, ...] = ()
    no_cache: bool = True
    labels: tuple[str, ...] = ()  # "K=V": image config labels, as buildx --label / a bake target's labels

    def exporter_options(self) -> dict[str, str]:
        """The OCI exporter options (without `type` and `dest`), defaults first."""
        opts = dict(DEFAULT_EXPORTER)
        opts["compression"] = self.compression
        for item in self.exporter:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InputError(f"exporter option {item!r} is not key=value")
            if key in _RESERVED_EXPORTER:
                raise InputError(f"exporter option {key!r} is set by repro (the output is always an OCI tarball)")
            opts[key] = value
        return opts

    def dockerfile_path(self) -> str:
        return self.dockerfile if self.dockerfile else os.path.join(self.context, "Dockerfile")


def resolve_source_date_epoch(context: str, explicit: int | str | None) -> int:
    """SOURCE_DATE_EPOCH for a build: `explicit` if given, else the time of the last git
    commit of `context`, else InputError. The environment's SOURCE_DATE_EPOCH is never
    used silently: a verifier must say which epoch it used, and an inherited variable is
    the kind of hidden input that makes two "identical" runs differ."""
    if explicit is not None and explicit != "":
        try:
            value = int(explicit)
        except (TypeError, ValueError):
            raise InputError(f"--source-date-epoch must be an integer (seconds since 1970), not {explicit!r}") from None
        if value < 0:
            raise InputError(f"--source-date-epoch must not be negative, got {value}")
        return value
    commit_time = git_commit_time(context)
    if commit_time is not None:
        return commit_time
    env = os.environ.get("SOURCE_DATE_EPOCH")
    hint = (f" (SOURCE_DATE_EPOCH={env} is set in the environment but is not used implicitly; "
            f"pass --source-date-epoch \"$SOURCE_DATE_EPOCH\" to use it)") if env else ""
    raise InputError(f"{context} is not in a git checkout with commits, so there is no commit time to use as "
                     f"SOURCE_DATE_EPOCH: pass --source-date-epoch N{hint}")


def git_commit_time(context: str) -> int | None:
    """Committer time of HEAD in the git checkout holding `context`, or None."""
    if not os.path.isdir(context):
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        out = subprocess.run(["git", "-C", context, "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


# Build contexts ----------------------------------------------------------------

@dataclass(frozen=True)
class ContextArgs:
    """buildctl arguments for the named build contexts, and the base digests they pin."""

    args: tuple[str, ...] = ()
    base_digests: tuple[tuple[str, str], ...] = ()  # (name, "sha256:...")
    sources: tuple[tuple[str, str], ...] = field(default=())  # (name, what the user gave)


def context_args(build_contexts: tuple[str, ...]) -> ContextArgs:
    """Turn buildx-style NAME=VALUE build contexts into buildctl `--local`,
    `--oci-layout` and `--opt context:NAME=...` arguments."""
    args: list[str] = []
    digests: list[tuple[str, str]] = []
    sources: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(build_contexts):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise InputError(f"--build-context {item!r} is not NAME=VALUE")
        if name in seen:
            raise InputError(f"--build-context {name} given twice")
        seen.add(name)
        sources.append((name, value))
        if value.startswith("oci-layout://"):
            path, digest = resolve_oci_layout(value[len("oci-layout://"):])
            store = f"repro-ctx-{i}"  # must parse as an image name; only buildctl sees it
            args += ["--oci-layout", f"{store}={path}", "--opt", f"context:{name}=oci-layout://{store}@{digest}"]
            digests.append((name, digest))
        elif value.startswith("docker-image://"):
            ref = value[len("docker-image://"):]
            if "@" in ref and _DIGEST_RE.match(ref.rsplit("@", 1)[1]):
                digests.append((name, ref.rsplit("@", 1)[1]))
            args += ["--opt", f"context:{name}={value}"]
        elif "://" in value:  # git, https: BuildKit fetches these itself
            args += ["--opt", f"context:{name}={value}"]
        else:
            if not os.path.isdir(value):
                raise InputError(f"--build-context {name}={value}: not a directory (or docker-image://, oci-layout://)")
            local = f"repro-ctx-{i}"
            args += ["--local", f"{local}={os.path.abspath(value)}", "--opt", f"context:{name}=local:{local}"]
    return ContextArgs(tuple(args), tuple(digests), tuple(sources))


def split_oci_layout_ref(ref: str) -> tuple[str, str | None, str | None]:
    """PATH[:TAG|@sha256:DIGEST] -> (path, tag, digest). A ':' before the last '/' is part of the path."""
    if "@" in ref:
        path, digest = ref.rsplit("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InputError(f"oci-layout://{ref}: {digest!r} is not a sha256 digest")
        return path, None, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash and colon > 0:
        path, tag = ref[:colon], ref[colon + 1:]
        if not os.path.isdir(ref) and tag:  # a directory whose name has a colon is still a path
            return path, tag, None
    return ref, None, None


def resolve_oci_layout(ref: str) -> tuple[str, str]:
    """Resolve oci-layout PATH[:TAG|@DIGEST] to (absolute path, manifest or index digest).
    buildctl insists on a digest, so a tag (or no tag) is looked up in index.json."""
    path, tag, digest = split_oci_layout_ref(ref)
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "oci-layout")):
        raise InputError(f"oci-layout://{ref}: {path} is not an OCI layout (no oci-layout file)")
    if digest:
        if not os.path.isfile(os.path.join(path, "blobs", "sha256", digest.split(":", 1)[1])):
            raise InputError(f"oci-layout://{ref}: blob {digest} is not in the layout")
        return path, digest
    try:
        with open(os.path.join(path, "index.json"), "rb") as f:
            index = json.load(f)
        manifests = index["manifests"]
        if not isinstance(manifests, list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"oci-layout://{ref}: cannot read {path}/index.json: {e}") from None

    def tag_of(m: dict) -> str | None:
        ann = m.get("annotations") or {}
        return ann.get("org.opencontainers.image.ref.name") or ann.get("io.containerd.image.name")

    if tag is None:
        if len(manifests) == 1:
            chosen = manifests
        else:
            chosen = [m for m in manifests if tag_of(m) == "latest"]
    else:
        # ref.name is a bare tag ("latest") or, from some tools, a whole reference ("repo:latest")
        chosen = [m for m in manifests if tag_of(m) == tag or (tag_of(m) or "").endswith(":" + tag)]
    if len(chosen) != 1:
        tags = sorted({t for t in (tag_of(m) for m in manifests) if t})
        want = f"tag {tag!r}" if tag else "a single image (or tag 'latest')"
        raise InputError(f"oci-layout://{ref}: {want} not found in index.json "
                         f"(tags: {', '.join(tags) or 'none'}); give PATH@sha256:DIGEST")
    digest = chosen[0].get("digest", "")
    if not _DIGEST_RE.match(digest):
        raise InputError(f"oci-layout://{ref}: index.json entry has no sha256 digest")
    return path, digest


def validate_spec(spec: BuildSpec) -> None:
    """Raise InputError for a spec that cannot be built, before any daemon starts."""
    if not os.path.isdir(spec.context):
        raise InputError(f"build context {spec.context} is not a directory")
    if not os.path.isfile(spec.dockerfile_path()):
        if spec.dockerfile:  # named with -f: say so, not "use -f"
            raise InputError(f"-f {spec.dockerfile}: no such file")
        raise InputError(f"no Dockerfile in {spec.context} (name another file with -f)")
    if spec.source_date_epoch is None:
        raise InputError("no SOURCE_DATE_EPOCH: resolve one with resolve_source_date_epoch() or --source-date-epoch")
    for arg in spec.build_args:
        key, sep, _ = arg.partition("=")
        if not key or not sep:  # buildx would read a bare K from the environment: a hidden input
            raise InputError(f"--build-arg {arg!r} is not K=V")
        if key == "SOURCE_DATE_EPOCH":
            raise InputError("give SOURCE_DATE_EPOCH with --source-date-epoch, not as a --build-arg")
    for label in spec.labels:
        if "=" not in label or label.startswith("="):
            raise InputError(f"label {label!r} is not K=V")
    from repro.buildkit.secrets import check_sources

    check_sources(spec.secrets, spec.ssh)
    for name in (spec.target,):
        if name is not None and not _NAME_RE.match(name):
            raise InputError(f"--target {name!r} is not a stage name")
    spec.exporter_options()
