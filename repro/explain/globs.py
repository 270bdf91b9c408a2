"""Path globs for the cause catalogue and the format matchers.

Paths in findings are normalised (no leading `/` or `./`), so patterns are written the
same way. `*` and `?` stay inside one path segment; `**` crosses segments, and `**/`
also matches nothing, so `**/.npm/_logs/*` matches `root/.npm/_logs/x.log` and
`.npm/_logs/x.log` alike. Everything else is literal (no character classes: the
catalogue does not need them, and literal `[` in paths then needs no escaping).
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(pattern: str, text: str) -> bool:
    """True when `text` matches `pattern` as a whole (see the module docstring)."""
    return _compile(pattern).match(text) is not None


def any_match(patterns: tuple[str, ...], text: str | None) -> bool:
    return text is not None and any(glob_match(p, text) for p in patterns)
