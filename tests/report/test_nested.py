"""Nested-archive entries (a tar inside a gzip, a zip) are listed in every format, not
only in the JSON report's `entries_differ`."""

from __future__ import annotations

import pytest

from repro.report import render
from repro.report.nested import listings
from tests.report_samples import sample_doc


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    return sample_doc("mixed", tmp_path_factory.mktemp("nested"))


def finding(doc, path):
    return next(f for f in doc["findings"] if f.get("path") == path)


def test_listings_reach_into_a_compressed_payload(doc):
    (tar,) = listings(finding(doc, "app/bundle.tar.gz")["detail"])
    assert tar.title == "inside the gzip payload: entries of the tar that differ"
    assert [(r.name, r.differs_in) for r in tar.rows] == [("app", "mtime"), ("app/main.py", "mtime"),
                                                         ("app/VERSION", "mtime")]
    assert tar.rows[1].a == (("mtime", "2023-11-14 22:13:20 UTC"),)
    assert tar.notes == ("3 of 3 entries differ", "only metadata differs: the files inside hold the same bytes")
    (jar,) = listings(finding(doc, "app/lib.jar")["detail"])
    assert jar.title == "entries of the zip archive that differ"
    assert jar.rows[0].b == (("date_time", "2023-11-15T08:00:00"),)
    assert listings(finding(doc, "etc/stamp")["detail"]) == []


def test_text_lists_the_entries(doc):
    text = render(doc, "text")
    block = text.split("app/bundle.tar.gz", 1)[1]
    assert ("        inside the gzip payload: entries of the tar that differ (3 of 3 entries differ; only metadata "
            "differs: the files inside hold the same bytes):\n"
            "          app          mtime 2023-11-14 22:13:20 UTC → 2023-11-15 22:13:20 UTC\n"
            "          app/main.py  mtime") in block
    assert "          META-INF/MANIFEST.MF   date_time 2023-11-14T22:13:20 → 2023-11-15T08:00:00\n" in text


def test_markdown_lists_the_entries_as_a_table(doc):
    md = render(doc, "markdown")
    assert ("  | entry | differs in | A | B |\n  |---|---|---|---|\n"
            "  | `app` | mtime | 2023-11-14 22:13:20 UTC | 2023-11-15 22:13:20 UTC |\n") in md
    assert "  | `com/example/App.class` | date\\_time | 2023-11-14T22:13:20 | 2023-11-15T08:00:00 |" in md


def test_a_long_listing_is_cut_and_says_where_the_rest_is(doc):
    import copy

    big = copy.deepcopy(doc)
    d = finding(big, "app/lib.jar")["detail"]
    d["only_b"] = [f"extra/{i}.class" for i in range(45)]
    text = render(big, "text")
    assert "      … 27 more (--format json lists them)" in text
    assert "… 27 more (`--format json` lists them)" in render(big, "markdown")
