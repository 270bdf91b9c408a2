"""Which Dockerfile instruction made which layer, and where a `COPY --from` file came from.

An image's config history says `COPY /out/ /usr/share/app/` for a `COPY --from=builder
/out/ /usr/share/app/` (BuildKit drops `--from` from the history): the Dockerfile is
what tells the two apart. The layers a Dockerfile adds are the last layers of the
image, one per RUN/COPY/ADD/WORKDIR step of the target's FROM chain
(`Dockerfile.layer_steps`), so they are matched from the end; a step is only trusted
when the history entry of its layer names the same instruction keyword.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from repro.dockerfile.model import Dockerfile, Instruction, Stage


@dataclass(frozen=True)
class LayerStep:
    layer: int                # 0-based index in the manifest's layers
    stage: Stage
    instruction: Instruction
    workdir: str = "/"        # the stage's WORKDIR when the step ran (relative COPY destinations)


def _created_by_keyword(entry: Any) -> str | None:
    from repro.oci.history import clean_instruction

    created_by = entry.get("created_by") if isinstance(entry, Mapping) else None
    if not isinstance(created_by, str):
        return None
    words = clean_instruction(created_by).split(None, 1)
    return words[0].upper() if words else None


def match_layers(df: Dockerfile, history: Any, layer_count: int, *, target: str | None = None,
                 build_args: Mapping[str, str] | None = None) -> dict[int, LayerStep]:
    """Layer index -> the Dockerfile step that made it, for the layers that can be told
    for sure: matched from the last layer backwards while the history keyword agrees."""
    steps = df.layer_steps(target, build_args)
    entries = [h for h in history if isinstance(h, Mapping) and h.get("empty_layer") is not True] \
        if isinstance(history, Sequence) and not isinstance(history, (str, bytes)) else []
    if len(entries) != layer_count:  # history that does not describe the layers says nothing
        entries = []
    workdirs = _workdirs(df, target, build_args)
    out: dict[int, LayerStep] = {}
    for k in range(1, min(len(steps), layer_count) + 1):
        stage, ins = steps[-k]
        layer = layer_count - k
        if entries and _created_by_keyword(entries[layer]) != ins.keyword:
            break
        out[layer] = LayerStep(layer, stage, ins, workdirs.get(id(ins), "/"))
    return out


def _workdirs(df: Dockerfile, target: str | None, build_args: Mapping[str, str] | None) -> dict[int, str]:
    """id(instruction) -> the WORKDIR in effect when it runs, along the target's chain."""
    out: dict[int, str] = {}
    workdir = "/"
    for st in df.chain(df.target(target), build_args):
        for ins in st.instructions:
            out[id(ins)] = workdir
            if ins.keyword == "WORKDIR" and ins.args:
                workdir = posixpath.normpath(posixpath.join(workdir, ins.args[0]))
    return out


def _clean(path: str) -> str:
    return posixpath.normpath("/" + path).lstrip("/")


def source_paths(step: LayerStep, path: str) -> list[str]:
    """Where in the source stage the file `path` (no leading "/") of a `COPY --from`
    layer came from: the candidate paths (no leading "/"). Empty when `path` is not
    under the instruction's destination."""
    ins = step.instruction
    words = [a for a in ins.args if not a.startswith("<<")]
    if ins.json or len(words) < 2:
        return []
    *sources, dest = words
    dest_dir = dest.endswith("/") or len(sources) > 1
    dest = _clean(posixpath.join(step.workdir, dest))
    path = _clean(path)
    found: list[str] = []
    for src in sources:
        src_dir = src.endswith("/") or src.endswith("/.")
        src = _clean(src)  # a --from source is relative to the stage's root
        base = posixpath.basename(src)
        if path == dest and not dest_dir:
            found.append(src)  # COPY /out/x /y: /y is /out/x
        if dest == "" or path.startswith(dest + "/"):
            rel = path[len(dest):].lstrip("/")
            if any(ch in src for ch in "*?["):
                first, _, rest = rel.partition("/")
                parent = posixpath.dirname(src)
                if fnmatch.fnmatchcase(first, base):
                    found.append(_clean(posixpath.join(parent, first, rest)))
                continue
            found.append(_clean(posixpath.join(src, rel)))  # a directory copied into dest
            first, _, rest = rel.partition("/")
            if first == base and not src_dir:  # a file (or a directory's name) copied into dest/
                found.append(_clean(posixpath.join(src, rest)) if rest else src)
    return list(dict.fromkeys(found))
