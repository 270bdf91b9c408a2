"""A bounded line diff, fast on any input.

difflib's SequenceMatcher is quadratic on files with many scattered changes, and a report
only shows the first few hunks anyway. This diff walks both sides in step; at a mismatch
it looks ahead at most WINDOW lines on each side for the nearest line they share (smallest
sum of skipped lines) and resumes there. With no shared line in the window, the rest is one
hunk. The common suffix is set aside first, so an insertion near the end stays small.
The result is a valid diff (applying it gives b), not always the shortest one.
"""

from __future__ import annotations

from typing import Iterator, Sequence

WINDOW = 256

Hunk = tuple[int, int, int, int]  # a[i1:i2] is replaced by b[j1:j2]


def hunks(a: Sequence[bytes | str], b: Sequence[bytes | str], limit: int) -> Iterator[Hunk]:
    """At most `limit` hunks where `a` and `b` differ, in order."""
    s = 0
    while s < len(a) and s < len(b) and a[-1 - s] == b[-1 - s]:
        s += 1
    na, nb = len(a) - s, len(b) - s
    i = j = n = 0
    while (i < na or j < nb) and n < limit:
        if i < na and j < nb and a[i] == b[j]:
            i += 1
            j += 1
            continue
        first_in_b: dict[bytes | str, int] = {}
        for dj in range(min(WINDOW, nb - j)):
            first_in_b.setdefault(b[j + dj], dj)
        best: tuple[int, int] | None = None
        for di in range(min(WINDOW, na - i)):
            if best is not None and di >= best[0] + best[1]:
                break
            dj = first_in_b.get(a[i + di])
            if dj is not None and (best is None or di + dj < best[0] + best[1]):
                best = (di, dj)
        if best is None:
            yield i, na, j, nb
            return
        yield i, i + best[0], j, j + best[1]
        n += 1
        i, j = i + best[0], j + best[1]


def unified(a: Sequence[str], b: Sequence[str], name_a: str, name_b: str,
            max_lines: int, max_bytes: int, context: int = 1) -> tuple[str, bool]:
    """A unified diff (lines keep their ends) of at most max_lines lines and max_bytes
    characters; True when it was cut."""
    groups: list[list[Hunk]] = []
    for h in hunks(a, b, max_lines + 1):
        if groups and h[0] - groups[-1][-1][1] <= 2 * context:
            groups[-1].append(h)
        else:
            groups.append([h])
    out = [f"--- {name_a}\n", f"+++ {name_b}\n"]
    size = len(out[0]) + len(out[1])
    for group in groups:
        i1, j1 = max(group[0][0] - context, 0), max(group[0][2] - context, 0)
        i2, j2 = min(group[-1][1] + context, len(a)), min(group[-1][3] + context, len(b))
        body: list[str] = []
        pi = i1
        for h in group:
            body += [" " + x for x in a[pi : h[0]]]
            body += ["-" + x for x in a[h[0] : h[1]]]
            body += ["+" + x for x in b[h[2] : h[3]]]
            pi = h[1]
        body += [" " + x for x in a[pi:i2]]
        lines = [f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n"]
        for line in body:
            lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        for line in lines:
            if len(out) >= max_lines or size + len(line) > max_bytes:
                return "".join(out), True
            out.append(line)
            size += len(line)
    return "".join(out), False


def _range(lo: int, hi: int) -> str:
    n = hi - lo
    return f"{lo + 1 if n else lo},{n}" if n != 1 else f"{lo + 1}"
