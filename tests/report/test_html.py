"""The HTML report as a person sees it, in a real headless Chromium.

At 1280 and 900 px (and at a printed A4 page's width with the print styles applied),
measured in the page itself: nothing is wider than the viewport, no element scrolls or
clips sideways, with every collapsed section opened. The page needs no script and no
network. Full-page screenshots (and a printed PDF) are kept as test artefacts in
$REPRO_ARTEFACTS/report-html (default .work/artefacts/report-html in the checkout) for a
person to look at.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from repro.cli import main
from repro.report.html import render_html
from tests.imagegen import base_spec, vary, write_image
from tests.report_samples import sample_doc, with_build

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("REPRO_ARTEFACTS") or ROOT / ".work" / "artefacts") / "report-html"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1"]
WIDTHS = (1280, 900)
PRINT_WIDTH = 718  # an A4 page (794 CSS px) less Chromium's default print margins

# Injected into a copy of the page (the report itself has no script): opens every
# <details>, then records the viewport, the page's width and height, every element that
# reaches past the viewport, and every element whose content overflows it sideways
# (a scrollbar or a clip).
MEASURE = """<script>
for (const d of document.querySelectorAll('details')) d.open = true;
const vw = document.documentElement.clientWidth, wide = [], clipped = [];
const name = el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).replace(/ /g, '.') : '')
  + (el.id ? '#' + el.id : '');
for (const el of document.querySelectorAll('body, body *')) {
  const r = el.getBoundingClientRect();
  if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) wide.push(name(el) + ' right=' + Math.round(r.right));
  if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
    clipped.push(name(el) + ' ' + el.scrollWidth + '>' + el.clientWidth);
}
document.body.setAttribute('data-measure', JSON.stringify({vw, width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight, wide: wide.slice(0, 20), clipped: clipped.slice(0, 20)}));
</script>"""


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian chromium is required (scripts/setup.sh installs it)"
    return path


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180, check=True)


def measure(page: Path, width: int, tmp: Path, *, print_styles: bool = False) -> dict:
    text = page.read_text(encoding="utf-8")
    if print_styles:  # the print rules applied on screen, at a printed page's width
        assert "@media print{" in text
        text = text.replace("@media print{", "@media all{")
    probe = tmp / f"{page.stem}-probe-{width}{'-print' if print_styles else ''}.html"
    probe.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = run_chromium(tmp, f"--window-size={width},1000", "--dump-dom", probe.as_uri()).stdout
    m = re.search(r'data-measure="([^"]*)"', dom)
    assert m, dom[:500]
    return json.loads(htmllib.unescape(m.group(1)))


def screenshot(page: Path, width: int, height: int, tmp: Path) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTEFACTS / f"{page.stem}-{width}.png"
    run_chromium(tmp, f"--window-size={width},{min(max(height, 600), 16000)}", f"--screenshot={out}", page.as_uri())
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("html")
    docs = {
        "mixed": with_build(sample_doc("mixed", tmp / "img"), varied=True, builds=3, record=True),
        "semantic": sample_doc("semantic", tmp / "img"),
        "reproducible": with_build(sample_doc("reproducible", tmp / "img"), varied=False),
    }
    out = {}
    for name, doc in docs.items():
        out[name] = tmp / f"report-{name}.html"
        out[name].write_text(render_html(doc), encoding="utf-8")
    return out


def visible_text(page: Path) -> str:
    body = page.read_text(encoding="utf-8").split("<body>", 1)[1]
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body.replace("<wbr>", "")))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["mixed", "semantic", "reproducible"])
def test_nothing_is_wider_than_the_viewport(pages, tmp_path, name, width):
    m = measure(pages[name], width, tmp_path)
    assert m["vw"] == width
    assert m["wide"] == [] and m["clipped"] == [] and m["width"] <= width, m
    shot = screenshot(pages[name], width, m["height"], tmp_path)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_page_prints_within_a_page_and_to_pdf(pages, tmp_path):
    m = measure(pages["mixed"], PRINT_WIDTH, tmp_path, print_styles=True)
    assert m["wide"] == [] and m["clipped"] == [] and m["width"] <= PRINT_WIDTH, m
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTEFACTS / "report-mixed.pdf"
    run_chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", pages["mixed"].as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 2


def test_the_page_needs_no_script_and_no_network(pages):
    for page in pages.values():
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script|\bsrc\s*=|url\(|@import|<link|<iframe|<img", text, re.I)
        assert set(re.findall(r'href="([^"]*)"', text)) <= {f"#{x}" for x in re.findall(r'id="([^"]+)"', text)}


def visible_text_of(html: str, tmp: Path) -> str:
    page = tmp / "page.html"
    page.write_text(html, encoding="utf-8")
    return visible_text(page)


def test_summary_says_verdict_images_build_variations_and_causes(pages, tmp_path):
    text = " ".join(visible_text(pages["mixed"]).split())
    assert "Not reproducible 11 findings: 2 config differences, 9 file differences; 5 unknown." in text
    assert ("Variations: default — the realistic set: what differs between two machines running the same BuildKit "
            "build 2: stagger (started 2 s after build 1), build_path (context copied to another path) "
            "not applied in build 2: kernel — the builder is not one of repro's ephemeral daemons") in text
    assert text.count("Provoked by: stagger") == 1
    assert "Warning: linux/arm64: 12 of 12 executables checked are built for x86-64" in text
    assert "Comparisons pair verdict findings build-1 vs build-2" in text and "build-1 vs build-3" in text
    assert "BuildKit v0.32.2" in text and "SOURCE_DATE_EPOCH 1700000000 (2023-11-14 22:13:20 UTC" in text
    for cause in ("embedded-timestamp 2", "nested-archive-mtime 1", "zip-timestamps 1", "unknown 5"):
        assert cause in text
    repro_text = " ".join(visible_text(pages["reproducible"]).split())
    assert "Reproducible The two images are identical." in repro_text
    assert "Variations: none: every build ran in the same conditions" in repro_text
    # a report made before the variations record (build.vary only) still says it
    old = " ".join(visible_text_of(render_html(with_build(sample_doc("mixed", tmp_path / "img"), varied=True)),
                                   tmp_path).split())
    assert "Variations: build 2: context copied to another path" in old
    semantic = " ".join(visible_text(pages["semantic"]).split())
    assert "Variations: none: these images were not built by repro" in semantic
    assert "Set aside by the policy (2)" in semantic


def test_findings_are_per_layer_with_the_changed_characters_marked(pages):
    page = pages["mixed"].read_text(encoding="utf-8")
    assert page.count('<section class="layer"') == 2  # the config findings, and layer 1 (layer 0 is equal)
    assert 'id="p-linux_amd64-image-layer-1"' in page
    # the date in etc/stamp: the differing words are marked, the rest is not
    assert "<del>14</del>" in page and "<ins>15</ins>" in page and "<ins>Nov</ins>" not in page
    # a 3 kB minified line: the change is shown, the unchanged middle is elided
    assert "unchanged characters …" in page
    # hints: backticks become code, none is shown literally
    assert "<code>project.build.outputTimestamp</code>" in page
    assert "`" not in visible_text(pages["mixed"])


def test_nested_archive_entries_are_a_table_and_detail_is_no_json_dump(pages):
    page = pages["mixed"].read_text(encoding="utf-8")
    tar = page.split("app/bundle.tar.gz", 1)[1].split('<article class="finding"', 1)[0]
    assert "Inside the gzip payload: entries of the tar that differ" in tar
    rows = re.findall(r'<tr><td class="name">([^<]*)</td><td>([^<]*)</td><td>([^<]*)', tar)
    assert [(n, f) for n, f, _ in rows] == [("app", "mtime"), ("app/main.py", "mtime"), ("app/VERSION", "mtime")]
    assert rows[0][2].strip() == "2023-11-14 22:13:20 UTC"
    assert "3 of 3 entries differ; only metadata differs" in tar
    jar = page.split("app/lib.jar", 1)[1].split('<article class="finding"', 1)[0]
    assert "Entries of the zip archive that differ" in jar and "META-INF/MANIFEST.MF" in jar
    text = visible_text(pages["mixed"])
    assert '{"' not in text and "':" not in text  # no JSON or dict dumps anywhere


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


def test_html_from_the_command_line_escapes_names(capsys, tmp_path):
    html = make_report(capsys, tmp_path)
    assert "2 findings: 2 file differences" in html
    assert "RUN date &gt; /etc/stamp" in html  # escaped, not raw markup
    assert "embedded-timestamp" in html and "Tue Nov 14 22:13:20 UTC 2023" in html
