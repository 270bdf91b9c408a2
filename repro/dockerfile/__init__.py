"""Dockerfiles: parse one into stages (`parse`, `parse_file`), tell which instruction
made which image layer (`match_layers`) and where a `COPY --from` file came from
(`source_paths`).

    df = parse_file("ctx/Dockerfile")
    df.stages[0].name                       # "builder"
    df.copy_source(instruction, stage)      # the Stage a COPY --from=builder reads
    steps = match_layers(df, config["history"], len(manifest_layers))

Modules: directives (`# syntax=`, `# check=`, `# escape=` by BuildKit's rules), model
(stages and instructions, through BuildKit's own parser), layers (layers to steps).
"""

from repro.dockerfile.directives import Directive, read_directives
from repro.dockerfile.layers import LayerStep, match_layers, source_paths
from repro.dockerfile.model import Dockerfile, Heredoc, Instruction, Stage, expand, parse, parse_file

__all__ = ["Directive", "Dockerfile", "Heredoc", "Instruction", "LayerStep", "Stage", "expand", "match_layers",
           "parse", "parse_file", "read_directives", "source_paths"]
