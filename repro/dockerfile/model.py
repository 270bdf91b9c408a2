"""A Dockerfile as stages of instructions, read with BuildKit's own parser.

Lines, continuations, comments, heredocs, JSON forms and flags are split by the
`dockerfile` library (PyPI; a binding of BuildKit's Go parser); parser directives
are read here by BuildKit v0.32.2's rules (repro.dockerfile.directives). What this
module adds is the build's structure: the global ARGs, the stages (`FROM ... AS
NAME`, numbered from 0), which stage a `FROM` or a `COPY --from` refers to (by name,
case-insensitive as BuildKit does, or by index), and ONBUILD triggers.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Mapping

import dockerfile as _goparser

from repro.dockerfile.directives import Directive, escape_token, normalized_text, read_directives
from repro.errors import InputError

# instructions that add a layer to the image (WORKDIR only when it is not "/")
LAYER_KEYWORDS = ("RUN", "COPY", "ADD", "WORKDIR")


@dataclass(frozen=True)
class Heredoc:
    name: str         # the terminator word, without quotes
    content: str      # the body as written, each line with its "\n" (`<<-` tabs not yet removed)
    fd: int = 0       # `3<<EOF` feeds file descriptor 3
    chomp: bool = False  # `<<-EOF`: leading tabs are removed from the body and the terminator


@dataclass(frozen=True)
class Instruction:
    """One instruction as BuildKit's parser splits it.

    `args`: the parser's values (the shell form of RUN/CMD is one string, the JSON
    form one string per element; `FROM img AS x` gives ("img", "AS", "x")).
    `flags`: ("--from=build", "--mount=type=secret,id=t", ...). `original`: the
    instruction as written with continuation lines joined. Lines are 1-based.
    `trigger`: what an ONBUILD instruction registers.
    """

    keyword: str
    args: tuple[str, ...]
    flags: tuple[str, ...] = ()
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    heredocs: tuple[Heredoc, ...] = ()
    json: bool = False
    trigger: Instruction | None = None

    def flag(self, name: str) -> str | None:
        """The value of `--NAME=VALUE` (the last one given), or None."""
        value = None
        for f in self.flags:
            key, sep, v = f.partition("=")
            if key == "--" + name:
                value = v if sep else "true"
        return value

    @property
    def from_ref(self) -> str | None:
        """`--from=` of COPY/ADD: a stage name or index, or an image or build context."""
        return self.flag("from") if self.keyword in ("COPY", "ADD") else None

    def text(self) -> str:
        """The instruction on one line, as a report shows it (of a heredoc, its first line)."""
        original = self.original.split("\n", 1)[0] if self.heredocs else self.original
        return " ".join(original.split()) if original else " ".join((self.keyword, *self.flags, *self.args))


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None         # lower case, as BuildKit keys stages; None for an unnamed stage
    base: str                # the FROM image or stage as written (ARGs not expanded)
    platform: str | None     # FROM --platform=..., as written
    from_instruction: Instruction
    instructions: tuple[Instruction, ...]  # after FROM, in order

    @property
    def ref(self) -> str:
        """How a `COPY --from` or a report names this stage: its name, else its index."""
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    directives: tuple[Directive, ...]
    global_args: tuple[Instruction, ...]  # the ARGs before the first FROM
    stages: tuple[Stage, ...]

    @property
    def syntax(self) -> str | None:
        return next((d.value for d in self.directives if d.name == "syntax"), None)

    @property
    def escape(self) -> str:
        return escape_token(self.directives)

    def arg_defaults(self, build_args: Mapping[str, str] | None = None) -> dict[str, str]:
        """The global ARGs' values: their defaults, overridden by `build_args`."""
        values: dict[str, str] = {}
        for arg in self.global_args:
            for item in arg.args:
                key, sep, default = item.partition("=")
                if build_args is not None and key in build_args:
                    values[key] = build_args[key]
                elif sep:
                    values[key] = expand(default, values)
        return values

    def stage(self, ref: str, *, before: int | None = None) -> Stage | None:
        """The stage a FROM or `--from` names: by name (any case) or by index; with
        `before`, only stages defined before that index count (a FROM may name only an
        earlier stage)."""
        candidates = self.stages if before is None else self.stages[:before]
        if ref.isdigit():
            i = int(ref)
            return candidates[i] if i < len(candidates) else None
        low = ref.lower()
        return next((s for s in candidates if s.name == low), None)

    def target(self, name: str | None) -> Stage:
        """The stage `--target NAME` builds (the last one without a name); InputError if none."""
        if not self.stages:
            raise InputError("the Dockerfile has no FROM: no stage to build")
        if name is None:
            return self.stages[-1]
        if name.isdigit() and int(name) < len(self.stages):  # repro's own use: an unnamed stage by index
            return self.stages[int(name)]
        found = next((s for s in self.stages if s.name == name.lower()), None)
        if found is None:
            names = ", ".join(s.name for s in self.stages if s.name) or "none"
            raise InputError(f"target stage {name!r} is not in the Dockerfile (stages: {names})")
        return found

    def base_stage(self, stage: Stage, build_args: Mapping[str, str] | None = None) -> Stage | None:
        """The earlier stage `stage` is built FROM, or None for an image (or scratch)."""
        return self.stage(expand(stage.base, self.arg_defaults(build_args)), before=stage.index)

    def copy_source(self, instruction: Instruction, stage: Stage,
                    build_args: Mapping[str, str] | None = None) -> Stage | None:
        """The stage a `COPY --from` / `ADD --from` reads, or None when it reads the
        context, an image or a named build context."""
        ref = instruction.from_ref
        if ref is None:
            return None
        found = self.stage(expand(ref, self.arg_defaults(build_args)))
        return found if found is not None and found.index != stage.index else None

    def chain(self, stage: Stage, build_args: Mapping[str, str] | None = None) -> list[Stage]:
        """`stage` and the stages it is built FROM, the outermost base first."""
        out = [stage]
        while (base := self.base_stage(out[0], build_args)) is not None and base not in out:
            out.insert(0, base)
        return out

    def layer_steps(self, target: str | None = None,
                    build_args: Mapping[str, str] | None = None) -> list[tuple[Stage, Instruction]]:
        """The instructions that add the layers of the `target` image on top of its base
        image, in order, each with its stage: RUN, COPY, ADD and WORKDIR (not "/") of the
        FROM chain, and ONBUILD triggers of a base stage where the stage built on it runs
        them first (as BuildKit does)."""
        steps: list[tuple[Stage, Instruction]] = []
        pending: list[Instruction] = []
        workdir = "/"
        for st in self.chain(self.target(target), build_args):
            for ins in [*pending, *st.instructions]:
                if ins.keyword == "WORKDIR" and ins.args:
                    workdir = posixpath.normpath(posixpath.join(workdir, ins.args[0]))
                    if workdir != "/":
                        steps.append((st, ins))
                elif ins.keyword in LAYER_KEYWORDS:
                    steps.append((st, ins))
            pending = [i.trigger for i in st.instructions if i.keyword == "ONBUILD" and i.trigger is not None]
        return steps


_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")  # BuildKit's rule, after lower-casing
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, values: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`,
    `${NAME+word}` as BuildKit expands a FROM or `--from`; unknown names are empty."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value = values.get(name)
        op, word = m.group(2), m.group(3) or ""
        if op in (":-", "-"):
            return value if value is not None and (value or op == "-") else word
        if op in (":+", "+"):
            return word if value is not None and (value or op == "+") else ""
        return value or ""

    return _VAR.sub(one, text)


def _chomp(name: str, words: tuple[str, ...]) -> bool:
    return any(re.fullmatch(r"\d*<<-([\"']?)" + re.escape(name) + r"\1", w) for w in words)


def _instruction(cmd: object) -> Instruction:
    keyword = str(cmd.cmd).upper()  # type: ignore[attr-defined]
    heredocs = tuple(Heredoc(h.name, h.content, h.file_descriptor, _chomp(h.name, tuple(  # type: ignore[attr-defined]
        w for v in cmd.value for w in v.split())))  # type: ignore[attr-defined]
        for h in cmd.heredocs)  # type: ignore[attr-defined]
    common = dict(flags=tuple(cmd.flags), original=cmd.original, start_line=cmd.start_line,  # type: ignore[attr-defined]
                  end_line=cmd.end_line, heredocs=heredocs, json=bool(cmd.json))  # type: ignore[attr-defined]
    if keyword == "ONBUILD" and cmd.sub_cmd:  # type: ignore[attr-defined]
        trigger = Instruction(str(cmd.sub_cmd).upper(), tuple(cmd.value),  # type: ignore[attr-defined]
                              **{**common, "original": re.sub(r"(?i)^\s*onbuild\s+", "", common["original"])})
        return Instruction(keyword, (str(cmd.sub_cmd).upper(), *cmd.value), trigger=trigger,  # type: ignore[attr-defined]
                           **common)
    return Instruction(keyword, tuple(cmd.value), **common)  # type: ignore[attr-defined]


def instructions(text: str, name: str = "Dockerfile") -> tuple[tuple[Directive, ...], list[Instruction]]:
    """The parser directives and every instruction, in order, as BuildKit's parser
    reads them (no stage structure, no check that FROM comes first); InputError when
    the parser refuses the text."""
    directives = read_directives(text)
    try:
        commands = _goparser.parse_string(normalized_text(text, directives))
    except _goparser.GoParseError as e:
        raise InputError(f"{name}: {' '.join(str(e).split())}") from None
    return directives, [_instruction(cmd) for cmd in commands]


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text into stages; InputError (naming `name` and the line) when
    BuildKit would refuse it."""
    directives, found = instructions(text, name)
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: tuple[Instruction, list[Instruction]] | None = None

    def close() -> None:
        if current is not None:
            stages.append(_stage(len(stages), *current, name=name))

    for ins in found:
        if ins.keyword == "FROM":
            close()
            current = (ins, [])
        elif current is not None:
            current[1].append(ins)
        elif ins.keyword == "ARG":
            global_args.append(ins)
        else:
            raise InputError(f"{name} line {ins.start_line}: {ins.keyword} before the first FROM "
                             "(only ARG may come before it)")
    close()
    seen: dict[str, int] = {}
    for st in stages:
        if st.name is not None:
            if st.name in seen:
                raise InputError(f"{name} line {st.from_instruction.start_line}: stage name {st.name!r} is "
                                 f"already used by stage {seen[st.name]}")
            seen[st.name] = st.index
    return Dockerfile(directives, tuple(global_args), tuple(stages))


def _stage(index: int, from_ins: Instruction, body: list[Instruction], *, name: str) -> Stage:
    args = from_ins.args
    if len(args) == 1:
        stage_name = None
    elif len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.match(stage_name):
            raise InputError(f"{name} line {from_ins.start_line}: invalid name for build stage: {args[2]!r}, "
                             "name can't start with a number or contain symbols")
    else:
        raise InputError(f"{name} line {from_ins.start_line}: FROM takes IMAGE [AS NAME], not {from_ins.text()!r}")
    return Stage(index, stage_name, args[0], from_ins.flag("platform"), from_ins, tuple(body))


def parse_file(path: str) -> Dockerfile:
    """Parse the Dockerfile at `path` (InputError if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"cannot read Dockerfile {path}: {e.strerror}") from None
    return parse(data.decode("utf-8", errors="replace"), name=path)
