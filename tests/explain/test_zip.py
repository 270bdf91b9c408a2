"""Look-inside for zip, jar and wheel files."""

from __future__ import annotations

import io
import zipfile

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, look_inside

T0, T1 = (2020, 1, 1, 0, 0, 0), (2024, 6, 1, 12, 30, 2)


def make_zip(entries: list[tuple[str, bytes, tuple]]) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, dt in entries:
            zf.writestr(zipfile.ZipInfo(name, dt), data)
    return bio.getvalue()


BASE = [("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", T0), ("a/A.class", b"\xca\xfe", T0)]


def explain_zip(a: bytes, b: bytes, path: str = "app/lib/app.jar") -> Finding:
    f = Finding(kind="file", field="content", path=path)
    (out,) = explain([f], contents=lambda _: (a, b))
    return out


def test_entry_times_differ_is_zip_timestamps():
    later = [(n, d, T1) for n, d, _ in BASE]
    d = look_inside("app.jar", make_zip(BASE), make_zip(later), context())
    assert d["format"] == "zip" and d["content_equal"] and d["metadata_only"]
    assert d["entries_differ"][0]["date_time"] == {"a": "2020-01-01T00:00:00",
                                                  "b": "2024-06-01T12:30:02"}
    out = explain_zip(make_zip(BASE), make_zip(later))
    assert out.cause == "zip-timestamps" and "outputTimestamp" in out.hint


def test_entry_order_differs_is_zip_timestamps():
    d = look_inside("x.whl", make_zip(BASE), make_zip(BASE[::-1]), context())
    assert d["order_differs"] and d["entries_differ"] == []
    assert explain_zip(make_zip(BASE), make_zip(BASE[::-1]), "x.whl").cause == "zip-timestamps"


def test_content_difference_is_not_zip_timestamps():
    other = [BASE[0], ("a/A.class", b"\xca\xfe\xba\xbe", T1)]
    d = look_inside("app.jar", make_zip(BASE), make_zip(other), context())
    assert d["content_differs"] == ["a/A.class"] and not d["content_equal"]
    assert explain_zip(make_zip(BASE), make_zip(other)).cause == "unknown"


def test_zip_is_recognised_by_magic():
    later = [(n, d, T1) for n, d, _ in BASE]
    d = look_inside("opt/bundle.bin", make_zip(BASE), make_zip(later), context())
    assert d["format"] == "zip"


def test_extra_only_on_one_side_is_named():
    a = make_zip([("x", b"1", T0)])
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as zf:
        info = zipfile.ZipInfo("x", T0)
        info.extra = b"UT\x05\x00\x01\x00\x00\x00\x00"
        zf.writestr(info, b"1")
    d = look_inside("x.zip", a, bio.getvalue(), context())
    assert d["fields_differ"] == ["extra"] and d["metadata_only"]


def test_a_date_inside_an_entry_is_lifted_to_the_zip():
    def jar(stamp: str) -> bytes:
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", T1), f"Manifest-Version: 1.0\nBuilt: {stamp}\n")
            zf.writestr(zipfile.ZipInfo("a/A.class", T1), b"\xca\xfe\xba\xbe")
        return bio.getvalue()

    a, b = jar("2026-12-02T10:00:00Z"), jar("2026-12-02T10:00:07Z")
    d = look_inside("app.jar", a, b, context())
    assert d["content_differs"] == ["META-INF/MANIFEST.MF"]
    assert d["timestamps"][0]["entry"] == "META-INF/MANIFEST.MF"
    assert d["entries_looked"]["META-INF/MANIFEST.MF"]["only_timestamps"]
    assert explain_zip(a, b).cause == "embedded-timestamp"
