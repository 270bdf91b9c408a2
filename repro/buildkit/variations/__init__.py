"""Variations: what the later builds of a check change, as reprotest does, inside BuildKit.

Build 1 is the control and is never varied. Every other build gets the chosen set:

    realistic (the default)  what really differs between two BuildKit machines: the clock
                             (time, stagger), the CPU count, the kernel release, the
                             memory size, the checkout (build_path, context_mtimes)
    all (`--vary all`)       also what BuildKit itself fixes in the spec it hands runc:
                             time zone, locale, umask, host name, environment, PATH.
                             An image that depends on these is still reproduced by every
                             BuildKit of that version, so a difference only they provoke
                             matters less; `--vary all` is for authors who want more.

One variation = one module in this package (not starting with `_`) that defines
VARIATION, an instance of a ContextVariation, StartVariation or RuntimeVariation
subclass (see _base.py). The registry below finds it; nothing else needs a change.
`python -m repro.buildkit.variations` prints the table docs/variations.md shows.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from typing import Iterable, Sequence

from repro.buildkit.variations import _context, _runtime
from repro.buildkit.variations._base import (CONTEXT, PLACES, RUNTIME, START, ContextVariation, Files, Host,
                                             RuntimeVariation, StartVariation, Variation)
from repro.errors import InputError


def _discover() -> dict[str, Variation]:
    found: list[Variation] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        variation = getattr(module, "VARIATION", None)
        if not isinstance(variation, Variation):
            raise TypeError(f"{module.__name__} defines no VARIATION (every module of {__name__} is one variation)")
        found.append(variation)
    found.sort(key=lambda v: (not v.default, PLACES.index(v.where), v.name))
    return {v.name: v for v in found}


VARIATIONS: dict[str, Variation] = _discover()
DEFAULT: tuple[str, ...] = tuple(n for n, v in VARIATIONS.items() if v.default)
ALL: tuple[str, ...] = tuple(n for n, v in VARIATIONS.items() if v.default or v.strict)
SETS = {"default": DEFAULT, "realistic": DEFAULT, "all": ALL, "none": ()}


@dataclass(frozen=True)
class Selection:
    """The variations every varied build of a check gets, and what the report calls the set."""

    names: tuple[str, ...] = DEFAULT
    label: str = "default"  # default | all | custom | none

    @property
    def strict_only(self) -> tuple[str, ...]:
        """Chosen variations that are not in the realistic default (their findings matter less)."""
        return tuple(n for n in self.names if n not in DEFAULT)

    def for_build(self, index: int) -> BuildVariations | None:
        """Build `index`'s variations (index 0, the control, has none)."""
        return BuildVariations(self.names, index) if index > 0 and self.names else None


NONE = Selection((), "none")


def select(value: Selection | str | bool | Sequence[str] | None) -> Selection:
    """The set `--vary VALUE` / `vary = VALUE` (repro.toml) asks for.

    None or True: the realistic default; False: none. A string is a comma-separated
    list of set names (default, realistic, all, none) and variation names, each
    optionally prefixed: `+NAME` adds to, `-NAME` removes from what comes before
    (starting from the default when the first item has a prefix), as reprotest's
    --vary does: `all,-umask`, `-time`, `+timezone`, `time,kernel`."""
    if isinstance(value, Selection):
        return value
    if value is None or value is True:
        return Selection(DEFAULT, "default")
    if value is False:
        return NONE
    items = [i.strip() for i in (value.split(",") if isinstance(value, str) else value)]
    items = [i for i in items if i]
    if not items:
        raise InputError("--vary needs a list of variations, a set (default, all, none), or use --no-vary")
    chosen: list[str] = list(DEFAULT) if items[0][0] in "+-" else []
    for item in items:
        sign, name = (item[0], item[1:]) if item[0] in "+-" else ("", item)
        names = SETS.get(name) if name in SETS else (name,) if name in VARIATIONS else None
        if names is None:
            known = ", ".join([*SETS, *VARIATIONS])
            hint = " (a build context goes before --vary, or use --vary=LIST)" if os.path.isdir(name) else ""
            raise InputError(f"--vary: unknown variation {name!r}{hint}; known: {known}")
        if sign == "-":
            chosen = [n for n in chosen if n not in names]
        else:
            chosen += [n for n in names if n not in chosen]
    ordered = tuple(n for n in VARIATIONS if n in chosen)
    label = next((k for k in ("none", "default", "all") if ordered == SETS[k]), "custom")
    return Selection(ordered, label)


@dataclass(frozen=True)
class Applied:
    """What one variation did in one build: the record the report shows."""

    name: str
    applied: bool           # it took effect (in at least part of the build)
    value: str              # what the build got ("clock +1d 1h 1m 1s ahead in glibc programs")
    not_applied: str = ""   # why not: wholly (applied False) or where not (applied True)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "applied": self.applied, "value": self.value}
        if self.not_applied:
            out["not_applied"] = self.not_applied
        return out


@dataclass(frozen=True)
class BuildVariations:
    """The variations of one varied build (`index` 1, 2, ...)."""

    names: tuple[str, ...]
    index: int

    def of(self, where: str) -> list[Variation]:
        return [VARIATIONS[n] for n in self.names if VARIATIONS[n].where == where]

    def delay(self) -> float:
        """Seconds after the control's start this build may start (start variations)."""
        return max((v.delay(self.index) for v in self.of(START) if isinstance(v, StartVariation)), default=0.0)

    def context(self, context: str, dockerfile: str, epoch: int, work: str) -> tuple[str, str]:
        """The context and Dockerfile to send: a varied copy under `work` when a context
        variation is chosen, else the originals."""
        chosen = [v for v in self.of(CONTEXT) if isinstance(v, ContextVariation)]
        if not chosen:
            return context, dockerfile
        copy, dockerfile = _context.copy_context(context, dockerfile, work, self.index,
                                                 rename="build_path" in self.names)
        for variation in chosen:
            variation.apply(copy, epoch, self.index)
        return copy, dockerfile

    def runtime_edits(self, host: Host, files_dir: str) -> list[dict]:
        """The runc wrapper's plan: every available runtime variation's edit ops."""
        files = Files(files_dir)
        edits: list[dict] = []
        for v in self.of(RUNTIME):
            if isinstance(v, RuntimeVariation) and v.unavailable(host) is None:
                edits += [{**e, "variation": v.name} for e in v.edits(host, self.index, files)]
        return edits

    def records(self, host: Host, run_steps_unreachable: str | None, log: list[dict]) -> tuple[Applied, ...]:
        """What each variation did, from the runc wrapper's `log` (one record per RUN
        step); `run_steps_unreachable`: why runtime variations could not be tried at all."""
        out = []
        for name in self.names:
            v = VARIATIONS[name]
            value = v.value(self.index)
            why = v.unavailable(host)
            if why:
                out.append(Applied(name, False, value, why))
            elif v.where != RUNTIME:
                out.append(Applied(name, True, value))
            elif run_steps_unreachable:
                out.append(Applied(name, False, value, run_steps_unreachable))
            else:
                out.append(_from_log(name, value, log))
        return tuple(out)


def _from_log(name: str, value: str, log: list[dict]) -> Applied:
    steps = len(log)
    done = sum(1 for r in log if name in (r.get("applied") or ()))
    reasons: dict[str, int] = {}
    for r in log:
        if name not in (r.get("applied") or ()):
            why = (r.get("skipped") or {}).get(name) or (f"wrapper error: {r['error']}" if r.get("error") else "")
            reasons[why or "not applied"] = reasons.get(why or "not applied", 0) + 1
    said = "; ".join(f"{why} ({n} of {steps})" if len(reasons) > 1 else why for why, n in reasons.items())
    if steps == 0:
        return Applied(name, False, value, "no RUN step ran")
    if done == steps:
        return Applied(name, True, value)
    if done == 0:
        where = "in the only RUN step" if steps == 1 else f"in none of the {steps} RUN steps"
        return Applied(name, False, value, f"{where}: {said}")
    return Applied(name, True, value, f"not in {steps - done} of {steps} RUN steps: {said}")


def table() -> list[dict[str, str]]:
    """One row per variation, for docs/variations.md and --help."""
    return [{"name": v.name, "reprotest": v.reprotest or "—", "changes": v.changes, "where": v.where,
             "needs": v.needs or "—", "default": "yes" if v.default else ("--vary all" if v.strict else "opt-in")}
            for v in VARIATIONS.values()]


def describe(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


__all__ = ["ALL", "Applied", "BuildVariations", "DEFAULT", "Host", "NONE", "Selection", "VARIATIONS", "Variation",
           "describe", "select", "table"]

# used by the orchestrator and the daemon
install_wrapper = _runtime.install
write_plan, clear_plan, read_log, FILES = _runtime.write_plan, _runtime.clear_plan, _runtime.read_log, _runtime.FILES
