"""Render a report document (repro/report/document.py) in the format a reader wants."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from repro.report.document import SCHEMA, build_report
from repro.report.html import render_html
from repro.report.junit import render_junit
from repro.report.markdown import render_markdown
from repro.report.text import render_text


def render_json(doc: Mapping[str, Any]) -> str:
    # strict JSON (RFC 8259): build_report has made every value encodable and finite
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
    "junit": render_junit,
}


def render(doc: Mapping[str, Any], fmt: str) -> str:
    return RENDERERS[fmt](doc)


__all__ = ["RENDERERS", "SCHEMA", "build_report", "render", "render_html", "render_json", "render_junit", "render_markdown", "render_text"]
