"""Control characters out of every report: what each output format needs to stay valid
and unforgeable when names, labels and file contents come from an attacker.

Paths, history entries, labels, annotations and file contents are taken from images, so
they may hold anything Unicode allows. JSON escapes what it must by itself; the other
formats pass every line (text, Markdown, `repro inspect`), every text node and attribute
(JUnit XML) or the whole page (HTML) through `controls()`:

- C0 and C1 control characters and DEL (ESC starts terminal escape sequences; CR, LF and
  NEL break lines; NUL and most of C0 are not allowed in XML 1.0 at all);
- the Unicode line and paragraph separators (U+2028, U+2029), which some viewers break on;
- the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F,
  U+061C), which reorder what a terminal or browser shows ("Trojan Source");
- U+FFFE and U+FFFF, and lone surrogates, which no UTF-8 file or XML document may hold
  (`repro.diff.finding.printable` has already turned the surrogates of a name that was not
  UTF-8 into `\\xNN`).

Each becomes visible text: `\\x1b`, `\\u202e`, `\\udc80`. Tab is kept (it is harmless
everywhere), and line feed is kept where the format puts it itself (`keep`).
"""

from __future__ import annotations

import re

_UNSAFE = ("\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
           "\ud800-\udfff\ufffe\uffff")
CONTROL = re.compile(f"[{_UNSAFE}]")
# the same, but a line feed may stay (a page's own line breaks)
CONTROL_KEEP_NEWLINES = re.compile(f"[{_UNSAFE.replace(chr(0x0a) + '-', chr(0x0b) + '-')}]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every unsafe character (see the module docstring) written as an escape."""
    pattern = CONTROL_KEEP_NEWLINES if keep_newlines else CONTROL
    return pattern.sub(_visible, text)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._/#+:-]+")


def quoted(name: str) -> str:
    """A short name from an image (a platform: `linux/amd64`) as is when it looks like one,
    else in double quotes, so that it cannot pass for a line of the report's own."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
