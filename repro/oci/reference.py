"""Image references in the containers/image transport syntax skopeo users know.

    oci-archive:PATH[:REFNAME]      a tar of an OCI layout (buildctl type=oci)
    oci:DIR[:REFNAME]               an OCI layout directory
    docker-archive:PATH[:REPO:TAG]  a `docker save` tar (or `:@N`, the N-th image)
    docker://[HOST/]REPO[:TAG][@DIGEST]
    PATH                            detected from its content when opened

As in containers/image, the path ends at the first colon after the transport; we also
accept a path containing colons when that whole path exists.

`SOURCES` is the one table of the kinds of image repro reads: parsing a reference and
opening it (repro.oci.open_image) both read it. A new source is a module with an opener
and one row here.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from repro.errors import FormatError, InputError
from repro.oci.model import check_digest

_UNSUPPORTED = ("docker-daemon", "containers-storage", "dir", "ostree", "sif", "tarball")

_REPO_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_REPO_COMPONENT}(?:/{_REPO_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class Reference:
    text: str  # as the user gave it
    kind: str  # oci-archive | oci | docker-archive | docker | "" (bare path: detect by content)
    path: str = ""  # file or directory, for every kind but docker
    name: str = ""  # oci/oci-archive: REFNAME; docker-archive: REPO:TAG or @N
    registry: str = ""  # docker: host[:port], docker.io when none is given
    repository: str = ""  # docker: library/alpine, team/app
    tag: str = ""  # docker: latest when neither tag nor digest is given
    digest: str = ""  # docker: sha256:...

    def __str__(self) -> str:
        return self.text


def parse_reference(text: str) -> Reference:
    """Parse syntax only; files are looked at when the reference is opened."""
    if not text:
        raise InputError("empty image reference")
    for source in SOURCES:
        if source.form == "remote" and text.startswith(source.kind + "://"):
            return source.parse(text)  # type: ignore[misc]
    transport, sep, rest = text.partition(":")
    if sep and transport in {s.kind for s in SOURCES if s.form != "remote"}:
        if not rest:
            raise InputError(f"{text}: missing path after {transport}:")
        if os.path.exists(rest):
            return Reference(text, transport, rest)
        path, _, name = rest.partition(":")
        if not path:
            raise InputError(f"{text}: missing path after {transport}:")
        return Reference(text, transport, path, name)
    if sep and transport in _UNSUPPORTED and not os.path.exists(text):
        raise InputError(f"{text}: transport {transport}: is not supported (use {_supported()})")
    return Reference(text, "", text)


def _parse_docker(text: str) -> Reference:
    rest = text[len("docker://") :]
    if rest.startswith("//"):
        rest = rest[2:]
    first, slash, after = rest.partition("/")
    if slash and "@" in first:  # user:password@host/...: never echo it
        raise InputError(f"docker://***@{first.rsplit('@', 1)[1]}/{after}: credentials do not belong in an image "
                         f"reference; use `docker login` or REGISTRY_AUTH_FILE")
    name, at, digest = rest.partition("@")
    if at:
        try:
            check_digest(digest, "digest")
        except FormatError:
            raise InputError(f"{text}: invalid digest {digest!r}") from None
    tag = ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InputError(f"{text}: invalid tag {tag!r}")
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = "library/" + repository
    if not _REPO_RE.match(repository):
        raise InputError(f"{text}: invalid repository name {repository!r}")
    if not tag and not digest:
        tag = "latest"
    return Reference(text, "docker", "", "", registry, repository, tag, digest)


def normalise_repo_tag(text: str) -> str:
    """`alpine` and `docker.io/library/alpine:latest` name the same image; RepoTags in a
    docker-archive use the short form (docker save) or the long one (other tools)."""
    try:
        ref = _parse_docker("docker://" + text)
    except InputError:
        return text
    return f"{ref.registry}/{ref.repository}:{ref.tag}" + (f"@{ref.digest}" if ref.digest else "")


@dataclass(frozen=True)
class Source:
    """One kind of image repro reads: a row of SOURCES."""

    kind: str  # the transport: `KIND:PATH`, or `KIND://...` for a remote one; Reference.kind, Image.kind
    form: str  # what it is: "dir" (a directory), "tar" (a tar file) or "remote"
    # "module:function" that opens it, called by form: dir (ref, limits, verify_all); tar (ref, tar:
    # TarIndex, limits, verify_all); remote (ref, limits, verify_all, platform, RegistryOptions)
    opener: str
    marker: str = ""  # tar: a bare PATH whose tar holds this member is of this kind (first row wins)
    parse: Callable[[str], Reference] | None = None  # remote: parses `KIND://...` (local: `KIND:PATH[:NAME]`)

    def open_function(self) -> Callable[..., Any]:
        module, _, name = self.opener.partition(":")
        return getattr(importlib.import_module(module), name)  # imported on first use: see repro.oci


SOURCES: tuple[Source, ...] = (
    Source("oci-archive", "tar", "repro.oci.archive:open_archive", marker="index.json"),
    Source("oci", "dir", "repro.oci.layout:open_layout"),
    Source("docker-archive", "tar", "repro.oci.docker_archive:open_docker_archive", marker="manifest.json"),
    Source("docker", "remote", "repro.oci.registry:open_registry", parse=_parse_docker),
)
KINDS = tuple(s.kind for s in SOURCES)


def _supported() -> str:
    names = [f"{s.kind}://" if s.form == "remote" else f"{s.kind}:" for s in SOURCES]
    return ", ".join(names[:-1]) + " or " + names[-1]


def source(kind: str) -> Source:
    """The row of SOURCES for `kind`."""
    return next(s for s in SOURCES if s.kind == kind)
