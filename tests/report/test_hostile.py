"""Every output format stays valid and unforgeable whatever the names, labels, platforms
and file contents of an image hold (issue #16, item 7 and 8): text, Markdown, JUnit XML,
HTML and JSON, property-tested over arbitrary strings (control characters, lone
surrogates, backtick runs, bidi overrides, NUL)."""

from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.diff.engine import DiffResult, InputImage, LayerPair, PlatformResult
from repro.diff.finding import Finding, printable
from repro.diff.policy import Policy
from repro.report import RENDERERS, build_report, render

# what no format may carry raw (tab and the renderers' own line feeds excepted)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

hostile_text = st.lists(
    st.one_of(
        st.characters(),  # anything, lone surrogates included
        st.sampled_from(["\n", "\r", "\x1b", "\x00", "\x07", "`", "```", "|", "<", "]]>", "&", "#", "\u202e",
                         "\u2028", "\x85", "\udcff", "\ud800", "## ✅ Reproducible", "REPRODUCIBLE: no differences",
                         "</details>", "<script>", "\x1b]0;pwned\x07", "\n```\n"]),
    ),
    max_size=12,
).map("".join)


def _layer(digest: str) -> SimpleNamespace:
    desc = SimpleNamespace(digest=digest, media_type="application/vnd.oci.image.layer.v1.tar+gzip", size=1)
    return SimpleNamespace(descriptor=desc, diff_id=digest)


def report_with(name: str, other: str, platform: str) -> dict:
    """A report document whose every image-derived string is `name` / `other`."""
    img = lambda ref: InputImage(ref, "oci-archive", "sha256:" + "a" * 64, "image")  # noqa: E731
    m = SimpleNamespace(descriptor=SimpleNamespace(digest="sha256:" + "b" * 64, media_type="x"),
                        config_descriptor=SimpleNamespace(digest="sha256:" + "c" * 64), layers=(1,))
    pair = LayerPair(0, name, _layer("sha256:" + "d" * 64), _layer("sha256:" + "e" * 64), "differs")
    plat = PlatformResult(platform, "image", m, m, (pair,))
    diff = "--- a\n+++ b\n-" + name + "\n+" + other + "\n"
    findings = (
        Finding("file", "content", platform=platform, layer=0, instruction=name, path=name, a=name, b=other,
                cause="embedded-timestamp", hint="our hint", detail={"diff": diff, "key": name, name: other}),
        Finding("config", f"config.Labels.{name}", platform=platform, a=name, b=float("inf")),
        Finding("index", "annotations", a=name, b=other, detail={"key": name}),
        Finding("config", "history", platform=platform, a=name, b=other, detail={"index": 0, "key": name}),
        Finding("file", "xattrs", platform=platform, layer=0, path=name, a={name: name.encode("utf-8", "surrogatepass")},
                b={}),
    )
    result = DiffResult(img(name), img(other), findings, ((findings[0], "ignore:" + name),), (plat,),
                        Policy.make(True, (name,)), contents=None)
    return build_report(result)


def _check_text(out: str, _doc: dict) -> None:
    lines = out.split("\n")
    assert not RAW_CONTROL.search(out)
    verdicts = [i for i, l in enumerate(lines) if l.startswith(("REPRODUCIBLE", "NOT REPRODUCIBLE"))]
    assert verdicts == [len(lines) - 2], "a name forged a verdict line"


def _check_markdown(out: str, _doc: dict) -> None:
    assert not RAW_CONTROL.search(out)
    lines = out.split("\n")
    assert [l for l in lines if l.startswith("## ")] == [lines[0]], "a name forged a heading"
    # every table row has exactly the columns of its header: no name adds or breaks a cell
    columns = None
    for line in lines:
        if not line.startswith("|"):
            columns = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line))
        if columns is None:
            columns = cells
        assert cells == columns, line
    # fences: each opening fence is closed by the same fence, nothing else in between closes it
    open_fence = None
    for line in lines:
        stripped = line.strip()
        if open_fence is None:
            m = re.match(r"^(`{3,})diff$", stripped)
            if m:
                open_fence = m.group(1)
            else:
                assert not stripped.startswith("```") or stripped.startswith("```diff"), line
        elif re.fullmatch(r"`{3,}", stripped) and len(stripped) >= len(open_fence):
            assert stripped == open_fence, line
            open_fence = None
    assert open_fence is None


def _check_junit(out: str, _doc: dict) -> None:
    assert not RAW_CONTROL.search(out)
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites"


class _StrictHTML(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _check_html(out: str, _doc: dict) -> None:
    assert not RAW_CONTROL.search(out)
    p = _StrictHTML()
    p.feed(out)
    p.close()
    assert "script" not in p.tags, "a name opened a <script>"


def _check_json(out: str, doc: dict) -> None:
    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in a JSON report")

    back = json.loads(out, parse_constant=no_constants)
    assert back == doc
    out.encode("utf-8")


CHECKS = {"text": _check_text, "markdown": _check_markdown, "junit": _check_junit, "html": _check_html,
          "json": _check_json}


def test_every_format_is_checked():
    assert set(CHECKS) == set(RENDERERS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile_text, other=hostile_text, platform=hostile_text)
def test_every_format_stays_valid_for_any_name(name, other, platform):
    doc = report_with(name, other, platform or "linux/amd64")
    for fmt, check in CHECKS.items():
        out = render(doc, fmt)
        out.encode("utf-8")  # writable as UTF-8: no lone surrogate survives
        check(out, doc)
    # the JSON keeps the name itself (only made encodable), so nothing is lost for a reader
    assert doc["findings"][0]["path"] == printable(name)


@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_a_name_with_a_fence_and_a_heading_cannot_forge_a_verdict(fmt):
    name = "x\n```\n\n## ✅ Reproducible\n\nREPRODUCIBLE: no differences\n\x1b]0;pwned\x07\x00"
    doc = report_with(name, "```` \n# REPRODUCIBLE", "linux/amd64\n## ✅ Reproducible")
    out = render(doc, fmt)
    CHECKS[fmt](out, doc)
    assert "\x1b" not in out and "\x00" not in out


def test_printable_handles_lone_surrogates_and_undecodable_bytes():
    assert printable("label\ud800") == "label\\ud800"
    assert printable(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
    assert printable("plain ✓") == "plain ✓"


def test_non_finite_numbers_become_names_in_the_report():
    doc = report_with("n", "m", "linux/amd64")
    labels = [f for f in doc["findings"] if f["field"].startswith("config.Labels.")]
    assert labels[0]["b"] == "Infinity"


# -- end to end: real images whose names, labels and history are hostile ----------------------

EVIL = "evil\x1b]0;pwned\x07\nREPRODUCIBLE: no differences\x1b[2J"


def _run(capsys, *argv):
    from repro.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture
def hostile_pair(tmp_path):
    from tests import imagegen as g

    from tests.corpus import mc

    def spec(content: bytes) -> g.ImageSpec:
        # a non-UTF-8 xattr name holding ESC (tarfile cannot write one: raw PAX records)
        pax = mc.pax_record(b"SCHILY.xattr.user.\xff\x1b", b"\xff\x00")
        tar = (mc.tar_member(b"PaxHeaders/x", pax, typeflag=b"x")
               + mc.tar_member(EVIL.encode(), content) + mc.tar_member(b"ok", content) + mc.END)
        return g.ImageSpec([g.LayerSpec([], raw_tar=tar, created_by=EVIL)], labels={EVIL: EVIL + "\ud800"},
                           config_hook=lambda doc: json.dumps(doc).encode())  # "\\ud800" in the JSON
    g.write_image(spec(b"A"), tmp_path / "a.tar")
    g.write_image(spec(b"B"), tmp_path / "b.tar")
    return str(tmp_path / "a.tar"), str(tmp_path / "b.tar")


def test_inspect_files_escapes_names_history_and_labels(capsys, hostile_pair):
    code, out, err = _run(capsys, "inspect", "--files", hostile_pair[0])
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert not any(l.startswith("REPRODUCIBLE") for l in out.splitlines())
    assert "evil\\x1b]0;pwned\\x07\\x0aREPRODUCIBLE" in out  # shown, escaped, on one line
    code, out, err = _run(capsys, "inspect", "--files", "--format", "json", hostile_pair[0])
    assert code == 0, err
    doc = json.loads(out)
    assert any(e["path"] == EVIL for m in doc["manifests"] for l in m["layers"] for e in l["entries"])


@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_hostile_images_give_valid_reports_in_every_format(capsys, hostile_pair, tmp_path, fmt):
    out_file = tmp_path / f"report.{fmt}"
    code, out, err = _run(capsys, "diff", *hostile_pair, "--format", fmt, "-o", str(out_file),
                          "--report-dir", str(tmp_path / "dir"))
    assert code == 1, err
    text = out_file.read_text(encoding="utf-8")
    doc = json.loads((tmp_path / "dir" / "report.json").read_text(encoding="utf-8"))
    CHECKS[fmt](text, doc)
