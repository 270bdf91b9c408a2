"""Text look-inside: a bounded unified diff."""

from __future__ import annotations

from repro.explain.formats import context, look_inside, text


def test_text_diff_shows_the_changed_line():
    d = look_inside("etc/app.conf", b"a=1\nb=2\nc=3\n", b"a=1\nb=5\nc=3\n", context())
    assert d["format"] == "text"
    assert "-b=2\n+b=5\n" in d["diff"] and d["diff"].startswith("--- a/etc/app.conf\n")
    assert not d["diff_truncated"] and d["lines"] == {"a": 3, "b": 3}


def test_text_diff_is_bounded():
    a = "".join(f"line {i}\n" for i in range(5000)).encode()
    b = "".join(f"line {i}{'x' if i % 3 == 0 else ''}\n" for i in range(5000)).encode()
    d = look_inside("big.txt", a, b, context())
    assert d["diff_truncated"]
    assert d["diff"].count("\n") <= text.MAX_DIFF_LINES
    assert len(d["diff"]) <= text.MAX_DIFF_BYTES


def test_binary_is_not_text():
    assert text.decode_text(b"\x00\x01\x02") is None
    assert text.decode_text(bytes(range(128, 256)) * 4) is None
    assert look_inside("x.bin", b"\x00\x01", b"\x00\x02", context()).get("format") is None


def test_missing_final_newline_is_marked():
    d = look_inside("x", b"a\nb", b"a\nc", context())
    assert "\\ No newline at end of file" in d["diff"]
