"""One variation's test case, run for real: its testdata context (testdata/contexts/vary-NAME)
is reproducible without the variation, caught with it, and attributed to it by --bisect.

A plain module (no pytest), so that the rootless tests can run a whole case as an
unprivileged user, with that user's interpreter (tests/buildkit_fixtures.py: user_python).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

from repro.buildkit import BuildSpec, build_many
from repro.buildkit.bisect import attribute, finding_key, first_round
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


def build_case(name: str, base: str, work: str) -> dict:
    """The builds of one case: twice without the variation, twice with only it, and
    bisect's first round for it. Returns their images and records (JSON-ready)."""
    assert name in VARIATIONS, name
    spec = BuildSpec(context=fresh_copy(name, work), source_date_epoch=EPOCH, build_contexts=(base,))
    plain = build_many(spec, 2, os.path.join(work, "without"), vary=select(without(name)), progress="quiet")
    varied = build_many(spec, 2, os.path.join(work, "with"), vary=select(name), progress="quiet")
    bisected = first_round(spec, (name,), os.path.join(work, "bisect"))
    return {"without": [r.path for r in plain], "with": [r.path for r in varied],
            "bisect": [r.path for r in bisected], "applied": [a.to_json() for a in varied[1].variations],
            "started_gap": round(varied[1].started - varied[0].started, 2)}


def judge_case(name: str, built: dict) -> dict:
    """Compare what build_case built: what differs without, with, and bisect's verdict."""
    plain_findings = compare(*built["without"])
    findings = compare(*built["with"])
    ref, ref2, alone = built["bisect"]
    provoked, open_keys = attribute([finding_key(f) for f in findings],
                                    {finding_key(f) for f in compare(ref, ref2)},
                                    {name: {finding_key(f) for f in compare(ref, alone)}})
    return {"without": [(f.path, f.field) for f in plain_findings],
            "with": [(f.path, f.field) for f in findings],
            "provoked_by": {f"{f.path}:{f.field}": list(provoked.get(finding_key(f), ["<not reproduced>"]))
                            for f in findings},
            "bisect_builds": len(built["bisect"]), "applied": built["applied"], "started_gap": built["started_gap"]}


def run_case(name: str, base: str, work: str) -> dict:
    return judge_case(name, build_case(name, base, work))


def main() -> None:
    """As another user (rootless daemons): only the builds; the caller judges them."""
    name, base, work = sys.argv[1:4]
    print(json.dumps(build_case(name, base, work)))


if __name__ == "__main__":
    main()
