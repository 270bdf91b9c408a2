"""Parser directives (`# syntax=`, `# check=`, `# escape=`), read by BuildKit v0.32.2's rules.

The rules, from BuildKit's `frontend/dockerfile/parser/directives.go`:
- a byte-order mark at the start is dropped;
- directives are read from the top; the first line that is not `#` followed by
  `KEY=VALUE` with a known key (syntax, check, escape; any case) ends them, and so
  does an empty line or an instruction (a later `# escape=` is a plain comment);
- a key given twice is an error; `escape` must be a backslash or a backtick.

The Python `dockerfile` library (BuildKit's own Go parser, an older release) knows
`syntax` and `escape` but not `check`, so a `# check=` line would end its directives
early. `normalized_text` hands it the Dockerfile with the directive lines replaced
(the line count kept) so that it applies exactly the escape token read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from repro.errors import InputError

KNOWN = ("syntax", "check", "escape")
BOM = "\ufeff"
# Go's regexp `\s` is ASCII whitespace only
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")


@dataclass(frozen=True)
class Directive:
    name: str   # lower case: syntax | check | escape
    value: str  # as written, surrounding whitespace removed
    line: int   # 1-based


def read_directives(text: str) -> tuple[Directive, ...]:
    """The parser directives at the top of a Dockerfile; InputError for a repeated key
    or a bad escape token (BuildKit refuses both)."""
    if text.startswith(BOM):
        text = text[len(BOM):]
    found: list[Directive] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r").lstrip()
        if not line.startswith("#"):
            break
        m = _DIRECTIVE.match(line[1:].lstrip())
        if not m or m.group(1).lower() not in KNOWN:
            break
        key = m.group(1).lower()
        if key in seen:
            raise InputError(f"Dockerfile line {number}: only one {key} parser directive can be used")
        seen.add(key)
        value = m.group(2)
        if key == "escape" and value not in ("\\", "`"):
            raise InputError(f"Dockerfile line {number}: invalid escape token {value!r} does not match ` or \\")
        found.append(Directive(key, value, number))
    return tuple(found)


def escape_token(directives: tuple[Directive, ...]) -> str:
    return next((d.value for d in directives if d.name == "escape"), "\\")


def normalized_text(text: str, directives: tuple[Directive, ...]) -> str:
    """`text` without its BOM, with the directive lines blanked to `#` and, when an
    escape token was set, line 1 saying so: what the Go parser needs to apply exactly
    these directives. Line numbers are unchanged."""
    if text.startswith(BOM):
        text = text[len(BOM):]
    if not directives:
        return text
    lines = text.split("\n")  # as Go's line scanner: only "\n" ends a line
    for d in directives:
        lines[d.line - 1] = "#"
    escape = next((d for d in directives if d.name == "escape"), None)
    if escape is not None:
        lines[0] = f"# escape={escape.value}"
    return "\n".join(lines)
