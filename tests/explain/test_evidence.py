"""The order of evidence on the cases the diagnosis issue measured: instruction evidence,
time anchors that do not depend on today, chance in random content, names and link
targets, experiments, and the `unknown` hint."""

from __future__ import annotations

import os
import re
import subprocess
import time
from types import MappingProxyType

import pytest

from repro.diff.finding import Finding
from repro.explain import ExplainContext, ImageTimes, explain
from repro.explain import commands as cmds
from repro.explain.context import parse_rfc3339


def run(findings, contents=None, **ctx):
    table = contents or {}
    return explain(findings, contents=lambda f: table.get(f.path, (None, None)),
                   context=ExplainContext(**ctx))


def content(path, instruction, layer=1):
    return Finding(kind="file", field="content", path=path, instruction=instruction, layer=layer,
                   platform="linux/amd64")


STAMP = "RUN mkdir -p /data && date +%s > /data/stamp.txt"
RANDOM8 = "RUN head -c 8 /dev/urandom > /data/random.bin"


def test_issue_stamp_four_days_old_gets_its_cause_with_no_clock_and_no_epoch():
    # `repro diff` of two images built four days ago: bare Unix times 2 s apart
    (out,) = run([content("data/stamp.txt", STAMP)],
                 {"data/stamp.txt": (b"1795883274\n", b"1795883276\n")})
    assert out.cause == "embedded-timestamp"
    assert out.hint.startswith("`date +%s > /data/stamp.txt`: ")
    assert out.detail["evidence"] == "instruction"


def test_bare_stamp_without_an_instruction_is_still_a_timestamp():
    (out,) = run([content("data/stamp.txt", None)], {"data/stamp.txt": (b"1795883274\n", b"1795883276\n")})
    assert out.cause == "embedded-timestamp" and out.detail["evidence"] == "content"


def test_issue_random_bytes_with_one_equal_byte_are_random_content():
    a, b = bytes.fromhex("8f3a71c2d90e5b64"), bytes.fromhex("12c671aa07f3e918")
    (out,) = run([content("data/random.bin", RANDOM8)], {"data/random.bin": (a, b)})
    assert out.cause == "random-content"
    assert out.hint.startswith("`head -c 8 /dev/urandom > /data/random.bin`: ")
    (bare,) = run([content("data/random.bin", None)], {"data/random.bin": (a, b)})
    assert bare.cause == "random-content" and bare.detail["random"]["equal_by_chance"] == 1


def test_the_segment_that_writes_the_file_decides_when_one_step_does_two_things():
    step = "RUN date +%s > /srv/built-at && head -c 12 /dev/urandom > /srv/nonce"
    outs = run([content("srv/built-at", step), content("srv/nonce", step)],
               {"srv/built-at": (b"1700000100\n", b"1700000107\n"),
                "srv/nonce": (os.urandom(12), os.urandom(12))})
    assert [o.cause for o in outs] == ["embedded-timestamp", "random-content"]
    assert outs[1].hint.startswith("`head -c 12 /dev/urandom > /srv/nonce`")


def test_timestamps_in_file_names_and_link_targets():
    step = ("RUN mkdir -p /var/log/app && touch /var/log/app/run-$(date +%s).log "
            "&& ln -s /var/log/app/run-$(date +%s).log /var/log/app/latest")
    fs = [Finding(kind="file", field="linkname", path="var/log/app/latest", instruction=step, layer=1,
                  a="/var/log/app/run-1795883274.log", b="/var/log/app/run-1795883276.log",
                  detail=MappingProxyType({"type": "symlink"})),
          Finding(kind="file", field="presence", path="var/log/app/run-1795883274.log", instruction=step,
                  layer=1, a=True, b=False),
          Finding(kind="file", field="presence", path="var/log/app/run-1795883276.log", instruction=step,
                  layer=1, a=False, b=True)]
    outs = run(fs)
    assert [o.cause for o in outs] == ["embedded-timestamp"] * 3
    assert outs[1].detail["paired_with"] == "var/log/app/run-1795883276.log"
    # without the instruction, the names alone still say it
    bare = run([f.with_(instruction=None) for f in fs])
    assert [o.cause for o in bare] == ["embedded-timestamp"] * 3
    assert all(o.detail["evidence"] == "content" for o in bare)


def test_random_directory_names_from_mktemp():
    fs = [Finding(kind="file", field="presence", path=p, layer=1, a=a, b=not a, instruction=None)
          for p, a in (("opt/work.Ar522W", True), ("opt/work.Ar522W/result.txt", True),
                       ("opt/work.pL7BpW", False), ("opt/work.pL7BpW/result.txt", False))]
    assert [o.cause for o in run(fs)] == ["random-content"] * 4


def test_shuffled_lines_and_random_variable():
    lines = [f"{i}\n".encode() for i in range(1, 21)]
    shuffled = b"".join(lines[::-1])
    (out,) = run([content("data/list.txt", "RUN seq 1 20 | shuf > /data/list.txt")],
                 {"data/list.txt": (b"".join(lines), shuffled)})
    assert out.cause == "random-content" and out.detail["reordered"]["lines"] == 20
    (listing,) = run([content("data/files.txt", "RUN find /usr/lib > /data/files.txt")],
                     {"data/files.txt": (b"".join(lines), shuffled)})
    assert listing.cause == "file-order"
    (seed,) = run([content("etc/seed.conf", 'RUN echo "seed=$RANDOM" > /etc/seed.conf')],
                  {"etc/seed.conf": (b"seed=14560\n", b"seed=873\n")})
    assert seed.cause == "random-content" and "$RANDOM" in seed.hint


def test_a_path_rule_beats_the_instruction():
    step = "RUN apt-get update && apt-get install -y curl && date > /var/log/dpkg.log"
    (out,) = run([content("var/log/dpkg.log", step)], {"var/log/dpkg.log": (b"a\n", b"b\n")})
    assert out.cause == "dpkg-apt-logs" and out.detail["evidence"] == "path"
    assert out.hint.startswith("`apt-get update`") or out.hint.startswith("`apt-get install -y curl`")


@pytest.fixture(scope="module")
def dated_binaries(tmp_path_factory) -> tuple[bytes, bytes]:
    """One C source using __DATE__ __TIME__, compiled twice by gcc with another
    SOURCE_DATE_EPOCH (gcc takes the macros from it): the time string and the build id differ."""
    d = tmp_path_factory.mktemp("date")
    (d / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("built " __DATE__ " " __TIME__); return 0; }\n')
    out = []
    for t in (1552571955, 1552571962):
        exe = d / f"hello-{t}"
        subprocess.run(["cc", "-O1", "-Wl,--build-id", "-o", str(exe), str(d / "hello.c")], check=True,
                       env={**os.environ, "SOURCE_DATE_EPOCH": str(t)})
        out.append(exe.read_bytes())
    return out[0], out[1]


def test_a_date_inside_an_elf_beats_its_build_id(dated_binaries):
    a, b = dated_binaries
    (out,) = run([content("usr/local/bin/hello", "RUN gcc -O2 -o /usr/local/bin/hello /src/hello.c")],
                 {"usr/local/bin/hello": (a, b)})
    assert out.detail["format"] == "elf" and out.detail["build_id_differs"]
    assert out.cause == "embedded-timestamp"
    assert "SOURCE_DATE_EPOCH" in out.hint and out.hint.startswith("`gcc -O2 -o /usr/local/bin/hello /src/hello.c`")


def test_epoch_stated_by_the_image_separates_old_mtimes():
    manifest = {"layers": [{"annotations": {"buildkit/rewritten-timestamp": "1700000000"}}]}
    times = ImageTimes.from_documents([(manifest, {"created": "2023-11-14T22:13:20Z"})])
    assert times.epochs == (1700000000,) and times.created == (1700000000.0,)
    f = Finding(kind="file", field="mtime", path="data.txt", a="1500000000", b="1500000100", layer=1)
    (out,) = run([f], images=(times, times))
    assert out.cause == "mtime-older-than-epoch"
    (plain,) = run([f])  # no epoch known
    assert plain.cause == "file-mtime"


def test_check_build_start_times_anchor_values_from_builds_months_apart():
    # a published image from March against a rebuild in November: the stamps are 8 months
    # apart, too far to be one clock read twice, unless each is where its build ran
    f = content("etc/v", "RUN ./configure")
    march, november = 1679000000, 1700000000
    pair = {"etc/v": (f"v={march + 5}\n".encode(), f"v={november + 3}\n".encode())}
    (alone,) = run([f], pair)
    assert alone.cause == "unknown"
    (anchored,) = run([f], pair, build_started=(float(march), float(november)))
    assert anchored.cause == "embedded-timestamp" and anchored.detail["evidence"] == "content"


def test_check_against_an_image_published_months_ago_anchors_the_rebuild_and_brackets_the_old_value():
    # `check --against published.tar`: A was built in March (clamped to its January epoch, so
    # it records no build time), B is the rebuild `check` started in November; the stamp is
    # written by a script the instruction does not show
    f = content("etc/v", "RUN /usr/local/bin/setup.sh")
    january, march, november = 1672531200, 1679000000, 1700000000
    clamped = ImageTimes(epochs=(january,), created=(float(january),))
    pair = {"etc/v": (f"v={march + 5}\n".encode(), f"v={november + 3}\n".encode())}
    (out,) = run([f], pair, images=(clamped, clamped), build_started=(None, float(november)))
    assert out.cause == "embedded-timestamp" and out.detail["evidence"] == "content"
    (no_start,) = run([f], pair, images=(clamped, clamped))
    assert no_start.cause != "embedded-timestamp"
    before_epoch = {"etc/v": (f"v={january - 90 * 86400}\n".encode(), f"v={november + 3}\n".encode())}
    (old,) = run([f], before_epoch, images=(clamped, clamped), build_started=(None, float(november)))
    assert old.cause != "embedded-timestamp"  # A's value predates A's source: not a read of A's clock


def test_created_times_are_parsed_as_go_writes_them():
    assert parse_rfc3339("2023-11-14T22:13:20Z") == 1700000000.0
    assert parse_rfc3339("2023-11-14T22:13:20.123456789Z") == pytest.approx(1700000000.123456)
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1700000000.0
    assert parse_rfc3339("yesterday") is None and parse_rfc3339(None) is None


def test_explain_never_reads_the_clock(monkeypatch):
    def no_clock(*_a, **_k):
        raise AssertionError("explain read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    (out,) = run([content("data/stamp.txt", STAMP)], {"data/stamp.txt": (b"1795883274\n", b"1795883276\n")})
    assert out.cause == "embedded-timestamp"


@pytest.mark.parametrize(("provoked", "expected", "evidence"), [
    (("time",), "embedded-timestamp", "experiment"),       # no date seen: the experiment says time
    (("umask",), "ownership", "experiment"),
    (("num_cpus",), "machine-resources", "experiment"),
    ((), "random-content", "experiment+content"),          # differs with no variation: chance agrees
    (("no-such-variation",), "random-content", "content"),  # an unknown name settles nothing
])
def test_experiment_before_heuristic(provoked, expected, evidence):
    a, b = os.urandom(16), os.urandom(16)
    f = content("data/blob", None).with_(provoked_by=provoked)
    (out,) = run([f], {"data/blob": (a, b)})
    assert out.cause == expected and out.detail["evidence"] == evidence


def test_time_experiment_keeps_a_more_precise_clock_cause():
    import gzip

    f = content("usr/share/doc/x/changelog.gz", None).with_(provoked_by=("time",))
    a, b = gzip.compress(b"x" * 50, mtime=1), gzip.compress(b"x" * 50, mtime=2)
    (out,) = run([f], {"usr/share/doc/x/changelog.gz": (a, b)})
    assert out.cause == "gzip-header" and out.detail["evidence"] == "experiment+format"


def test_every_variation_name_of_check_is_known_to_the_experiment_table():
    from repro.buildkit.variations import VARIATIONS  # the names check --bisect writes
    from repro.explain.catalogue import BY_VARIATION

    names = set(VARIATIONS)
    assert names <= set(BY_VARIATION), names - set(BY_VARIATION)


def test_unknown_gets_the_diffoscope_command_and_report_dir_paths():
    f = content("etc/app.conf", "COPY app.conf /etc/app.conf")
    (given,) = run([f], {"etc/app.conf": (b"level=1\n", b"level=2\n")}, report_dir="/tmp/out")
    assert given.cause == "unknown"
    assert given.hint == ("no known cause: `diffoscope /tmp/out/a/etc/app.conf /tmp/out/b/etc/app.conf` "
                          "(both sides are in `/tmp/out/a/etc/app.conf` and `/tmp/out/b/etc/app.conf`)")
    (multi,) = run([f], {"etc/app.conf": (b"level=1\n", b"level=2\n")}, report_dir="/tmp/out", platform_dirs=True)
    assert "/tmp/out/a/linux_amd64/etc/app.conf" in multi.hint
    only = Finding(kind="file", field="presence", path="etc/extra", a=False, b=True, layer=1)
    (o,) = run([only])
    assert o.cause == "unknown" and "repro-report/b/etc/extra" in o.hint
    (cfg,) = run([Finding(kind="config", field="config.Env", a=["A=1"], b=["A=2"])], refs=("a.tar", "b.tar"))
    assert cfg.cause == "unknown" and "`diffoscope a.tar b.tar`" in cfg.hint


def test_what_a_hint_quotes_from_an_image_stays_inside_its_code_span():
    step = 'RUN echo "built $(date) [x](http://e.vil) `id` <b>" > /etc/x'
    (out,) = run([content("etc/x", step)], {"etc/x": (b"Tue Nov 14 22:13:20 UTC 2023\n", b"Tue Nov 14 22:13:29 UTC 2023\n")})
    quoted = out.hint.split(": ", 1)[0]
    assert quoted.startswith("`") and quoted.endswith("`") and quoted.count("`") == 2
    from repro.report.markdown import _hint

    md = _hint(out.hint)
    spans = re.findall(r"`[^`]*`", md)
    assert spans[0] == """`echo "built $(date) [x](http://e.vil) 'id' <b>" > /etc/x`"""  # code, not a link
    outside = re.sub(r"`[^`]*`", "", md)
    assert "[" not in outside and "<" not in outside
    weird = Finding(kind="file", field="content", path="a`b/[x](y)", layer=1)
    (u,) = run([weird], {"a`b/[x](y)": (b"1\n", b"2\n")})
    assert u.cause == "unknown" and "a'b/[x](y)" in u.hint and "a`b" not in u.hint


def test_segments_and_naming():
    segs = cmds.segments('RUN echo "a && b" > /x; f=$(mktemp -d /opt/w.XXXXXX) && cp y $f \\\n && true')
    assert segs == ('echo "a && b" > /x', "f=$(mktemp -d /opt/w.XXXXXX)", "cp y $f")
    assert cmds.segments("COPY a /b") == ()
    assert cmds.names_file("date > /data/stamp.txt", "data/stamp.txt") == cmds.EXACT
    assert cmds.names_file("date > stamp.txt", "data/stamp.txt") == cmds.EXACT  # relative to WORKDIR
    assert cmds.names_file("date > /other/stamp.txt", "data/stamp.txt") == cmds.NONE
    assert cmds.names_file("touch /var/log/run-$(date +%s).log", "var/log/run-1795883274.log") == cmds.EXACT
    assert cmds.names_file("mktemp -d /opt/w.XXXXXX", "opt/w.Ab12Cd/result.txt") == cmds.TREE
    assert cmds.names_file("gzip /usr/share/doc/x/changelog", "usr/share/doc/x/changelog.gz") == cmds.EXACT
    assert cmds.names_file("python3 -m py_compile /app/m.py", "app/__pycache__/m.cpython-311.pyc") == cmds.EXACT


def test_the_text_summary_counts_unknown_findings_also_when_all_are(tmp_path, capsys):
    # the issue's report: every finding unexplained, and the summary said nothing of it
    from repro.cli import main
    from tests import imagegen as g

    def image(n: int) -> g.ImageSpec:
        return g.ImageSpec(created="2023-11-14T22:13:20Z",
                           layers=[g.LayerSpec([g.file("etc/app.conf", b"level=%d\n" % n)])])

    g.write_image(image(0), tmp_path / "a.tar")
    g.write_image(image(1), tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar")])
    assert e.value.code == 1
    out = capsys.readouterr().out
    assert "cause: unknown — no known cause: `--report-dir repro-report` writes both sides" in out
    assert out.rstrip().splitlines()[-1].endswith("1 finding (file 1), 1 unknown")
