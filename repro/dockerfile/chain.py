"""The stage that made it: follow a differing file of a `COPY --from=STAGE` layer back to
the instruction in STAGE that wrote it.

`check` gives this a way to build a stage on each side (`--target STAGE` on the daemons
its two builds ran on, so their caches are those builds' own) and to compare two stage
images; this module decides what to build and links the findings. Each link is added to
the finding's `stage_chain` (docs/report-format.md):

    {"copy": "COPY --from=builder /out/ /usr/share/app/", "stage": "builder",
     "path": "out/x", "layer": 1, "instruction": "RUN date > /out/x", "line": 3}

and followed further when that instruction is itself a `COPY --from`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from repro.dockerfile.layers import LayerStep, match_layers, source_paths
from repro.dockerfile.model import Dockerfile, Stage

# build_stage(stage, target_name, dockerfile) -> (image A, image B): the two sides' stage images
BuildStage = Callable[[Stage, str, str | None], "tuple[str, str]"]
# compare(image A, image B) -> the report document of the two (findings explained)
Compare = Callable[[str, str], Mapping[str, Any]]


def target_dockerfile(df_path: str, stage: Stage, work: str) -> tuple[str, str | None]:
    """(the --target name, a Dockerfile to build it from or None for the original).
    `--target` takes only stage names: an unnamed stage is named in a copy of the
    Dockerfile (its FROM line gets ` AS repro-stage-N`, every other byte the same)."""
    if stage.name is not None:
        return stage.name, None
    name = f"repro-stage-{stage.index}"
    with open(df_path, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().split("\n")
    end = stage.from_instruction.end_line - 1
    lines[end] = lines[end].rstrip() + f" AS {name}"
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, f"Dockerfile.{name}")
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(lines))
    ignore = df_path + ".dockerignore"  # BuildKit reads <Dockerfile>.dockerignore before the context's
    if os.path.isfile(ignore):
        with open(ignore, "rb") as src, open(path + ".dockerignore", "wb") as dst:
            dst.write(src.read())
    return name, path


def _steps(doc: Mapping[str, Any], df: Dockerfile, target: str | None,
           build_args: Mapping[str, str]) -> dict[str | None, dict[int, LayerStep]]:
    """platform -> layer -> the Dockerfile step that made it, from the report's layers."""
    out: dict[str | None, dict[int, LayerStep]] = {}
    for p in doc.get("platforms") or []:
        if p.get("role") != "image":
            continue
        layers = p.get("layers") or []
        history = [{"created_by": layer.get("instruction") or ""} for layer in layers]
        out[p.get("platform")] = match_layers(df, history, len(layers), target=target, build_args=build_args)
    return out


def add_stage_chains(doc: dict[str, Any], df: Dockerfile, df_path: str, *, target: str | None,
                     build_args: Mapping[str, str], build_stage: BuildStage, compare: Compare,
                     work: str, max_depth: int = 8) -> int:
    """Add `stage_chain` to the findings of `doc` that lie in a `COPY --from=STAGE`
    layer, building and comparing the stages they come from (each stage once); return how
    many findings got a chain."""
    stage_docs: dict[int, Mapping[str, Any]] = {}

    def stage_doc(stage: Stage) -> Mapping[str, Any]:
        if stage.index not in stage_docs:
            name, dockerfile = target_dockerfile(df_path, stage, work)
            a, b = build_stage(stage, name, dockerfile)
            stage_docs[stage.index] = compare(a, b)
        return stage_docs[stage.index]

    def follow(finding: Mapping[str, Any], current: Mapping[str, Any], target_name: str | None,
               depth: int) -> list[dict[str, Any]]:
        if depth >= max_depth or finding.get("kind") != "file" or finding.get("layer") is None:
            return []
        plat = finding.get("platform")
        step = _steps(current, df, target_name, build_args).get(plat, {}).get(finding["layer"])
        if step is None or step.instruction.from_ref is None:
            return []
        source = df.copy_source(step.instruction, step.stage, build_args)
        if source is None:
            return []
        candidates = set(source_paths(step, str(finding.get("path") or "")))
        sdoc = stage_doc(source)
        match = next((f for f in sdoc.get("findings") or [] if f.get("kind") == "file"
                      and f.get("platform") == plat and f.get("path") in candidates), None)
        link: dict[str, Any] = {"copy": step.instruction.text(), "stage": source.ref}
        if match is None:  # the stage's images do not differ there: say so rather than guess
            link.update(path=sorted(candidates)[0] if candidates else None, layer=None, instruction=None,
                        line=None, differs=False)
            return [link]
        stage_target = source.ref  # its name, or its index when unnamed
        made = _steps(sdoc, df, stage_target, build_args).get(plat, {}).get(match.get("layer"))
        link.update(path=match.get("path"), layer=match.get("layer"), instruction=match.get("instruction"),
                    line=made.instruction.start_line if made is not None else None, differs=True,
                    a=match.get("a"), b=match.get("b"))
        if match.get("cause"):
            link["cause"] = match["cause"]
        rest = follow(match, sdoc, stage_target, depth + 1)
        return [link, *rest]

    added = 0
    for finding in doc.get("findings") or []:
        chain = follow(finding, doc, target, 0)
        if chain:
            finding["stage_chain"] = chain
            added += 1
    return added


def chain_text(chain: list[Mapping[str, Any]]) -> str:
    """`COPY --from=builder /out/ /app/ ← RUN date > /out/x (stage builder, line 3)`."""
    parts = [str(chain[0].get("copy"))] if chain else []
    for link in chain:
        where = f"stage {link.get('stage')}" + (f", line {link['line']}" if link.get("line") else "")
        if link.get("differs"):
            parts.append(f"{link.get('instruction')} ({where})")
        else:
            parts.append(f"nothing differs in {link.get('path')} ({where})")
    return " ← ".join(parts)
