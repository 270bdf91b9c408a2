"""Attribution by experiment (`repro check --bisect`): which variation provokes each
finding, found the way reprotest's auto mode does it, by building again with one
variation at a time.

When the control and the varied build differ, one round of further builds starts
together (repro.buildkit.orchestrator's start gate):

    reference     no variation            the others are compared with it
    reference-2   no variation            what differs from the reference differs with no
                                          variation at all (randomness, the network, the daemon)
    <variation>   that one variation      one build per variation the varied build applied

A finding is attributed to every variation whose build reproduces it against the
reference, or to no variation (`()`) when the two references already differ there. A
finding no single variation reproduces gets a second round, `reference` against a build
with all those variations together: if that reproduces it, it needs them combined;
if not, it did not come back at all and counts as differing with no variation.

This module builds and counts; comparing two images is the caller's (`compare`), so the
package still knows nothing about diffing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Hashable, Iterable

from repro.buildkit.orchestrator import BuildResult, BuildSession
from repro.buildkit.spec import BuildSpec
from repro.buildkit.variations import BuildVariations

Compare = Callable[[str, str], Iterable[Any]]  # (image A, image B) -> findings


def finding_key(f: Any) -> Hashable:
    """What makes two findings of two comparisons the same difference (a Finding, or its JSON)."""
    get = (lambda k: f.get(k)) if isinstance(f, dict) else (lambda k: getattr(f, k, None))
    detail = get("detail") or {}
    return (get("kind"), get("field"), get("platform"), get("path"), detail.get("key"), detail.get("index"))


@dataclass(frozen=True)
class Experiment:
    variations: tuple[str, ...]   # () for the second reference
    image: str                    # the build's OCI tarball
    findings: int                 # how many findings it has against the reference
    reproduced: int               # how many of the check's findings it reproduced


@dataclass(frozen=True)
class Attribution:
    provoked_by: dict[Hashable, tuple[str, ...]]   # finding key -> variations (() = with no variation)
    candidates: tuple[str, ...]                      # the variations tried one at a time
    builds: int                                      # extra builds it cost
    seconds: float                                   # wall time of those builds and comparisons
    experiments: tuple[Experiment, ...] = ()
    combined: tuple[Hashable, ...] = ()              # keys only all candidates together reproduced
    not_reproduced: tuple[Hashable, ...] = ()        # keys no experiment reproduced
    results: list[BuildResult] = field(default_factory=list)

    def of(self, finding: Any) -> tuple[str, ...] | None:
        return self.provoked_by.get(finding_key(finding))

    def to_json(self) -> dict[str, Any]:
        """The report's `build.bisect` object (docs/report-format.md)."""
        return {"candidates": list(self.candidates), "builds": self.builds, "seconds": round(self.seconds, 1),
                "experiments": [{"variations": list(e.variations) or None, "findings": e.findings,
                                 "reproduced": e.reproduced} for e in self.experiments],
                "combined": len(self.combined), "not_reproduced": len(self.not_reproduced)}


def bisect(spec: BuildSpec, findings: Iterable[Any], candidates: Iterable[str], out_dir: str, compare: Compare, *,
           addrs: tuple[str, ...] = (), builders: tuple[str, ...] = (), progress: str = "quiet",
           stderr: IO[str] | None = None, tls: Any = None) -> Attribution:
    """Attribute `findings` (of the check's control against its varied build) to the
    `candidates` (the variations that build applied) by further builds into `out_dir`."""
    started = time.monotonic()
    keys = list(dict.fromkeys(finding_key(f) for f in findings))
    names = tuple(dict.fromkeys(candidates))
    where = {"addrs": addrs, "builders": builders, "progress": progress, "stderr": stderr, "tls": tls}
    results = first_round(spec, names, out_dir, **where)
    ref = results[0].path
    noise = {finding_key(f) for f in compare(ref, results[1].path)}
    found = {name: {finding_key(f) for f in compare(ref, r.path)} for name, r in zip(names, results[2:])}
    experiments = [Experiment((), results[1].path, len(noise), len(noise & set(keys)))]
    experiments += [Experiment((n,), r.path, len(found[n]), len(found[n] & set(keys)))
                    for n, r in zip(names, results[2:])]
    provoked, open_keys = attribute(keys, noise, found)
    combined: list[Hashable] = []
    if open_keys and len(names) > 1:  # only together, or not at all?
        more = _round(spec, [None, BuildVariations(names, 1)], ["reference", "all"], os.path.join(out_dir, "round-2"),
                      **where)
        together = {finding_key(f) for f in compare(more[0].path, more[1].path)}
        experiments.append(Experiment(names, more[1].path, len(together), len(together & set(open_keys))))
        results += more
        combined = [k for k in open_keys if k in together]
    for k in open_keys:
        provoked[k] = names if k in combined else ()
    return Attribution(provoked, names, len(results), time.monotonic() - started, tuple(experiments),
                       tuple(combined), tuple(k for k in open_keys if k not in combined), results)


def first_round(spec: BuildSpec, names: tuple[str, ...], out_dir: str, **where: Any) -> list[BuildResult]:
    """The first round's builds, started together: reference, reference-2, then one build
    per variation in `names` (with that variation only). `where`: addrs, builders,
    progress, stderr, tls (as for BuildSession)."""
    plans: list[BuildVariations | None] = [None, None, *(BuildVariations((v,), 1) for v in names)]
    labels = ["reference", "reference-2", *names]
    return _round(spec, plans, labels, os.path.join(out_dir, "round-1"), **where)


def attribute(keys: list[Hashable], noise: set[Hashable],
              found: dict[str, set[Hashable]]) -> tuple[dict[Hashable, tuple[str, ...]], list[Hashable]]:
    """The first round's verdict: a key the two references already differ in differs with no
    variation (`()`); else it is provoked by every variation whose build reproduced it.
    Returns those, and the keys no build reproduced (in the order given)."""
    provoked: dict[Hashable, tuple[str, ...]] = {}
    open_keys = []
    for k in keys:
        if k in noise:
            provoked[k] = ()
        elif any(k in found[n] for n in found):
            provoked[k] = tuple(n for n in found if k in found[n])
        else:
            open_keys.append(k)
    return provoked, open_keys


def _round(spec: BuildSpec, plans: list[BuildVariations | None], labels: list[str], out_dir: str, *,
           addrs: tuple[str, ...] = (), builders: tuple[str, ...] = (), progress: str = "quiet",
           stderr: IO[str] | None = None, tls: Any = None) -> list[BuildResult]:
    """Build once per plan, all starting together, into out_dir/<label>.tar."""
    with BuildSession(spec, len(plans), out_dir, addrs=addrs, builders=builders, plans=plans,
                      names=[f"bisect-{label}" for label in labels], progress=progress, stderr=stderr,
                      lockstep=True, tls=tls) as session:
        return session.run()
