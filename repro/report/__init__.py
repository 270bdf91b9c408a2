"""Render a report document (repro/report/document.py) in the format a reader wants.

RENDERERS is the one table of formats (`--format` offers its keys). Each renderer module is
imported when its format is first rendered, so `repro --help` and a command that writes
JSON do not load the HTML or Markdown code: add a format as one row here, naming the
module and function that render it.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from repro.report.document import SCHEMA, build_report  # noqa: F401
    from repro.report.html import render_html  # noqa: F401
    from repro.report.junit import render_junit  # noqa: F401
    from repro.report.markdown import render_markdown  # noqa: F401
    from repro.report.text import render_text  # noqa: F401


def render_json(doc: Mapping[str, Any]) -> str:
    # strict JSON (RFC 8259): build_report has made every value encodable and finite
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class _Lazy:
    """A renderer imported on its first call."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, doc: Mapping[str, Any]) -> str:
        return getattr(importlib.import_module(self.module), self.name)(doc)

    def __repr__(self) -> str:
        return f"<renderer {self.module}.{self.name}>"


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "text": _Lazy("repro.report.text", "render_text"),
    "json": render_json,
    "markdown": _Lazy("repro.report.markdown", "render_markdown"),
    "html": _Lazy("repro.report.html", "render_html"),
    "junit": _Lazy("repro.report.junit", "render_junit"),
}

# the names this package has always exported, imported on first use (PEP 562)
_EXPORTS = {"SCHEMA": "repro.report.document", "build_report": "repro.report.document",
            "render_text": "repro.report.text", "render_markdown": "repro.report.markdown",
            "render_html": "repro.report.html", "render_junit": "repro.report.junit"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'repro.report' has no attribute {name!r}")


def render(doc: Mapping[str, Any], fmt: str) -> str:
    return RENDERERS[fmt](doc)


__all__ = ["RENDERERS", "SCHEMA", "build_report", "render", "render_html", "render_json", "render_junit", "render_markdown", "render_text"]
