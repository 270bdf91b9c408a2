"""Dockerfile instructions as a user wrote them, recovered from config history.

BuildKit records `created_by` as `RUN /bin/sh -c date > /f # buildkit` (or with build
args: `RUN |2 A=1 B=2 /bin/sh -c make # buildkit`); the classic builder as
`/bin/sh -c #(nop)  CMD ["sh"]` for metadata steps and `/bin/sh -c apt-get ...` for RUN.
A report shows the instruction the user would recognise in their Dockerfile.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

_SHELLS = ("/bin/sh -c ", "/bin/bash -c ", "cmd /S /C ")
_BUILD_ARGS = re.compile(r"^\|(\d+)\s+")  # `|N K=V ...`: build args in effect for RUN


def _strip_build_args(text: str) -> str:
    m = _BUILD_ARGS.match(text)
    if not m:
        return text
    # skip N whitespace-separated K=V words; best effort, as values are not quoted
    rest = text[m.end() :]
    for _ in range(int(m.group(1))):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
    return rest


def _strip_shell(text: str) -> tuple[str, bool]:
    for shell in _SHELLS:
        if text.startswith(shell):
            return text[len(shell) :].lstrip(), True
    return text, False


def clean_instruction(created_by: str) -> str:
    """`RUN /bin/sh -c date > /f # buildkit` -> `RUN date > /f`; classic builder forms too."""
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    if text.startswith("RUN "):  # BuildKit: RUN [|N args] /bin/sh -c CMD
        body, _ = _strip_shell(_strip_build_args(text[4:].lstrip()))
        return f"RUN {body}".rstrip()
    body, had_shell = _strip_shell(_strip_build_args(text))
    if not had_shell:
        return text  # COPY a /b, WORKDIR /x, ENV ..., or something we do not know
    if body.startswith("#(nop)"):  # classic builder metadata step: the instruction itself
        return body[len("#(nop)") :].strip()
    return f"RUN {body}".rstrip()


def layer_instructions(history: Any, layer_count: int) -> list[str | None]:
    """Cleaned `created_by` of the i-th history entry whose empty_layer is not true.

    History is optional and advisory; malformed entries give None rather than failing the
    whole image (the differ still reports history differences from the raw config).
    """
    out: list[str | None] = []
    if isinstance(history, Sequence) and not isinstance(history, (str, bytes)):
        for h in history:
            if not isinstance(h, Mapping) or h.get("empty_layer") is True:
                continue
            created_by = h.get("created_by")
            out.append(clean_instruction(created_by) if isinstance(created_by, str) else None)
    out = out[:layer_count]
    return out + [None] * (layer_count - len(out))
