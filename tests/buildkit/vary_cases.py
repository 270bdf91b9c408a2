"""One variation's test case, run for real: its testdata context (testdata/contexts/vary-NAME)
is reproducible without the variation, caught with it, and attributed to it by --bisect.

A plain module (no pytest), so that the rootless tests can run the same case as an
unprivileged user: `python3 -c "from tests.buildkit.vary_cases import main; main()" ARGS`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

from repro.buildkit import BuildSpec, build_many
from repro.buildkit.bisect import bisect
from repro.buildkit.variations import DEFAULT, VARIATIONS, select

EPOCH = 1700000000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTEXTS = os.path.join(ROOT, "testdata", "contexts")


def without(name: str) -> str:
    """The set a context must be reproducible under: the realistic default without `name`
    (for a strict-only variation, the default itself)."""
    return ",".join(n for n in DEFAULT if n != name) or "none"


def compare(a: str, b: str) -> list:
    from repro.diff import DiffOptions, diff_images
    from repro.oci import open_image

    with open_image(a) as image_a, open_image(b) as image_b:
        return list(diff_images(image_a, image_b, DiffOptions()).findings)


def fresh_copy(name: str, work: str) -> str:
    """testdata/contexts/vary-NAME copied with fresh mtimes (a new checkout: newer than the epoch)."""
    dst = os.path.join(work, f"vary-{name}")
    shutil.copytree(os.path.join(CONTEXTS, f"vary-{name}"), dst)
    now = time.time()
    for dirpath, dirnames, filenames in os.walk(dst):
        for entry in dirnames + filenames:
            os.utime(os.path.join(dirpath, entry), (now, now))
    return dst


def run_case(name: str, base: str, work: str) -> dict:
    """Build vary-NAME twice without the variation, twice with only it, then bisect what
    differs. Returns what a test asserts on (JSON-ready)."""
    assert name in VARIATIONS, name
    spec = BuildSpec(context=fresh_copy(name, work), source_date_epoch=EPOCH, build_contexts=(base,))
    plain = build_many(spec, 2, os.path.join(work, "without"), vary=select(without(name)), progress="quiet")
    plain_findings = compare(plain[0].path, plain[1].path)
    varied = build_many(spec, 2, os.path.join(work, "with"), vary=select(name), progress="quiet")
    findings = compare(varied[0].path, varied[1].path)
    out = {"without": [(f.path, f.field) for f in plain_findings],
           "with": [(f.path, f.field) for f in findings],
           "applied": [a.to_json() for a in varied[1].variations],
           "started_gap": round(varied[1].started - varied[0].started, 2)}
    if findings:
        att = bisect(spec, findings, [name], os.path.join(work, "bisect"), compare)
        out["provoked_by"] = {f"{f.path}:{f.field}": list(att.of(f) or ()) for f in findings}
        out["bisect_builds"] = att.builds
    return out


def main() -> None:
    name, base, work = sys.argv[1:4]
    print(json.dumps(run_case(name, base, work)))


if __name__ == "__main__":
    main()
