"""The cause catalogue as data: every cause of docs/causes.md, with the rules that
recognise it, the commands that produce it, and what an experiment settles.

A `Cause` (see `repro.explain.rules`) is a row: a stable `id`, `title` (what the diff
shows), `why`, `hint` (the fix), its `rules`, each of one stage of evidence, and its
`commands`: regular expressions over one shell segment of the RUN instruction. How the
stages are weighed is `repro.explain.decide`; within a stage, CATALOGUE order is
specificity (the first cause with a matching rule wins). A rule explains; it never hides
a finding.

Path rules match the fields that say the file itself differs (content, size, presence):
an mtime difference on `var/log/dpkg.log` is an mtime problem, explained as such.

To add a cause: add one `Cause(...)` here (with an `example`), and a row to
docs/causes.md; a test checks that both list the same ids.
"""

from __future__ import annotations

from repro.explain.rules import (
    CONTENT, FALLBACK, FIELD, FORMAT, PATH, ROLE, Cause, Command, Experiment, Predicate, Rule,
    all_, both_older_than_epoch, builder_versions_differ, changed_line_matches, detail_is,
    differs_only_in, found, hardlink, instruction_runs, is_attestation, looked, not_,
    one_side_mentions, shadow_hash_changed, shadow_lastchange_only,
)

FILE_CHANGED = ("content", "size", "presence")  # fields that say the file itself differs
CONTENT_FIELD = ("content",)
NAMED = ("content", "presence", "linkname")  # fields a value inside a file or a name explains


def _paths(*globs: str, fields: tuple[str, ...] = FILE_CHANGED, when: Predicate | None = None) -> Rule:
    return Rule(PATH, kinds=("file",), fields=fields, paths=globs, when=when)


def _format(when: Predicate, fields: tuple[str, ...] = CONTENT_FIELD, paths: tuple[str, ...] = ()) -> Rule:
    return Rule(FORMAT, kinds=("file",), fields=fields, paths=paths, when=when)


def _content(when: Predicate, fields: tuple[str, ...] = NAMED) -> Rule:
    return Rule(CONTENT, kinds=("file",), fields=fields, when=when)


# Shell words as they start a command: after a blank, `;`, `|`, `(`, a backquote or `$(`.
_CMD = r"(?:^|(?<=[\s;|(`&]))"
_END = r"(?![\w.+-])"
SHUFFLE = _CMD + r"(?:shuf|sort\s+(?:-\w*R\w*|--random-sort))" + _END
GZ = ("**/*.gz", "**/*.tgz")
ZIPS = ("**/*.zip", "**/*.jar", "**/*.war", "**/*.ear", "**/*.whl", "**/*.egg", "**/*.aar")
TARS = ("**/*.tar", "**/*.tar.*", "**/*.tgz")
ELF_DATE = "gcc takes __DATE__, __TIME__ and __TIMESTAMP__ from SOURCE_DATE_EPOCH: declare " \
           "`ARG SOURCE_DATE_EPOCH` before this RUN (BuildKit passes the build's epoch), or drop the macros"
SALT = "a password hash has a random salt: set the password at first start, or write a fixed " \
       "hash (`usermod -p '<hash>' USER`) instead of hashing at build time"

CATALOGUE: tuple[Cause, ...] = (
    Cause(
        "attestation", "an extra manifest with vnd.docker.reference.type=attestation-manifest",
        "provenance holds start/finish times and a random invocation id, by design "
        "(moby/buildkit#3421)",
        "compare per-platform manifests (--platform), or build with provenance and SBOM off "
        "(--opt attest:provenance= / --attest type=provenance,disabled=true)",
        (Rule(ROLE, when=is_attestation),),
        example="buildctl build ... --opt attest:provenance=mode=max",
    ),
    Cause(
        "packaging", "only media types (Docker vs OCI), layer compression and annotations differ; "
        "every layer's diffID and the config are equal",
        "the same image stored two ways: an OCI archive and a docker-archive (`docker save`, `skopeo copy`), "
        "or exports with different media types",
        "nothing in the image differs: compare both in one format (`skopeo copy` to oci-archive), or set "
        "`oci-mediatypes` explicitly on the exporter; `--semantic` sets packaging aside",
        (Rule(ROLE, when=lambda s: s.context.packaging_only),),  # the whole comparison (repro.explain.packaging)
        example="skopeo copy oci-archive:app.tar docker-archive:app-docker.tar",
    ),
    Cause(
        "dpkg-apt-logs", "var/log/dpkg.log, var/log/apt/*, var/log/alternatives.log",
        "package manager logs hold wall-clock times",
        "`rm -rf /var/log/*` (or the package manager's logs) in the same RUN that installs",
        (_paths("var/log/dpkg.log", "var/log/apt/**", "var/log/alternatives.log",
                "var/log/bootstrap.log", "var/log/dnf*.log", "var/log/hawkey.log",
                "var/log/yum.log", "var/log/apk.log"),),
        (Command(_CMD + r"(?:apt-get|apt|aptitude|dpkg|dnf|yum|microdnf|apk)\s", decides=False),),
        example="RUN apt-get update && apt-get install -y curl",
    ),
    Cause(
        "ldconfig-aux-cache", "var/cache/ldconfig/aux-cache",
        "holds inode numbers and times",
        "`rm -f /var/cache/ldconfig/aux-cache` after installs, in the same RUN",
        (_paths("var/cache/ldconfig/aux-cache"),),
        (Command(_CMD + r"(?:ldconfig|apt-get|apt|dpkg)" + _END, decides=False),),
        example="RUN apt-get install -y libssl3",
    ),
    Cause(
        "apt-lists-cache", "var/lib/apt/lists/*, var/cache/apt/*.bin",
        "release files carry dates",
        "`rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin` in the same RUN, or use "
        "`--mount=type=cache,target=/var/lib/apt/lists`",
        (_paths("var/lib/apt/lists/**", "var/cache/apt/*.bin", "var/cache/apt/**/*.bin"),),
        (Command(_CMD + r"(?:apt-get|apt)\s+(?:-\S+\s+)*update", decides=False),
         Command(_CMD + r"(?:apt-get|apt)\s", decides=False)),
        example="RUN apt-get update",
    ),
    Cause(
        "distro-state", "var/cache/man/*, var/cache/fontconfig/*, var/cache/debconf/*, "
        "dnf history",
        "caches written at install time",
        "delete them in the same RUN, or keep them in cache mounts",
        (_paths("var/cache/man/**", "var/cache/fontconfig/**", "var/cache/debconf/**",
                "var/lib/dnf/**", "var/cache/dnf/**", "var/lib/yum/**", "var/cache/yum/**",
                "var/lib/rpm/**", "usr/lib/sysimage/rpm/**"),),
        (Command(_CMD + r"(?:apt-get|apt|dpkg|dnf|yum|fc-cache|mandb)" + _END, decides=False),),
        example="RUN apt-get install -y man-db",
    ),
    Cause(
        "machine-id", "etc/machine-id, var/lib/dbus/machine-id, var/lib/systemd/random-seed",
        "random per build",
        "ship /etc/machine-id empty (`: > /etc/machine-id`) and remove the random seed; "
        "systemd creates both at boot",
        (_paths("etc/machine-id", "var/lib/dbus/machine-id", "var/lib/systemd/random-seed"),),
        (Command(_CMD + r"(?:dbus-uuidgen|systemd-machine-id-setup)" + _END,
                 hint="it writes a random machine id: ship /etc/machine-id empty and let "
                      "dbus/systemd create it at boot"),
         Command(_CMD + r"(?:apt-get|apt)\s.*\b(?:dbus|systemd)\b", decides=False)),
        example="RUN dbus-uuidgen --ensure=/etc/machine-id",
    ),
    Cause(
        "ssh-host-keys", "etc/ssh/ssh_host_*",
        "generated by the package's postinst",
        "`rm -f /etc/ssh/ssh_host_*` in the same RUN; generate keys at first start "
        "(`ssh-keygen -A`) — shipping them is also a security problem",
        (_paths("etc/ssh/ssh_host_*"),),
        (Command(_CMD + r"ssh-keygen" + _END, paths=("etc/ssh/**",)),
         Command(r"openssh-server|dpkg-reconfigure\s+openssh", decides=False)),
        example="RUN ssh-keygen -A",
    ),
    Cause(
        "shadow-lastchange", "etc/shadow, etc/shadow- third field",
        "days since the epoch when users are made",
        "tools honour SOURCE_DATE_EPOCH (shadow ≥ 4.9); or `chage -d <fixed day> USER`",
        (_paths("etc/shadow", "etc/shadow-", fields=CONTENT_FIELD, when=shadow_lastchange_only),),
        (Command(_CMD + r"(?:useradd|adduser|usermod|chage|passwd|groupadd|addgroup)" + _END,
                 decides=False),),
        example="RUN useradd -m app",
    ),
    Cause(
        "apk-virtual", "etc/apk/world, lib/apk/db/installed",
        "`apk add --virtual` packages are versioned by the clock (YYYYMMDD.HHMMSS)",
        "`apk add --virtual .name=0 ...` (a fixed version), or `apk del` it in the same RUN",
        (_paths("etc/apk/world", "lib/apk/db/installed", fields=CONTENT_FIELD,
                when=changed_line_matches(r"(^|\s|=|^V:)\d{8}\.\d{6}(\s|$)")),),
        (Command(_CMD + r"apk\s+add\s.*--virtual", decides=False),),
        example="RUN apk add --virtual .build-deps gcc",
    ),
    Cause(
        "unpinned-input", "package versions differ in dpkg status / apk db / site-packages",
        "inputs resolved by tag or latest version",
        "pin the base image by digest; use apt snapshots (snapshot.debian.org) or pinned "
        "versions; lockfiles with hashes (`pip install --require-hashes`)",
        (_paths("var/lib/dpkg/status", "var/lib/dpkg/status-old", "lib/apk/db/installed",
                fields=CONTENT_FIELD, when=changed_line_matches(r"^(Version: |V:)")),
         _paths("**/site-packages/*.dist-info", "**/site-packages/*.dist-info/**",
                "**/dist-packages/*.dist-info", "**/dist-packages/*.dist-info/**",
                fields=("presence",))),
        (Command(_CMD + r"(?:curl|wget|git\s+clone|pip3?\s+install|npm\s+install|apt-get\s+install)",
                 decides=False),),
        example="RUN pip install requests",
    ),
    Cause(
        "python-record", "*.dist-info/RECORD, installer caches",
        "RECORD lists hashes of the pycs (which differ); installers write cache metadata",
        "fix the pycs (see python-bytecode); `UV_NO_INSTALLER_METADATA=1` for uv",
        (_paths("**/*.dist-info/RECORD", "**/*.dist-info/uv_cache.json",
                "**/*.dist-info/direct_url.json"),),
        (Command(_CMD + r"(?:pip3?|uv\s+pip|python3?\s+-m\s+pip)\s+install", decides=False),),
        example="RUN pip install ./mypkg",
    ),
    Cause(
        "npm-cache", "root/.npm/_cacache/*, root/.npm/_logs/*",
        "npm's cache and logs end up in the layer",
        "`--mount=type=cache,target=/root/.npm`, or `rm -rf ~/.npm` in the same RUN; "
        "use `npm ci`",
        (_paths("**/.npm/_cacache/**", "**/.npm/_logs/**",
                "**/.npm/_update-notifier-last-checked"),),
        (Command(_CMD + r"npm\s+(?:install|i|ci)" + _END, decides=False),),
        example="RUN npm install",
    ),
    Cause(
        "tool-cache", "root/.cache/pip, yarn caches, tmp/* leftovers",
        "caches and temporary files end up in the layer",
        "`pip install --no-cache-dir`, cache mounts (`--mount=type=cache`), clean /tmp in "
        "the same RUN",
        (_paths("**/.cache/pip/**", "**/.cache/yarn/**", "usr/local/share/.cache/yarn/**",
                "**/.cache/uv/**", "**/.cache/go-build/**", "**/.cache/node-gyp/**",
                "tmp/**", "var/tmp/**"),),
        (Command(_CMD + r"(?:pip3?|yarn|uv|go)\s", decides=False),
         Command(_CMD + r"mktemp" + _END, decides=False)),
        example="RUN pip install flask",
    ),
    Cause(
        "python-bytecode", "*.pyc differ in header bytes 8–16, or exist on one side only",
        "a timestamp pyc records the source's mtime and size",
        "set SOURCE_DATE_EPOCH so compileall/pip write checked-hash pycs (PEP 552); or "
        "`--no-compile` / `PYTHONDONTWRITEBYTECODE=1`",
        (_paths("**/*.pyc", fields=CONTENT_FIELD, when=looked("pyc", lambda d: d.get("header_only"))),
         _paths("**/*.pyc", fields=("presence",))),
        (Command(r"\b(?:compileall|py_compile)\b", paths=("**/*.pyc",),
                 hint="declare `ARG SOURCE_DATE_EPOCH` before this RUN so the pycs are "
                      "checked-hash (PEP 552), or pass `--invalidation-mode checked-hash`"),
         Command(_CMD + r"(?:pip3?|uv\s+pip|python3?\s+-m\s+pip)\s+install", paths=("**/*.pyc",),
                 hint="declare `ARG SOURCE_DATE_EPOCH` before this RUN (pip then writes "
                      "checked-hash pycs), or `pip install --no-compile`"),
         Command(r"\bpython3?(?:\.\d+)?\s", paths=("**/*.pyc",), decides=False)),
        example="RUN python3 -m compileall /app",
    ),
    Cause(
        "gzip-header", "*.gz differ; the decompressed bytes are equal",
        "gzip stores the mtime and file name in its header",
        "`gzip -n` (or `gzip --no-name`); in Python `gzip.GzipFile(mtime=0)`",
        (_format(looked("gzip", lambda d: d.get("payload_equal")
                        and {"mtime", "fname"} & set(d.get("header_diff") or ()))),),
        (Command(_CMD + r"(?<!import\s)gzip" + _END + r"(?![^|;&]*\s-[a-zA-Z0-9]*n)(?![^|;&]*--no-name)", paths=GZ,
                 hint="add `-n`: GNU gzip then stores neither the name nor the time"),
         Command(_CMD + r"tar\s+(?:-?[a-zA-Z]*z|.*--gzip)", paths=GZ,
                 hint="tar's gzip stores a time: `tar -cf - ... | gzip -n > FILE`"),
         Command(r"gzip\.(?:open|GzipFile|compress)", paths=GZ,
                 hint="pass `mtime=0` (GzipFile(..., mtime=0), gzip.compress(data, mtime=0))")),
        example="RUN gzip -k /usr/share/doc/app/changelog",
    ),
    Cause(
        "nested-archive-mtime",
        "a tar (or a .deb, an ar library) inside the image differs; inner entries differ only by "
        "mtime/owner/order",
        "the archive was made at build time",
        "`tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner "
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime`",
        (_format(looked("tar", lambda d: d.get("metadata_only"))),
         _format(looked("ar", lambda d: d.get("metadata_only")))),
        (Command(_CMD + r"tar" + _END + r"(?![^|;&]*--mtime)", paths=TARS,
                 hint="give the archived files fixed times, owners and order: GNU `tar "
                      "--sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 "
                      "--numeric-owner`, or `touch -d @$SOURCE_DATE_EPOCH` the files first"),
         Command(r"tarfile\.open", paths=TARS),
         Command(_CMD + r"(?:dpkg-deb|dpkg-buildpackage|debuild)" + _END, paths=("**/*.deb", "**/*.udeb"), decides=False,
                 hint="declare `ARG SOURCE_DATE_EPOCH` before this RUN: dpkg-deb then clamps the "
                      "package's member and file times to it"),
         Command(_CMD + r"(?:ar|ranlib)" + _END + r"(?![^|;&]*\s-?[a-zA-Z]*D)", paths=("**/*.a",), decides=False,
                 hint="use deterministic mode (`ar rcsD`, `ranlib -D`): zero member times, owners and modes")),
        example="RUN tar -cf /bundle.tar -C /src .",
    ),
    Cause(
        "zip-timestamps", "*.jar, *.zip, *.whl differ in entry times or order",
        "zip stores local times (and, in extra fields, exact mtimes)",
        "Maven `project.build.outputTimestamp`, Gradle `preserveFileTimestamps = false` and "
        "`reproducibleFileOrder = true`, `zip -X` on sorted input",
        (_format(looked("zip", lambda d: d.get("metadata_only") and (
            d.get("order_differs") or {"date_time", "extra"} & set(d["fields_differ"])))),),
        (Command(_CMD + r"(?:zip|jar)" + _END, paths=ZIPS,
                 hint="set every entry's time first (`touch -d @$SOURCE_DATE_EPOCH`), sort the "
                      "input and use `zip -X`"),
         Command(r"zipfile|make_archive", paths=ZIPS,
                 hint="write ZipInfo entries with a fixed date_time (from SOURCE_DATE_EPOCH), "
                      "in sorted order"),
         Command(_CMD + r"(?:mvn|gradle|gradlew|\./gradlew)" + _END, paths=ZIPS)),
        example="RUN cd /app && zip -r /app.zip .",
    ),
    Cause(
        "build-id", "ELF .note.gnu.build-id or Go buildid differs",
        "the build ID hashes the output, which changed with random seeds or paths",
        "Go: `-trimpath -buildvcs=false`; C/C++: `-frandom-seed=<file>`, "
        "`-ffile-prefix-map=$PWD=.`; build in a fixed WORKDIR",
        (_format(all_(looked("elf", lambda d: d.get("build_id_differs")), not_(found("timestamps")))),),
        (Command(_CMD + r"(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|go\s+build|cargo\s+build|make)" + _END,
                 decides=False),),
        example="RUN go build -o /app .",
    ),
    Cause(
        "embedded-timestamp", "file content (or a name, a link target) differs by a date/time-like value",
        "the program writes the clock into the file",
        "make it honour SOURCE_DATE_EPOCH, or remove the file",
        (_content(found("timestamps")),),
        (Command(_CMD + r"date" + _END + r"(?![^|;&]*SOURCE_DATE_EPOCH)(?![^|;&]*\s(?:-d|--date)[\s=]*@?\d)",
                 hint="print the build's epoch instead of the clock: declare `ARG "
                      "SOURCE_DATE_EPOCH` and use `date -u -d \"@$SOURCE_DATE_EPOCH\"`"),
         Command(r"\b(?:time\.time|datetime\.(?:utc)?now|datetime\.today|time\.strftime|"
                 r"Date\.now|new Date\(\)|strftime|localtime|gmtime)\b",
                 hint="take the time from SOURCE_DATE_EPOCH (declare `ARG SOURCE_DATE_EPOCH`) "
                      "instead of the clock"),
         Command(r"__DATE__|__TIME__|__TIMESTAMP__", hint=ELF_DATE),
         Command(_CMD + r"(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)" + _END, decides=False, hint=ELF_DATE),
         Command(_CMD + r"(?:uptime|who|last)" + _END)),
        example="RUN date > /build-date.txt",
    ),
    Cause(
        "random-content", "binary or text content (or a name) differs with no structure",
        "randomness at build time (/dev/urandom, UUIDs, keys, salts, shuffles)",
        "don't generate it at build time; generate it at first start",
        (_paths("etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-", fields=CONTENT_FIELD,
                when=shadow_hash_changed),
         _content(all_(found("reordered"), instruction_runs(SHUFFLE)), fields=CONTENT_FIELD),
         _content(found("random"))),
        (Command(r"/dev/u?random\b"),
         Command(r"\$\{?RANDOM\b", hint="`$RANDOM` differs on every run: use a fixed value, "
                                       "or draw it at first start"),
         Command(_CMD + r"(?:uuidgen|pwgen)" + _END + r"|/proc/sys/kernel/random/uuid"),
         Command(r"\bopenssl\s+(?:rand|genrsa|genpkey|req|ecparam)\b"),
         Command(_CMD + r"mktemp" + _END,
                 hint="mktemp names are random: use a fixed name, or remove it in the same RUN"),
         Command(SHUFFLE, hint="the order is random: sort the output, or give shuf a fixed "
                               "`--random-source`"),
         Command(_CMD + r"(?:chpasswd|mkpasswd)" + _END + r"|\bopenssl\s+passwd\b|"
                 + _CMD + r"useradd\s.*\s-p\s", hint=SALT),
         Command(r"\b(?:os\.urandom|secrets\.|uuid\.uuid[14]|random\.(?:rand|choice|random|shuffle|getrandbits))"),
         Command(r"\bsrand\b|\brand\(\)|\$\{?SRANDOM\b"),
         Command(_CMD + r"(?:gpg\s.*--(?:quick-)?gen-key|ssh-keygen|openssl\s+genrsa|certtool|mkcert)" + _END,
                 hint="a key made at build time is random (and a secret shipped in the image): "
                      "make it at first start, or mount it at run time")),
        example="RUN head -c 16 /dev/urandom > /seed",
    ),
    Cause(
        "file-order", "same entries or lines, different order",
        "directory iteration order",
        "sort what you list (`LC_ALL=C sort`, `find ... | sort`); BuildKit orders its own "
        "diffs; sort hand-made tars by name (`tar --sort=name`)",
        (Rule(FIELD, fields=("order",)),
         _content(found("reordered"), fields=CONTENT_FIELD)),
        (Command(_CMD + r"(?:find|ls\s+-\w*[fU]|du)" + _END + r"(?![^|;&]*\|\s*sort)"),),
        example="RUN find /usr/lib > /filelist.txt",
    ),
    Cause(
        "hostname", "content differs by the build container's host name",
        "the build wrote the host name (BuildKit's is `buildkitsandbox`; other builders differ)",
        "don't record the host name at build time; read it at run time",
        (_content(one_side_mentions(r"\bbuildkitsandbox\b"), fields=CONTENT_FIELD),),
        (Command(_CMD + r"(?:hostname|uname\s+-\w*n)" + _END + r"|/etc/hostname|\$HOSTNAME"),),
        example="RUN hostname > /built-on",
    ),
    Cause(
        "kernel-version", "content differs by the build machine's kernel release",
        "the build wrote `uname -r`/`uname -a`: the kernel belongs to the build machine, not "
        "to the image",
        "don't record the kernel at build time; pin what the build really depends on",
        (),
        (Command(_CMD + r"uname\s+-\w*[ras]\w*" + _END + r"|/proc/version"),),
        example="RUN uname -r > /kernel",
    ),
    Cause(
        "machine-resources", "content differs with the CPUs or the memory of the build machine",
        "parallel builds (`make -j$(nproc)`), thread pools, `nproc` output or memory-sized "
        "defaults depend on the machine",
        "fix the parallelism (`-j4`) and sizes, or make the output independent of the order of work",
        (),
        (Command(r"\bnproc\b|-j\s*\$\(nproc\)|/proc/cpuinfo|/proc/meminfo|getconf\s+_NPROCESSORS|\bfree\b"),),
        example="RUN nproc > /cpus",
    ),
    Cause(
        "environment", "content differs with the build's environment variables or PATH",
        "the build wrote its environment (`env > file`), or picked tools by PATH order",
        "write only the variables you mean (`ARG`/`ENV` in the Dockerfile); use absolute tool paths",
        (),
        (Command(_CMD + r"(?:env|printenv|export\s+-p|set)" + _END + r"(?![^|;&]*=)"),),
        example="RUN env > /build-env",
    ),
    Cause(
        "locale", "content differs with the build's locale (sort order, messages, number format)",
        "the output depends on LANG/LC_ALL",
        "set `ENV LC_ALL=C.UTF-8` (or the locale you mean) in the Dockerfile",
        (),
        (Command(r"\bLC_ALL\b|\bLANG\b|\blocale\b", decides=False),),
        example="RUN sort /words > /sorted",
    ),
    Cause(
        "build-path", "content differs with the path the build ran in",
        "the build directory was written into the output (debug info, __FILE__, scripts)",
        "build in a fixed WORKDIR; `-ffile-prefix-map=$PWD=.`; Go `-trimpath`",
        (),
        (Command(r"\$PWD\b|\bpwd\b", decides=False),),
        example="RUN gcc -g -o /app $PWD/main.c",
    ),
    Cause(
        "mtime-older-than-epoch", "mtime differs and both values are older than "
        "SOURCE_DATE_EPOCH",
        "rewrite-timestamp only lowers newer times; older ones (from the context, from "
        "archives) pass through",
        "normalise in the Dockerfile (`touch -d @$SOURCE_DATE_EPOCH`) or fix the source "
        "checkout's mtimes",
        (Rule(FIELD, kinds=("file",), fields=("mtime",), when=both_older_than_epoch),),
        (Command(_CMD + r"(?:touch\s+-\w*[dtr]|tar\s+-?x|unzip|cp\s+-\w*[ap])", decides=False),),
        example="COPY data.txt /data.txt   # data.txt checked out before the epoch",
    ),
    Cause(
        "file-mtime", "tar header mtime differs on files made by RUN/COPY",
        "timestamps newer than SOURCE_DATE_EPOCH are not clamped",
        "set SOURCE_DATE_EPOCH and export with `rewrite-timestamp=true` (BuildKit ≥ 0.13)",
        (Rule(FIELD, kinds=("file",), fields=("mtime",)),),
        example="RUN touch /x   # built without rewrite-timestamp",
    ),
    Cause(
        "image-created",
        "config `created`, `history[].created`, `org.opencontainers.image.created`",
        "the wall clock was used",
        "pass SOURCE_DATE_EPOCH (`--build-arg SOURCE_DATE_EPOCH=...`, "
        "`repro build --source-date-epoch`)",
        (Rule(FIELD, kinds=("config",), fields=("created", "history*created")),
         Rule(FIELD, kinds=("config",), fields=("history",), when=detail_is("key", "created")),
         Rule(FIELD, kinds=("config",), fields=("history",), when=differs_only_in("created")),
         Rule(FIELD, fields=("*org.opencontainers.image.created",)),
         Rule(FIELD, fields=("annotations",),
              when=detail_is("key", "org.opencontainers.image.created")),
         Rule(FIELD, fields=("annotations",), when=differs_only_in("org.opencontainers.image.created"))),
        example="buildctl build ... (no SOURCE_DATE_EPOCH)",
    ),
    Cause(
        "inline-cache", "config key moby.buildkit.cache.v0",
        "inline cache metadata differs between builds (moby/buildkit#3009)",
        "don't export inline cache in release builds (no `--export-cache type=inline`, "
        "no BUILDKIT_INLINE_CACHE)",
        (Rule(FIELD, kinds=("config",), fields=("moby.buildkit.cache.v0", "*moby.buildkit.cache.v0*")),),
        example="buildctl build ... --export-cache type=inline",
    ),
    Cause(
        "compression", "layer blob digest differs, diffID equal",
        "the compressor, its level or the BuildKit version differs",
        "pin BuildKit and set `compression`, `compression-level` and `force-compression=true` "
        "on the exporter",
        (Rule(FIELD, kinds=("layer",), fields=("compression",)),),
        example="--output type=oci,compression=zstd  vs  compression=gzip",
    ),
    Cause(
        "media-types", "manifest/layer media types differ (docker vs OCI)",
        "BuildKit ≥ 0.31 defaults to OCI media types",
        "set `oci-mediatypes=true` (or false) explicitly on the exporter",
        (Rule(FIELD, fields=("media_type", "mediaType", "*.mediaType")),),
        example="--output type=docker  vs  --output type=oci",
    ),
    Cause(
        "tar-format", "PAX vs GNU headers, PAX atime/ctime records",
        "tool differences",
        "strip PAX time records (`--pax-option=delete=atime,delete=ctime`); pin the tool",
        (Rule(FIELD, kinds=("file", "layer"), fields=("pax", "tar_format")),
         # the differ reports a layer's diff_id only when every entry is equal: the tar
         # streams then differ in their headers (PAX vs GNU, record layout) or padding
         Rule(FIELD, kinds=("layer",), fields=("diff_id",))),
        example="a layer re-packed by another tool",
    ),
    Cause(
        "ownership", "uid/gid/uname/gname/mode",
        "the umask or the build user differs",
        "fix the umask; `COPY --chown`/`--chmod`; numeric owners",
        (Rule(FIELD, kinds=("file",), fields=("uid", "gid", "uname", "gname", "mode")),),
        (Command(_CMD + r"(?:umask|chmod|chown|install\s+-m)" + _END, decides=False),),
        example="COPY app /app   # checked out with another umask",
    ),
    Cause(
        "hardlinks", "hardlink entries differ or point elsewhere",
        "inode order; the snapshotter (native vs overlayfs)",
        "use the same snapshotter for both builds; avoid hardlinks",
        (Rule(FIELD, kinds=("file",), fields=("linkname", "type"), when=hardlink),),
        example="RUN ln /usr/bin/a /usr/bin/b",
    ),
    Cause(
        "builder-version", "many layers differ in small ways; two BuildKit versions",
        "digests depend on the BuildKit version",
        "pin BuildKit for release builds",
        (Rule(FALLBACK, when=builder_versions_differ),),
        example="BuildKit v0.12 against v0.32",
    ),
    Cause(
        "unknown", "no rule explains the difference",
        "a real change, or nondeterminism repro does not recognise yet",
        "compare both sides with diffoscope (the command is in the hint)",
        (),
        example="RUN echo $SOME_BUILD_ARG > /conf   # built with two values",
    ),
)

BY_ID: dict[str, Cause] = {c.id: c for c in CATALOGUE}

# --- experiments -----------------------------------------------------------------------

# Causes driven by the clock (directly, or through mtimes the tools copy).
TIME_CAUSES = (
    "embedded-timestamp", "gzip-header", "zip-timestamps", "nested-archive-mtime",
    "python-bytecode", "python-record", "file-mtime", "mtime-older-than-epoch", "image-created",
    "dpkg-apt-logs", "ldconfig-aux-cache", "apt-lists-cache", "distro-state",
    "shadow-lastchange", "apk-virtual", "build-id", "npm-cache", "tool-cache", "attestation",
)
# Causes that show with no variation at all: chance, the network, the daemon.
UNVARIED_CAUSES = (
    "random-content", "machine-id", "ssh-host-keys", "build-id", "unpinned-input", "tool-cache",
    "npm-cache", "python-record", "ldconfig-aux-cache", "distro-state", "dpkg-apt-logs",
    "file-order", "hardlinks", "attestation", "builder-version", "compression", "tar-format",
)

EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(("time", "faketime", "clock", "stagger", "start_stagger", "start-stagger",
                "timezone", "tz"), TIME_CAUSES, "embedded-timestamp"),
    Experiment(("umask", "user_group", "user-group"), ("ownership",), "ownership"),
    Experiment(("build_path", "build-path", "context_path", "context-path"),
               ("build-path",), "build-path"),
    Experiment(("context_mtimes", "context-mtimes", "mtimes", "fileordering"),
               ("mtime-older-than-epoch", "file-mtime", "file-order", "nested-archive-mtime",
                "zip-timestamps", "gzip-header", "python-bytecode", "python-record"),
               "mtime-older-than-epoch"),
    Experiment(("locales", "locale"), ("locale", "file-order"), "locale"),
    Experiment(("domain_host", "hostname", "domainname"), ("hostname",), "hostname"),
    Experiment(("num_cpus", "cpus", "nproc", "memory"), ("machine-resources", "file-order"), "machine-resources"),
    Experiment(("environment", "exec_path", "exec-path", "home"), ("environment",), "environment"),
    Experiment(("kernel",), ("kernel-version",), "kernel-version"),
    Experiment(("warm_cache", "warm-cache", "cache"),
               ("tool-cache", "npm-cache", "python-record", "python-bytecode"), "tool-cache"),
    Experiment((), UNVARIED_CAUSES, "random-content"),
)

BY_VARIATION: dict[str, Experiment] = {v: e for e in EXPERIMENTS for v in e.variations}
NO_VARIATION: Experiment = EXPERIMENTS[-1]


def markdown_table() -> str:
    """The catalogue as the table in docs/causes.md (a test keeps the two equal)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = ["| id | what the diff shows | why | example | fix |", "|---|---|---|---|---|"]
    for c in CATALOGUE:
        rows.append(f"| `{c.id}` | {cell(c.title)} | {cell(c.why)} | `{cell(c.example)}` | {cell(c.hint)} |")
    return "\n".join(rows) + "\n"
