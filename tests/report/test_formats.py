"""Markdown (CI step summaries), JUnit XML and GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from repro.cli import main
from tests.imagegen import vary, write_image
from tests.imagegen import base_spec


def run(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture
def pair(tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    b = vary(base_spec(), 1, "etc/stamp", content=b"Wed Nov 15 08:00:00 UTC 2023\n")
    write_image(b, tmp_path / "b.tar")
    return str(tmp_path / "a.tar"), str(tmp_path / "b.tar")


def test_markdown_puts_the_verdict_first_and_a_table_per_layer(capsys, pair):
    code, out, _ = run(capsys, "diff", *pair, "--format", "markdown")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "## ❌ Not reproducible"
    assert "### linux/amd64: layer 1 — `RUN date > /etc/stamp`" in out
    assert "| `etc/stamp` | content |" in out and "embedded-timestamp" in out
    assert "<details><summary>" in out


def test_junit_has_the_schema_shape_with_one_case_per_platform_and_layer(capsys, pair):
    code, out, _ = run(capsys, "diff", *pair, "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["index", "manifest and config", "layer 0: COPY tool /bin/",
                                              "layer 1: RUN date > /etc/stamp"]
    assert all(c.get("classname") for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["layer 1: RUN date > /etc/stamp"]
    assert "etc/stamp: content" in failed[0].find("failure").text
    assert suite.get("tests") == "4" and suite.get("failures") == "1" == root.get("failures")
    for el in root.iter():  # only JUnit's element names
        assert el.tag in {"testsuites", "testsuite", "testcase", "failure", "properties", "property"}


def test_junit_of_identical_images_has_no_failures(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "a.tar"), "--format", "junit")
    assert code == 0
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.get("failures") == "0" and root.find(".//failure") is None


def test_github_step_summary_gets_the_markdown_appended(capsys, pair, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = run(capsys, "diff", *pair, "--format", "json")
    assert code == 1 and out.startswith("{")  # stdout keeps the requested format
    text = summary.read_text()
    assert text.startswith("# earlier step\n## ❌ Not reproducible")
    assert "RUN date > /etc/stamp" in text


def test_markdown_cannot_be_steered_by_names_or_instructions_from_the_image():
    from repro.report.markdown import _code, _esc

    assert _esc("a*b_[x](http://e)<script>|") == "a\\*b\\_\\[x\\](http://e)\\<script\\>\\|"
    assert _code("RUN echo `date` > /x") == "``RUN echo `date` > /x``"
    assert _code("``a``") == "``` ``a`` ```"
    assert "\n" not in _esc("two\nlines") and "\n" not in _code("two\nlines")
