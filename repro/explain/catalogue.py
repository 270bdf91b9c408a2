"""The cause catalogue as data: every row of docs' nondeterminism-causes table, with the
rules that recognise it.

A `Cause` is the row (stable `id`, `title` = what the diff shows, `why`, `hint` = the fix)
plus its `rules`. A `Rule` keys on the finding's kind, its field (globs), its path
(globs, see `repro.explain.globs`) and, where that is not enough, a predicate over a
`Subject`: the finding, its detail merged with what the format looks found, and the
build's SOURCE_DATE_EPOCH. `match` walks CATALOGUE in order and returns the first cause
with a matching rule, so the order is specificity: the attestation role first (anything
inside an attestation is explained by it), then path-specific rules (logs, caches, keys,
package databases), then rules that need a look inside the file (pyc, gzip, tar, zip,
ELF), then the content heuristics, then the generic field rules (mtime, created,
compression, media types, order, PAX, ownership, hardlinks), and the BuildKit version
last, as a fallback for whatever is left. A rule explains; it never hides a finding.

Path rules match the fields that say the file itself differs (content, size, presence):
an mtime difference on `var/log/dpkg.log` is an mtime problem, explained as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from repro.diff.finding import Finding
from repro.explain.globs import any_match


@dataclass(frozen=True)
class Subject:
    """What a rule may look at."""

    finding: Finding
    detail: Mapping[str, Any]  # the finding's detail plus what the looks inside found
    source_date_epoch: int | None = None
    builder_versions: tuple[str | None, str | None] | None = None
    packaging_only: bool = False  # the comparison differs only in packaging (repro.explain.packaging_only)


Predicate = Callable[[Subject], bool]


@dataclass(frozen=True)
class Rule:
    kinds: tuple[str, ...] = ()  # finding kinds; empty: any
    fields: tuple[str, ...] = ()  # globs over the finding's field; empty: any
    paths: tuple[str, ...] = ()  # globs over the finding's path; empty: path not looked at
    when: Predicate | None = None

    def matches(self, s: Subject) -> bool:
        f = s.finding
        return (
            (not self.kinds or f.kind in self.kinds)
            and (not self.fields or any_match(self.fields, f.field))
            and (not self.paths or any_match(self.paths, f.path))
            and (self.when is None or bool(self.when(s)))
        )


@dataclass(frozen=True)
class Cause:
    id: str  # stable: reports and users' tooling key on it
    title: str  # what the diff shows
    why: str
    hint: str  # the fix
    rules: tuple[Rule, ...]


# --- predicates ------------------------------------------------------------------------


def _looks(detail: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The detail, then the payload looks nested in it (gzip → tar → ...)."""
    d: Any = detail
    for _ in range(4):
        if not isinstance(d, Mapping):
            return
        yield d
        d = d.get("payload")


def looked(fmt: str, test: Callable[[Mapping[str, Any]], Any]) -> Predicate:
    """Some look of format `fmt` (at any payload depth) satisfies `test`."""
    return lambda s: any(d.get("format") == fmt and test(d) for d in _looks(s.detail))


def found(key: str) -> Predicate:
    """Some look (at any payload depth) set a non-empty `key`."""
    return lambda s: any(d.get(key) for d in _looks(s.detail))


def _mentions(value: Any, text: str, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, str):
        return text in value
    if isinstance(value, Mapping):
        return any(_mentions(k, text, depth + 1) or _mentions(v, text, depth + 1)
                   for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, text, depth + 1) for v in value)
    return False


def detail_is(key: str, *values: Any) -> Predicate:
    """The finding's detail has `key` set to one of `values` (the differ names the one
    annotation or history key a finding is about in detail["key"])."""
    return lambda s: s.detail.get(key) in values


ATTESTATION_KEYS = ("vnd.docker.reference.type", "vnd.docker.reference.digest")


def is_attestation(s: Subject) -> bool:
    f = s.finding
    return (
        s.detail.get("role") == "attestation"
        or (f.field == "annotations" and s.detail.get("key") in ATTESTATION_KEYS)
        or (f.kind == "index" and (_mentions(f.a, "attestation-manifest")
                                   or _mentions(f.b, "attestation-manifest")))
    )


def _differing_keys(a: Any, b: Any) -> set[str] | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return {str(k) for k in {*a, *b} if a.get(k) != b.get(k)}
    if (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)):
        keys: set[str] = set()
        for x, y in zip(a, b):
            d = _differing_keys(x, y)
            if d is None:
                return None
            keys |= d
        return keys
    return None


def differs_only_in(*keys: str) -> Predicate:
    """a/b are objects (or equal-length lists of objects) that differ only in `keys`."""

    def test(s: Subject) -> bool:
        d = _differing_keys(s.finding.a, s.finding.b)
        return bool(d) and d <= set(keys)

    return test


def changed_lines(detail: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The removed and added lines of the text look's unified diff."""
    removed, added = [], []
    for line in str(detail.get("diff") or "").splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
    return removed, added


def changed_line_matches(pattern: str) -> Predicate:
    rx = re.compile(pattern)
    return lambda s: any(rx.search(x) for side in changed_lines(s.detail) for x in side)


def shadow_lastchange_only(s: Subject) -> bool:
    """Every changed line of a shadow file differs only in its third field."""
    removed, added = changed_lines(s.detail)
    if not removed or len(removed) != len(added) or s.detail.get("diff_truncated"):
        return False
    for x, y in zip(removed, added):
        fx, fy = x.split(":"), y.split(":")
        if len(fx) != len(fy) or len(fx) < 3 or fx[:2] + fx[3:] != fy[:2] + fy[3:]:
            return False
    return True


def _seconds(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def both_older_than_epoch(s: Subject) -> bool:
    """Both mtimes at or below the epoch, at least one below it. rewrite-timestamp clamps
    newer times to exactly the epoch, so an old mtime from one checkout against a clamped
    fresh one from another is the same cause: the old time passed through."""
    epoch = s.source_date_epoch
    a, b = _seconds(s.finding.a), _seconds(s.finding.b)
    return epoch is not None and a is not None and b is not None and a <= epoch and b <= epoch and min(a, b) < epoch


def hardlink(s: Subject) -> bool:
    f = s.finding
    if f.field == "type":
        return "hardlink" in (f.a, f.b)
    return s.detail.get("type") == "hardlink" or "hardlink" in (
        s.detail.get("type_a"), s.detail.get("type_b"))


def builder_versions_differ(s: Subject) -> bool:
    v = s.builder_versions
    return bool(v and v[0] and v[1] and v[0] != v[1])


# --- the catalogue ---------------------------------------------------------------------

FILE_CHANGED = ("content", "size", "presence")  # fields that say the file itself differs


def _paths(*globs: str, fields: tuple[str, ...] = FILE_CHANGED,
           when: Predicate | None = None) -> Rule:
    return Rule(kinds=("file",), fields=fields, paths=globs, when=when)


CONTENT = ("content",)

CATALOGUE: tuple[Cause, ...] = (
    Cause(
        "attestation", "an extra manifest with vnd.docker.reference.type=attestation-manifest",
        "provenance holds start/finish times and a random invocation id, by design "
        "(moby/buildkit#3421)",
        "compare per-platform manifests (--platform), or build with provenance and SBOM off "
        "(--opt attest:provenance= / --attest type=provenance,disabled=true)",
        (Rule(when=is_attestation),),
    ),
    Cause(
        "packaging", "only media types (Docker vs OCI), layer compression and annotations differ; "
        "every layer's diffID and the config are equal",
        "the same image stored two ways: an OCI archive and a docker-archive (`docker save`, `skopeo copy`), "
        "or exports with different media types",
        "nothing in the image differs: compare both in one format (`skopeo copy` to oci-archive), or set "
        "`oci-mediatypes` explicitly on the exporter; `--semantic` sets packaging aside",
        (Rule(when=lambda s: s.packaging_only),),
    ),
    Cause(
        "dpkg-apt-logs", "var/log/dpkg.log, var/log/apt/*, var/log/alternatives.log",
        "package manager logs hold wall-clock times",
        "`rm -rf /var/log/*` (or the package manager's logs) in the same RUN that installs",
        (_paths("var/log/dpkg.log", "var/log/apt/**", "var/log/alternatives.log",
                "var/log/bootstrap.log", "var/log/dnf*.log", "var/log/hawkey.log",
                "var/log/yum.log"),),
    ),
    Cause(
        "ldconfig-aux-cache", "var/cache/ldconfig/aux-cache",
        "holds inode numbers and times",
        "`rm -f /var/cache/ldconfig/aux-cache` after installs, in the same RUN",
        (_paths("var/cache/ldconfig/aux-cache"),),
    ),
    Cause(
        "apt-lists-cache", "var/lib/apt/lists/*, var/cache/apt/*.bin",
        "release files carry dates",
        "`rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin` in the same RUN, or use "
        "`--mount=type=cache,target=/var/lib/apt/lists`",
        (_paths("var/lib/apt/lists/**", "var/cache/apt/*.bin"),),
    ),
    Cause(
        "distro-state", "var/cache/man/*, var/cache/fontconfig/*, var/cache/debconf/*-old, "
        "dnf history",
        "caches written at install time",
        "delete them in the same RUN, or keep them in cache mounts",
        (_paths("var/cache/man/**", "var/cache/fontconfig/**", "var/cache/debconf/*-old",
                "var/lib/dnf/**", "var/cache/dnf/**", "var/lib/yum/**", "var/cache/yum/**",
                "var/lib/rpm/**", "usr/lib/sysimage/rpm/**"),),
    ),
    Cause(
        "machine-id", "etc/machine-id, var/lib/systemd/random-seed",
        "random per build",
        "ship /etc/machine-id empty (`: > /etc/machine-id`) and remove the random seed; "
        "systemd creates both at boot",
        (_paths("etc/machine-id", "var/lib/dbus/machine-id", "var/lib/systemd/random-seed"),),
    ),
    Cause(
        "ssh-host-keys", "etc/ssh/ssh_host_*",
        "generated by the package's postinst",
        "`rm -f /etc/ssh/ssh_host_*` in the same RUN; generate keys at first start "
        "(`ssh-keygen -A`) — shipping them is also a security problem",
        (_paths("etc/ssh/ssh_host_*"),),
    ),
    Cause(
        "shadow-lastchange", "etc/shadow, etc/shadow- third field",
        "days since the epoch when users are made",
        "tools honour SOURCE_DATE_EPOCH (shadow ≥ 4.9); or `chage -d <fixed day> USER`",
        (_paths("etc/shadow", "etc/shadow-", fields=CONTENT, when=shadow_lastchange_only),),
    ),
    Cause(
        "apk-virtual", "etc/apk/world, lib/apk/db/installed",
        "`apk add --virtual` packages are versioned by the clock (YYYYMMDD.HHMMSS)",
        "`apk add --virtual .name=0 ...` (a fixed version), or `apk del` it in the same RUN",
        (_paths("etc/apk/world", "lib/apk/db/installed", fields=CONTENT,
                when=changed_line_matches(r"(^|\s|=|^V:)\d{8}\.\d{6}(\s|$)")),),
    ),
    Cause(
        "unpinned-input", "package versions differ in dpkg status / apk db / site-packages",
        "inputs resolved by tag or latest version",
        "pin the base image by digest; use apt snapshots (snapshot.debian.org) or pinned "
        "versions; lockfiles with hashes (`pip install --require-hashes`)",
        (_paths("var/lib/dpkg/status", "var/lib/dpkg/status-old", "lib/apk/db/installed",
                fields=CONTENT, when=changed_line_matches(r"^(Version: |V:)")),
         _paths("**/site-packages/*.dist-info", "**/site-packages/*.dist-info/**",
                "**/dist-packages/*.dist-info", "**/dist-packages/*.dist-info/**",
                fields=("presence",))),
    ),
    Cause(
        "python-record", "*.dist-info/RECORD, installer caches",
        "RECORD lists hashes of the pycs (which differ); installers write cache metadata",
        "fix the pycs (see python-bytecode); `UV_NO_INSTALLER_METADATA=1` for uv",
        (_paths("**/*.dist-info/RECORD", "**/*.dist-info/uv_cache.json",
                "**/*.dist-info/direct_url.json"),),
    ),
    Cause(
        "npm-cache", "root/.npm/_cacache/*, root/.npm/_logs/*",
        "npm's cache and logs end up in the layer",
        "`--mount=type=cache,target=/root/.npm`, or `rm -rf ~/.npm` in the same RUN; "
        "use `npm ci`",
        (_paths("**/.npm/_cacache/**", "**/.npm/_logs/**",
                "**/.npm/_update-notifier-last-checked"),),
    ),
    Cause(
        "tool-cache", "root/.cache/pip, yarn caches, tmp/* leftovers",
        "caches and temporary files end up in the layer",
        "`pip install --no-cache-dir`, cache mounts (`--mount=type=cache`), clean /tmp in "
        "the same RUN",
        (_paths("**/.cache/pip/**", "**/.cache/yarn/**", "usr/local/share/.cache/yarn/**",
                "**/.cache/uv/**", "**/.cache/go-build/**", "**/.cache/node-gyp/**",
                "tmp/**", "var/tmp/**"),),
    ),
    Cause(
        "python-bytecode", "*.pyc differ in header bytes 8–16, or exist on one side only",
        "a timestamp pyc records the source's mtime and size",
        "set SOURCE_DATE_EPOCH so compileall/pip write checked-hash pycs (PEP 552); or "
        "`--no-compile` / `PYTHONDONTWRITEBYTECODE=1`",
        (_paths("**/*.pyc", fields=CONTENT, when=looked("pyc", lambda d: d.get("header_only"))),
         _paths("**/*.pyc", fields=("presence",))),
    ),
    Cause(
        "gzip-header", "*.gz differ; the decompressed bytes are equal",
        "gzip stores the mtime and file name in its header",
        "`gzip -n` (or `gzip --no-name`); in Python `gzip.GzipFile(mtime=0)`",
        (Rule(kinds=("file",), fields=CONTENT, when=looked(
            "gzip", lambda d: d.get("payload_equal")
            and {"mtime", "fname"} & set(d.get("header_diff") or ()))),),
    ),
    Cause(
        "nested-archive-mtime",
        "a tar inside the image differs; inner entries differ only by mtime/owner/order",
        "the archive was made at build time",
        "`tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner "
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime`",
        (Rule(kinds=("file",), fields=CONTENT,
              when=looked("tar", lambda d: d.get("metadata_only"))),),
    ),
    Cause(
        "zip-timestamps", "*.jar, *.zip, *.whl differ in entry times or order",
        "zip stores local times (and, in extra fields, exact mtimes)",
        "Maven `project.build.outputTimestamp`, Gradle `preserveFileTimestamps = false` and "
        "`reproducibleFileOrder = true`, `zip -X` on sorted input",
        (Rule(kinds=("file",), fields=CONTENT, when=looked(
            "zip", lambda d: d.get("metadata_only") and (
                d.get("order_differs") or {"date_time", "extra"} & set(d["fields_differ"])))),),
    ),
    Cause(
        "build-id", "ELF .note.gnu.build-id or Go buildid differs",
        "the build ID hashes the output, which changed with random seeds or paths",
        "Go: `-trimpath -buildvcs=false`; C/C++: `-frandom-seed=<file>`, "
        "`-ffile-prefix-map=$PWD=.`; build in a fixed WORKDIR",
        (Rule(kinds=("file",), fields=CONTENT,
              when=looked("elf", lambda d: d.get("build_id_differs"))),),
    ),
    Cause(
        "embedded-timestamp", "file content differs only by a date/time-like value",
        "the program writes the clock into the file",
        "make it honour SOURCE_DATE_EPOCH, or remove the file",
        (Rule(kinds=("file",), fields=CONTENT, when=found("timestamps")),),
    ),
    Cause(
        "random-content", "binary or text content differs with no structure",
        "randomness at build time (/dev/urandom, UUIDs, keys)",
        "don't generate it at build time; generate it at first start",
        (Rule(kinds=("file",), fields=CONTENT, when=found("random")),),
    ),
    Cause(
        "mtime-older-than-epoch", "mtime differs and both values are older than "
        "SOURCE_DATE_EPOCH",
        "rewrite-timestamp only lowers newer times; older ones (from the context, from "
        "archives) pass through",
        "normalise in the Dockerfile (`touch -d @$SOURCE_DATE_EPOCH`) or fix the source "
        "checkout's mtimes",
        (Rule(kinds=("file",), fields=("mtime",), when=both_older_than_epoch),),
    ),
    Cause(
        "file-mtime", "tar header mtime differs on files made by RUN/COPY",
        "timestamps newer than SOURCE_DATE_EPOCH are not clamped",
        "set SOURCE_DATE_EPOCH and export with `rewrite-timestamp=true` (BuildKit ≥ 0.13)",
        (Rule(kinds=("file",), fields=("mtime",)),),
    ),
    Cause(
        "image-created",
        "config `created`, `history[].created`, `org.opencontainers.image.created`",
        "the wall clock was used",
        "pass SOURCE_DATE_EPOCH (`--build-arg SOURCE_DATE_EPOCH=...`, "
        "`repro build --source-date-epoch`)",
        (Rule(kinds=("config",), fields=("created", "history*created")),
         Rule(kinds=("config",), fields=("history",), when=detail_is("key", "created")),
         Rule(kinds=("config",), fields=("history",), when=differs_only_in("created")),
         Rule(fields=("*org.opencontainers.image.created",)),
         Rule(fields=("annotations",),
              when=detail_is("key", "org.opencontainers.image.created")),
         Rule(fields=("annotations",), when=differs_only_in("org.opencontainers.image.created"))),
    ),
    Cause(
        "inline-cache", "config key moby.buildkit.cache.v0",
        "inline cache metadata differs between builds (moby/buildkit#3009)",
        "don't export inline cache in release builds (no `--export-cache type=inline`, "
        "no BUILDKIT_INLINE_CACHE)",
        (Rule(kinds=("config",), fields=("moby.buildkit.cache.v0", "*moby.buildkit.cache.v0*")),),
    ),
    Cause(
        "compression", "layer blob digest differs, diffID equal",
        "the compressor, its level or the BuildKit version differs",
        "pin BuildKit and set `compression`, `compression-level` and `force-compression=true` "
        "on the exporter",
        (Rule(kinds=("layer",), fields=("compression",)),),
    ),
    Cause(
        "media-types", "manifest/layer media types differ (docker vs OCI)",
        "BuildKit ≥ 0.31 defaults to OCI media types",
        "set `oci-mediatypes=true` (or false) explicitly on the exporter",
        (Rule(fields=("media_type", "mediaType", "*.mediaType")),),
    ),
    Cause(
        "file-order", "same entries, different order in a layer",
        "directory iteration order",
        "BuildKit orders its own diffs; sort hand-made tars by name (`tar --sort=name`)",
        (Rule(fields=("order",)),),
    ),
    Cause(
        "tar-format", "PAX vs GNU headers, PAX atime/ctime records",
        "tool differences",
        "strip PAX time records (`--pax-option=delete=atime,delete=ctime`); pin the tool",
        (Rule(kinds=("file", "layer"), fields=("pax", "tar_format")),
         # the differ reports a layer's diff_id only when every entry is equal: the tar
         # streams then differ in their headers (PAX vs GNU, record layout) or padding
         Rule(kinds=("layer",), fields=("diff_id",))),
    ),
    Cause(
        "ownership", "uid/gid/uname/gname/mode",
        "the umask or the build user differs",
        "fix the umask; `COPY --chown`/`--chmod`; numeric owners",
        (Rule(kinds=("file",), fields=("uid", "gid", "uname", "gname", "mode")),),
    ),
    Cause(
        "hardlinks", "hardlink entries differ or point elsewhere",
        "inode order; the snapshotter (native vs overlayfs)",
        "use the same snapshotter for both builds; avoid hardlinks",
        (Rule(kinds=("file",), fields=("linkname", "type"), when=hardlink),),
    ),
    Cause(
        "builder-version", "many layers differ in small ways; two BuildKit versions",
        "digests depend on the BuildKit version",
        "pin BuildKit for release builds",
        (Rule(when=builder_versions_differ),),
    ),
)

BY_ID: dict[str, Cause] = {c.id: c for c in CATALOGUE}


def match(subject: Subject) -> Cause | None:
    """The first cause, in catalogue order, with a rule that matches `subject`."""
    for cause in CATALOGUE:
        if any(rule.matches(subject) for rule in cause.rules):
            return cause
    return None
