"""The HTML report: self-contained, and it renders in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib

import pytest

from repro.cli import main
from tests.imagegen import vary, write_image
from tests.imagegen import base_spec

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_report(capsys, tmp_path) -> str:
    write_image(base_spec(), tmp_path / "a.tar")
    b = vary(base_spec(), 1, "etc/stamp", content=b"Wed Nov 15 08:00:00 UTC 2023\n", mode=0o600)
    write_image(b, tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "html",
              "-o", str(tmp_path / "r.html")])
    capsys.readouterr()
    assert e.value.code == 1
    return (tmp_path / "r.html").read_text()


def test_html_is_self_contained_and_escapes_names(capsys, tmp_path):
    html = make_report(capsys, tmp_path)
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<script""", html, re.I)
    assert "Not reproducible: 2 findings" in html
    assert "RUN date &gt; /etc/stamp" in html  # escaped, not raw markup
    assert "embedded-timestamp" in html and "-Tue Nov 14 22:13:20 UTC 2023" in html


def _png_pixels_vary(png: bytes) -> bool:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert width >= 800 and height >= 600
    return len(set(raw[: len(raw) // 2])) > 10  # many distinct byte values: not a blank page


def test_html_renders_in_headless_chromium(capsys, tmp_path):
    make_report(capsys, tmp_path)
    chromium = shutil.which("chromium")
    assert chromium, "Debian chromium is required (scripts/setup.sh installs it)"
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1000"]
    page = (tmp_path / "r.html").as_uri()
    dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'id="verdict"' in dom and "Not reproducible" in dom
    assert "layer 1" in dom and "etc/stamp" in dom
    subprocess.run([*common, f"--screenshot={tmp_path / 'r.png'}", page], capture_output=True, timeout=120,
                   check=True)
    assert _png_pixels_vary((tmp_path / "r.png").read_bytes())
