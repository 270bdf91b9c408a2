"""Evidence from the instruction that made a file: which part of a RUN command is to blame.

A RUN instruction is split into shell segments at top-level `&&`, `||`, `;` and line
ends (quotes, `$(...)` and backticks are respected; pipes stay inside a segment, since
`head -c 8 /dev/urandom | od -x > f` blames its first half for the file its second half
writes). A segment *names* a file when it holds the file's absolute path, a word ending
in `/` + its base name, the base name as a word, or a word with shell substitutions
(`run-$(date +%s).log`, `$HOME/x.$$`) that matches the base name once each substitution
is read as "anything".

The catalogue's `Command` rules (regular expressions over one segment) say which
commands can cause what; `matches` finds, for one file, the segments that match a rule
(`names_file` tells whether the segment also names the file: then the evidence is
specific to that file, else it only says the command ran in the same step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_INSTRUCTION = 64 << 10  # longer instructions are cut: evidence only, never a verdict
MAX_QUOTE = 120


@lru_cache(maxsize=256)
def segments(instruction: str | None) -> tuple[str, ...]:
    """The shell segments of a RUN instruction (empty for COPY, ADD and the rest)."""
    if not instruction:
        return ()
    text = instruction.strip()
    if not text.startswith("RUN"):
        return ()
    text = re.sub(r"^RUN(\s+--[a-z-]+=\S+)*\s*", "", text)[:MAX_INSTRUCTION]
    out: list[str] = []
    cur: list[str] = []
    depth = 0  # $( ... ) nesting
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"' and i + 1 < len(text):
                cur.append(text[i : i + 2])
                i += 2
                continue
            if c == quote:
                quote = ""
            cur.append(c)
            i += 1
            continue
        if c == "\\" and i + 1 < len(text):
            if text[i + 1] == "\n":  # a continued line
                cur.append(" ")
            else:
                cur.append(text[i : i + 2])
            i += 2
            continue
        if c in "'\"`" and not (c == "`" and depth):
            quote = c
            cur.append(c)
            i += 1
            continue
        if text.startswith("$(", i):
            depth += 1
            cur.append("$(")
            i += 2
            continue
        if c == ")" and depth:
            depth -= 1
        elif depth == 0 and (text.startswith("&&", i) or text.startswith("||", i)):
            out.append("".join(cur))
            cur = []
            i += 2
            continue
        elif depth == 0 and c in ";\n":
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    out.append("".join(cur))
    return tuple(s.strip() for s in out if s.strip() and s.strip() not in ("set -e", "set -eux", "true"))


_SUBST = re.compile(r"\$\([^)]*\)|`[^`]*`|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\$|\$[0-9#?!*@-]")
_GLOB_CHARS = re.compile(r"[*?\[]")


_TEMPLATE = re.compile(r"X{3,}$")  # mktemp's template: as many random characters


@lru_cache(maxsize=4096)
def _as_pattern(name: str) -> re.Pattern[str] | None:
    """One path component with substitutions, globs or a mktemp template as a regex,
    or None when it is plain."""
    if not (_SUBST.search(name) or _GLOB_CHARS.search(name) or _TEMPLATE.search(name)):
        return None
    out, pos = [], 0
    for m in _SUBST.finditer(name):
        out.append(_glob_to_re(name[pos : m.start()]))
        out.append(".+")
        pos = m.end()
    tail = name[pos:]
    t = _TEMPLATE.search(tail)
    if t:
        out.append(_glob_to_re(tail[: t.start()]) + "[A-Za-z0-9]{%d}" % len(t.group()))
    else:
        out.append(_glob_to_re(tail))
    rx = "".join(out)
    if not rx.replace(".+", "").replace(".*", ""):
        return None  # nothing literal left: would name every file
    try:
        return re.compile(rx + r"\Z")
    except re.error:
        return None


def _glob_to_re(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _component_matches(word_part: str, name: str) -> bool:
    if word_part == name:
        return True
    rx = _as_pattern(word_part)
    return rx is not None and rx.match(name) is not None


EXACT, TREE, NONE = 2, 1, 0


def names_file(segment: str, path: str | None) -> int:
    """How a shell segment names the file at `path`: EXACT (its path, its base name, or
    a word whose last component matches the base name), TREE (an absolute word that
    matches one of its parent directories: `mktemp -d /opt/b.XXXXXX`, `-C /opt/app`), or
    NONE."""
    if not path:
        return NONE
    parts = path.split("/")
    base = parts[-1]
    if not base:
        return NONE
    stems = {base}
    for ext in (".gz", ".xz", ".bz2", ".zst", ".pyc"):
        if base.endswith(ext):
            stems.add(base[: -len(ext)])
    if ".cpython-" in base:  # __pycache__/m.cpython-311.pyc is made from m.py
        stems.add(base.split(".cpython-")[0] + ".py")
    best = NONE
    for word in shell_words(segment):
        w = word.rstrip("/")
        if not w or w in (".", "/"):
            continue
        wparts = w.split("/")
        last = wparts[-1]
        if last in stems or _component_matches(last, base):
            dirs = parts[:-1]
            if last != base and dirs and dirs[-1] == "__pycache__":
                dirs = dirs[:-1]  # m.py compiles to __pycache__/m.cpython-311.pyc beside it
            if len(wparts) == 1 or _tail_matches(wparts[:-1], dirs):
                return EXACT
        if w.startswith("/") and len(wparts) - 1 < len(parts):
            if all(_component_matches(x, y) for x, y in zip(wparts[1:], parts)):
                best = TREE
    return best


def _tail_matches(word_dirs: list[str], path_dirs: list[str]) -> bool:
    """The directories a word names (relative words: any) agree with the path's."""
    if not word_dirs or word_dirs == [""]:
        return True  # "/name" or "name"
    if word_dirs[0] != "":
        return True  # relative: resolved against a WORKDIR we do not track
    want = word_dirs[1:]
    return len(want) == len(path_dirs) and all(_component_matches(x, y) for x, y in zip(want, path_dirs))


def shell_words(segment: str) -> list[str]:
    """Words of a segment, split at blanks, redirections, pipes and `=` outside `$(...)`,
    backticks and `${...}`; quotes are dropped (a quoted path is still a path)."""
    words: list[str] = []
    cur: list[str] = []
    depth = 0
    i = 0
    while i < len(segment):
        c = segment[i]
        if segment.startswith("$(", i) or segment.startswith("${", i):
            depth += 1
            cur.append(segment[i : i + 2])
            i += 2
            continue
        if c in ")}" and depth:
            depth -= 1
        elif c == "`":
            end = segment.find("`", i + 1)
            end = len(segment) - 1 if end < 0 else end
            cur.append(segment[i : end + 1])
            i = end + 1
            continue
        elif c in "\"'":
            i += 1
            continue
        elif depth == 0 and (c.isspace() or c in "<>|;&="):
            if cur:
                words.append("".join(cur))
                cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def quote(segment: str) -> str:
    """A segment as the hint quotes it: one line, at most MAX_QUOTE characters."""
    one = " ".join(segment.split())
    return one if len(one) <= MAX_QUOTE else one[: MAX_QUOTE - 1] + "…"


@dataclass(frozen=True)
class Blame:
    """One segment of the instruction a command rule matched."""

    segment: str
    naming: int  # how the segment names the file: EXACT, TREE or NONE

    @property
    def specific(self) -> bool:
        return self.naming > NONE


def find(pattern: re.Pattern[str], instruction: str | None, path: str | None) -> list[Blame]:
    """Segments of `instruction` matching `pattern`, the ones naming `path` best first."""
    hits = [Blame(s, names_file(s, path)) for s in segments(instruction) if pattern.search(s)]
    hits.sort(key=lambda b: -b.naming)
    return hits
