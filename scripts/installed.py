"""Exit 0 when repro is installed from ROOT and every requirement ROOT/pyproject.toml
declares for this interpreter is met (those of EXTRA too); else print what is missing and
exit 1. Used by scripts/lib.sh (pip_install_repro) to skip `pip install` when nothing is to
do. Run it from another directory (lib.sh runs it from /), so that `import repro` finds the
installed package, not the current directory's.

    python3 scripts/installed.py ROOT [EXTRA]

A requirement whose environment marker is false here (isal where it has no wheel) is not
required; a present version outside the requirement's range counts as missing.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
import tomllib

try:
    from packaging.requirements import Requirement
except ImportError:  # pip always carries it
    from pip._vendor.packaging.requirements import Requirement


def missing(project: dict, extra: str = "") -> list[str]:
    """The requirements of `project` (pyproject's [project] table) not met here."""
    specs = list(project.get("dependencies", []))
    if extra:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    out = []
    for spec in specs:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        try:
            version = md.version(req.name)
        except md.PackageNotFoundError:
            out.append(spec)
            continue
        if not req.specifier.contains(version, prereleases=True):
            out.append(f"{spec} (found {version})")
    return out


def installed_from(root: str) -> bool:
    try:
        import repro
    except ImportError:
        return False
    return os.path.dirname(os.path.dirname(os.path.abspath(repro.__file__))) == os.path.abspath(root)


def main(argv: list[str]) -> int:
    root, extra = argv[0], (argv[1] if len(argv) > 1 else "")
    if not installed_from(root):
        print(f"repro is not installed from {root}", file=sys.stderr)
        return 1
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        gaps = missing(tomllib.load(f)["project"], extra)
    for spec in gaps:
        print(f"missing: {spec}", file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
