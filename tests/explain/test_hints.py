"""Every hint of the catalogue on the case it was written for.

Each case below is a finding as the differ reports it, with both sides' bytes made the way
the instruction in it makes them, and the cause and hint it must get. The last test checks
that every hint text of the catalogue (a cause's fix, and each command's own fix) is what
some case here gets, so a new hint without its case fails the suite.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import struct
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest

from repro.diff.finding import Finding
from repro.explain import BY_ID, CATALOGUE, ExplainContext, explain
from repro.explain.catalogue import ELF_DATE, SALT

EPOCH = 1_700_000_000


@dataclass(frozen=True)
class Case:
    name: str
    finding: Finding
    cause: str
    hint: str  # the fix the hint must end with
    quote: str | None = None  # the segment of the instruction the hint must start with, in backticks
    sides: tuple[bytes, bytes] | None = None
    context: dict[str, Any] = field(default_factory=dict)


def content(path: str, instruction: str | None) -> Finding:
    return Finding(kind="file", field="content", path=path, instruction=instruction, layer=1,
                   platform="linux/amd64")


def run(case: Case, sides: tuple[bytes, bytes] | None = None) -> Finding:
    sides = sides or case.sides
    (out,) = explain([case.finding], contents=lambda f: sides or (None, None),
                     context=ExplainContext(**case.context))
    return out


def gz(data: bytes, mtime: int) -> bytes:
    return gzip.compress(data, mtime=mtime)


def tar(mtime: int) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("src/main.txt")
        ti.size, ti.mtime = 6, mtime
        tf.addfile(ti, io.BytesIO(b"hello\n"))
    return bio.getvalue()


def zipped(dt: tuple) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as zf:
        zf.writestr(zipfile.ZipInfo("index.html", dt), b"<p>hi</p>\n")
    return bio.getvalue()


def pyc(source_mtime: int) -> bytes:
    code = compile("print('hi')\n", "m.py", "exec")
    import marshal
    return importlib.util.MAGIC_NUMBER + struct.pack("<III", 0, source_mtime, 12) + marshal.dumps(code)


def lines(*items: str) -> bytes:
    return "".join(f"{i}\n" for i in items).encode()


SHADOW = "root:*:19000:0:99999:7:::\napp:{}:19000:0:99999:7:::\n"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n"
MTIME = Finding(kind="file", field="mtime", path="data.txt", a="1500000000", b="1500000100", layer=1,
                instruction="COPY data.txt /data.txt")


def b64(n: int) -> str:
    import base64
    return base64.b64encode(os.urandom(n)).decode()


CASES: list[Case] = [
    # --- roles
    Case("attestation", Finding(kind="manifest", field="digest", detail=MappingProxyType({"role": "attestation"})),
         "attestation", BY_ID["attestation"].hint),
    Case("packaging", Finding(kind="manifest", field="media_type", a="application/vnd.oci.image.manifest.v1+json",
                              b="application/vnd.docker.distribution.manifest.v2+json"),
         "packaging", BY_ID["packaging"].hint, context={"packaging_only": True}),
    # --- paths, with the instruction that wrote them quoted
    Case("dpkg log", content("var/log/dpkg.log", "RUN apt-get update && apt-get install -y curl"),
         "dpkg-apt-logs", BY_ID["dpkg-apt-logs"].hint, "`apt-get update`",
         (b"2023-11-14 22:13:20 install curl\n", b"2023-11-14 22:13:29 install curl\n")),
    Case("aux-cache", content("var/cache/ldconfig/aux-cache", "RUN apt-get install -y libssl3"),
         "ldconfig-aux-cache", BY_ID["ldconfig-aux-cache"].hint, "`apt-get install -y libssl3`",
         (b"\x01aux" + os.urandom(40), b"\x01aux" + os.urandom(40))),
    Case("apt lists", content("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "RUN apt-get update"),
         "apt-lists-cache", BY_ID["apt-lists-cache"].hint, "`apt-get update`",
         (b"Date: Sat, 10 Feb 2024 10:00:00 UTC\n", b"Date: Sat, 17 Feb 2024 10:00:00 UTC\n")),
    Case("debconf", content("var/cache/debconf/config.dat-old", "RUN apt-get install -y man-db"),
         "distro-state", BY_ID["distro-state"].hint, "`apt-get install -y man-db`", (b"a\n", b"b\n")),
    Case("dbus-uuidgen", content("etc/machine-id", "RUN dbus-uuidgen --ensure=/etc/machine-id"),
         "machine-id", BY_ID["machine-id"].commands[0].hint, "`dbus-uuidgen --ensure=/etc/machine-id`",
         (os.urandom(16).hex().encode() + b"\n", os.urandom(16).hex().encode() + b"\n")),
    Case("machine-id by systemd", content("etc/machine-id", "RUN apt-get install -y systemd"),
         "machine-id", BY_ID["machine-id"].hint, "`apt-get install -y systemd`",
         (os.urandom(16).hex().encode() + b"\n", os.urandom(16).hex().encode() + b"\n")),
    Case("ssh host keys", content("etc/ssh/ssh_host_ed25519_key", "RUN ssh-keygen -A"),
         "ssh-host-keys", BY_ID["ssh-host-keys"].hint, "`ssh-keygen -A`",
         (PEM.format(b64(300)).encode(), PEM.format(b64(300)).encode())),
    Case("shadow last change", content("etc/shadow", "RUN useradd -m app"),
         "shadow-lastchange", BY_ID["shadow-lastchange"].hint, "`useradd -m app`",
         (b"root:*:19000:0:99999:7:::\napp:!:19675:0:99999:7:::\n",
          b"root:*:19000:0:99999:7:::\napp:!:19676:0:99999:7:::\n")),
    Case("apk virtual", content("etc/apk/world", "RUN apk add --virtual .build-deps gcc"),
         "apk-virtual", BY_ID["apk-virtual"].hint, "`apk add --virtual .build-deps gcc`",
         (lines("busybox", ".build-deps=20231114.221320"), lines("busybox", ".build-deps=20231114.221329"))),
    Case("dpkg status version", content("var/lib/dpkg/status", "RUN apt-get install -y curl"),
         "unpinned-input", BY_ID["unpinned-input"].hint, "`apt-get install -y curl`",
         (lines("Package: curl", "Version: 7.88.1-10+deb12u4"), lines("Package: curl", "Version: 7.88.1-10+deb12u5"))),
    Case("RECORD", content("usr/local/lib/python3.11/dist-packages/app-1.0.dist-info/RECORD", "RUN pip install ./mypkg"),
         "python-record", BY_ID["python-record"].hint, "`pip install ./mypkg`",
         (b"app/__pycache__/m.cpython-311.pyc,sha256=aaaa,120\n", b"app/__pycache__/m.cpython-311.pyc,sha256=bbbb,120\n")),
    Case("npm cache", content("root/.npm/_cacache/index-v5/aa/bb", "RUN npm install"),
         "npm-cache", BY_ID["npm-cache"].hint, "`npm install`", (b"1\n", b"2\n")),
    Case("pip cache", content("root/.cache/pip/http-v2/a/b/c", "RUN pip install flask"),
         "tool-cache", BY_ID["tool-cache"].hint, "`pip install flask`", (b"1\n", b"2\n")),
    # --- formats, the fix of the command that made the file
    Case("compileall", content("app/__pycache__/m.cpython-311.pyc", "RUN python3 -m compileall /app"),
         "python-bytecode", BY_ID["python-bytecode"].commands[0].hint, "`python3 -m compileall /app`",
         (pyc(1700000000), pyc(1700000007))),
    Case("pip compiles", content("usr/local/lib/python3.11/dist-packages/greeter/__pycache__/g.cpython-311.pyc",
                                 "RUN pip install /src/greeter"),
         "python-bytecode", BY_ID["python-bytecode"].commands[1].hint, "`pip install /src/greeter`",
         (pyc(1700000000), pyc(1700000007))),
    Case("pyc by python", content("app/__pycache__/m.cpython-311.pyc", "RUN python3 /app/m.py"),
         "python-bytecode", BY_ID["python-bytecode"].hint, "`python3 /app/m.py`",
         (pyc(1700000000), pyc(1700000007))),
    Case("gzip without -n", content("usr/share/doc/app/changelog.gz", "RUN gzip -k /usr/share/doc/app/changelog"),
         "gzip-header", BY_ID["gzip-header"].commands[0].hint, "`gzip -k /usr/share/doc/app/changelog`",
         (gz(b"changes\n" * 50, 1700000000), gz(b"changes\n" * 50, 1700000007))),
    Case("tar z", content("opt/bundle.tgz", "RUN tar -czf /opt/bundle.tgz -C /src ."),
         "gzip-header", BY_ID["gzip-header"].commands[1].hint, "`tar -czf /opt/bundle.tgz -C /src .`",
         (gz(tar(EPOCH), 1700000000), gz(tar(EPOCH), 1700000007))),
    Case("python gzip", content("data/x.gz", "RUN python3 -c \"import gzip; gzip.open('/data/x.gz', 'wb').write(b'x')\""),
         "gzip-header", BY_ID["gzip-header"].commands[2].hint,
         "`python3 -c \"import gzip; gzip.open('/data/x.gz', 'wb').write(b'x')\"`",
         (gz(b"x", 1700000000), gz(b"x", 1700000007))),
    Case("gzip, no command known", content("usr/share/doc/app/changelog.gz", "COPY changelog.gz /usr/share/doc/app/"),
         "gzip-header", BY_ID["gzip-header"].hint, None,
         (gz(b"changes\n" * 50, 1700000000), gz(b"changes\n" * 50, 1700000007))),
    Case("nested tar", content("bundle.tar", "RUN tar -cf /bundle.tar -C /src ."),
         "nested-archive-mtime", BY_ID["nested-archive-mtime"].commands[0].hint, "`tar -cf /bundle.tar -C /src .`",
         (tar(1700000000), tar(1700000007))),
    Case("tarfile", content("bundle.tar", "RUN python3 -c \"import tarfile; tarfile.open('/bundle.tar', 'w').add('/src')\""),
         "nested-archive-mtime", BY_ID["nested-archive-mtime"].hint,
         "`python3 -c \"import tarfile; tarfile.open('/bundle.tar', 'w').add('/src')\"`",
         (tar(1700000000), tar(1700000007))),
    Case("zip", content("srv/site.zip", "RUN cd /srv/site && zip -r /srv/site.zip ."),
         "zip-timestamps", BY_ID["zip-timestamps"].commands[0].hint, "`zip -r /srv/site.zip .`",
         (zipped((2023, 11, 14, 22, 13, 20)), zipped((2023, 11, 14, 22, 13, 28)))),
    Case("python zipfile", content("app/app.zip", "RUN python3 -c \"import zipfile; zipfile.ZipFile('/app/app.zip', 'w').write('/app/x')\""),
         "zip-timestamps", BY_ID["zip-timestamps"].commands[1].hint,
         "`python3 -c \"import zipfile; zipfile.ZipFile('/app/app.zip', 'w').write('/app/x')\"`",
         (zipped((2023, 11, 14, 22, 13, 20)), zipped((2023, 11, 14, 22, 13, 28)))),
    Case("jar by maven", content("app/app.jar", "RUN mvn -q package && cp target/app.jar /app/app.jar"),
         "zip-timestamps", BY_ID["zip-timestamps"].hint, "`mvn -q package`",
         (zipped((2023, 11, 14, 22, 13, 20)), zipped((2023, 11, 14, 22, 13, 28)))),
    # --- the clock
    Case("date", content("build-date.txt", "RUN date > /build-date.txt"),
         "embedded-timestamp", BY_ID["embedded-timestamp"].commands[0].hint, "`date > /build-date.txt`",
         (b"Tue Nov 14 22:13:20 UTC 2023\n", b"Tue Nov 14 22:13:27 UTC 2023\n")),
    Case("python time", content("app/stamp", "RUN python3 -c 'import time; print(time.time())' > /app/stamp"),
         "embedded-timestamp", BY_ID["embedded-timestamp"].commands[1].hint,
         "`python3 -c 'import time; print(time.time())' > /app/stamp`",
         (b"1700000000.123\n", b"1700000007.456\n")),
    Case("a date the program writes", content("etc/app.conf", "COPY app.conf /etc/app.conf"),
         "embedded-timestamp", BY_ID["embedded-timestamp"].hint, None,
         (b"built = 2023-11-14T22:13:20Z\n", b"built = 2023-11-14T22:13:27Z\n")),
    # --- randomness
    Case("urandom", content("seed", "RUN head -c 16 /dev/urandom > /seed"),
         "random-content", BY_ID["random-content"].hint, "`head -c 16 /dev/urandom > /seed`",
         (os.urandom(16), os.urandom(16))),
    Case("$RANDOM", content("etc/seed.conf", 'RUN echo "seed=$RANDOM" > /etc/seed.conf'),
         "random-content", BY_ID["random-content"].commands[1].hint, '`echo "seed=$RANDOM" > /etc/seed.conf`',
         (b"seed=14560\n", b"seed=873\n")),
    Case("mktemp", Finding(kind="file", field="presence", path="opt/work.Ar522W", a=True, b=False, layer=1,
                           instruction="RUN d=$(mktemp -d /opt/work.XXXXXX) && echo ok > $d/result.txt"),
         "random-content", BY_ID["random-content"].commands[4].hint, "`d=$(mktemp -d /opt/work.XXXXXX)`"),
    Case("shuf", content("data/order.txt", "RUN seq 1 20 | shuf > /data/order.txt"),
         "random-content", BY_ID["random-content"].commands[5].hint, "`seq 1 20 | shuf > /data/order.txt`",
         (lines(*map(str, range(1, 21))), lines(*map(str, range(20, 0, -1))))),
    Case("chpasswd", content("etc/shadow", "RUN echo 'app:secret' | chpasswd"),
         "random-content", SALT, "`echo 'app:secret' | chpasswd`",
         (SHADOW.format("$y$j9T$" + b64(12) + "$" + b64(32)).encode(),
          SHADOW.format("$y$j9T$" + b64(12) + "$" + b64(32)).encode())),
    Case("ssh-keygen outside /etc/ssh", content("root/.ssh/id_ed25519", "RUN ssh-keygen -t ed25519 -N '' -f /root/.ssh/id_ed25519"),
         "random-content", BY_ID["random-content"].commands[9].hint,
         "`ssh-keygen -t ed25519 -N '' -f /root/.ssh/id_ed25519`",
         (PEM.format(b64(300)).encode(), PEM.format(b64(300)).encode())),
    # --- what the build machine is
    Case("file order", content("filelist.txt", "RUN find /usr/lib > /filelist.txt"),
         "file-order", BY_ID["file-order"].hint, "`find /usr/lib > /filelist.txt`",
         (lines("/usr/lib/a", "/usr/lib/b", "/usr/lib/c"), lines("/usr/lib/c", "/usr/lib/a", "/usr/lib/b"))),
    Case("hostname", content("built-on", "RUN hostname > /built-on"),
         "hostname", BY_ID["hostname"].hint, "`hostname > /built-on`", (b"buildkitsandbox\n", b"runner-7\n")),
    Case("kernel", content("kernel", "RUN uname -r > /kernel"),
         "kernel-version", BY_ID["kernel-version"].hint, "`uname -r > /kernel`",
         (b"6.1.0-18-amd64\n", b"6.1.0-21-amd64\n")),
    Case("nproc", content("cpus", "RUN nproc > /cpus"),
         "machine-resources", BY_ID["machine-resources"].hint, "`nproc > /cpus`", (b"2\n", b"4\n")),
    Case("env", content("build-env", "RUN env > /build-env"),
         "environment", BY_ID["environment"].hint, "`env > /build-env`",
         (lines("HOME=/root", "PATH=/usr/bin"), lines("HOME=/root", "PATH=/usr/bin:/opt/x"))),
    # causes only an experiment can tell (check --bisect)
    Case("locale", content("sorted", "RUN sort /words > /sorted").with_(provoked_by=("locales",)),
         "locale", BY_ID["locale"].hint, None, (lines("a", "B", "c"), lines("B", "a", "c") + b"x\n")),
    Case("build path", content("app", "RUN gcc -g -o /app $PWD/main.c").with_(provoked_by=("build_path",)),
         "build-path", BY_ID["build-path"].hint, "`gcc -g -o /app $PWD/main.c`",
         (b"\x7fELF" + b"/tmp/buildkit-1/main.c\0", b"\x7fELF" + b"/tmp/buildkit-22/main.c\0")),
    # --- fields
    Case("older than the epoch", MTIME, "mtime-older-than-epoch", BY_ID["mtime-older-than-epoch"].hint,
         context={"source_date_epoch": EPOCH}),
    Case("mtime", Finding(kind="file", field="mtime", path="x", a="1700000100", b="1700000107", layer=1,
                          instruction="RUN touch /x"),
         "file-mtime", BY_ID["file-mtime"].hint, context={"source_date_epoch": EPOCH}),
    Case("created", Finding(kind="config", field="created", a="2023-11-14T22:13:20Z", b="2023-11-14T22:14:00Z"),
         "image-created", BY_ID["image-created"].hint),
    Case("inline cache", Finding(kind="config", field="moby.buildkit.cache.v0", a="abc", b="def"),
         "inline-cache", BY_ID["inline-cache"].hint),
    Case("compression", Finding(kind="layer", field="compression", layer=1, a="sha256:a", b="sha256:b"),
         "compression", BY_ID["compression"].hint),
    Case("media types", Finding(kind="layer", field="media_type", layer=0, a="x", b="y"),
         "media-types", BY_ID["media-types"].hint),
    Case("pax", Finding(kind="file", field="pax", path="etc/x", a={"atime": "1"}, b={}),
         "tar-format", BY_ID["tar-format"].hint),
    Case("umask", Finding(kind="file", field="mode", path="app/run.sh", a="0o755", b="0o775", layer=1,
                          instruction="COPY app /app"),
         "ownership", BY_ID["ownership"].hint),
    Case("hardlink", Finding(kind="file", field="linkname", path="usr/bin/b", a="usr/bin/a", b="usr/bin/c",
                             detail=MappingProxyType({"type": "hardlink"})),
         "hardlinks", BY_ID["hardlinks"].hint),
    Case("two BuildKit versions", Finding(kind="config", field="config.Env", a=["A=1"], b=["A=2"]),
         "builder-version", BY_ID["builder-version"].hint, context={"builder_versions": ("v0.12.5", "v0.32.2")}),
]


@pytest.fixture(scope="module")
def elves(tmp_path_factory) -> dict[str, tuple[bytes, bytes]]:
    """gcc output: a program printing __DATE__ __TIME__ built at two epochs, and two builds
    whose only difference is a string (the build id follows it)."""
    d = tmp_path_factory.mktemp("elves")
    (d / "dated.c").write_text('#include <stdio.h>\nint main(void) { puts(__DATE__ " " __TIME__); return 0; }\n')
    out: dict[str, list[bytes]] = {"dated": [], "plain": []}
    for i, t in enumerate((1552571955, 1552571962)):
        (d / "plain.c").write_text('#include <stdio.h>\nint main(void) { puts("v%d"); return 0; }\n' % i)
        for name in ("dated", "plain"):
            exe = d / f"{name}-{i}"
            subprocess.run(["gcc", "-O1", "-Wl,--build-id", "-o", str(exe), str(d / f"{name}.c")], check=True,
                           env={**os.environ, "SOURCE_DATE_EPOCH": str(t)})
            out[name].append(exe.read_bytes())
    return {k: (v[0], v[1]) for k, v in out.items()}


ELF_CASES = [
    Case("__DATE__", content("usr/local/bin/hello",
                             "RUN printf 'int main(){puts(__DATE__);}' > /h.c && gcc -include stdio.h -o /usr/local/bin/hello /h.c"),
         "embedded-timestamp", ELF_DATE, "`gcc -include stdio.h -o /usr/local/bin/hello /h.c`"),
    Case("build id", content("usr/local/bin/app", "RUN go build -o /usr/local/bin/app ."),
         "build-id", BY_ID["build-id"].hint, "`go build -o /usr/local/bin/app .`"),
]


ARCHIVE_CASES = [
    Case("dpkg-deb", content("srv/app_1.0_all.deb", "RUN dpkg-deb --root-owner-group -b /pkg /srv/app_1.0_all.deb"),
         "nested-archive-mtime", BY_ID["nested-archive-mtime"].commands[2].hint,
         "`dpkg-deb --root-owner-group -b /pkg /srv/app_1.0_all.deb`"),
    Case("ar", content("usr/local/lib/libx.a", "RUN ar rcs /usr/local/lib/libx.a /src/x.o"),
         "nested-archive-mtime", BY_ID["nested-archive-mtime"].commands[3].hint,
         "`ar rcs /usr/local/lib/libx.a /src/x.o`"),
]


def check(case: Case, out: Finding) -> None:
    assert out.cause == case.cause, (case.name, out.cause, dict(out.detail or {}))
    assert out.hint.endswith(case.hint), (case.name, out.hint)
    if case.quote is not None:
        assert out.hint == f"{case.quote}: {case.hint}", (case.name, out.hint)
    else:
        assert out.hint == case.hint, (case.name, out.hint)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hint(case):
    check(case, run(case))


@pytest.mark.parametrize("case", ELF_CASES, ids=[c.name for c in ELF_CASES])
def test_elf_hint(case, elves):
    check(case, run(case, elves["dated" if case.cause == "embedded-timestamp" else "plain"]))


@pytest.mark.parametrize("case", ARCHIVE_CASES, ids=[c.name for c in ARCHIVE_CASES])
def test_archive_hint(case, tmp_path):
    from tests.explain.test_ar import build_debs, build_libraries

    a, b = build_debs(tmp_path) if case.name == "dpkg-deb" else build_libraries(tmp_path)
    check(case, run(case, (a, b)))


def test_unknown_hint_names_diffoscope_and_the_report_dir():
    (out,) = explain([content("etc/app.conf", "COPY app.conf /etc/app.conf")],
                     contents=lambda f: (b"level=1\n", b"level=2\n"), context=ExplainContext(report_dir="out"))
    assert out.cause == "unknown" and out.hint.startswith("no known cause: `diffoscope out/a/etc/app.conf")


def test_every_hint_of_the_catalogue_has_its_case():
    texts = {c.hint for c in CATALOGUE if c.id != "unknown"}  # unknown's hint is made per finding (above)
    texts |= {cmd.hint for c in CATALOGUE for cmd in c.commands if cmd.hint}
    tested = {c.hint for c in CASES + ELF_CASES + ARCHIVE_CASES}
    assert texts - tested == set()
