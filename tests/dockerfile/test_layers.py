"""repro.dockerfile.layers: which step made which layer, and where a COPY --from file came from."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from repro.dockerfile import match_layers, parse, source_paths
from repro.dockerfile.layers import LayerStep

DOCKERFILE = """\
FROM base AS builder
WORKDIR /src
RUN make > /out/app
FROM base
WORKDIR /
COPY --from=builder /out/ /usr/share/app/
RUN date > /stamp
"""

# what BuildKit writes into the final image's history (base: two layers of its own)
HISTORY = [
    {"created_by": "BusyBox", "comment": "base"},
    {"created_by": "ln -s busybox /bin/sh"},
    {"created_by": "WORKDIR /", "empty_layer": True},
    {"created_by": "COPY /out/ /usr/share/app/ # buildkit", "comment": "buildkit.dockerfile.v0"},
    {"created_by": "RUN /bin/sh -c date > /stamp # buildkit", "comment": "buildkit.dockerfile.v0"},
]


def test_layers_are_matched_from_the_end_and_copy_from_is_named() -> None:
    df = parse(DOCKERFILE)
    found = match_layers(df, HISTORY, 4)
    assert sorted(found) == [2, 3]  # the base's layers 0 and 1 are not the Dockerfile's
    assert found[2].instruction.text() == "COPY --from=builder /out/ /usr/share/app/"
    assert df.copy_source(found[2].instruction, found[2].stage) is df.stages[0]
    assert found[3].instruction.text() == "RUN date > /stamp"


def test_a_history_that_disagrees_stops_the_match() -> None:
    df = parse(DOCKERFILE)
    wrong = HISTORY[:3] + [{"created_by": "ADD x /y"}, HISTORY[4]]
    assert sorted(match_layers(df, wrong, 4)) == [3]
    assert match_layers(df, HISTORY, 5) != {}  # history not describing 5 layers: steps by position alone
    assert sorted(match_layers(df, HISTORY, 5)) == [3, 4]


def test_stage_target_matches_its_own_layers() -> None:
    df = parse(DOCKERFILE)
    history = [{"created_by": "base"}, {"created_by": "base 2"}, {"created_by": "WORKDIR /src"},
               {"created_by": "RUN /bin/sh -c make > /out/app # buildkit"}]
    found = match_layers(df, history, 4, target="builder")
    assert [found[i].instruction.text() for i in (2, 3)] == ["WORKDIR /src", "RUN make > /out/app"]
    assert found[3].workdir == "/src"


def _step(text: str, workdir: str = "/") -> LayerStep:
    df = parse("FROM a AS s\nFROM b\n" + text + "\n")
    return LayerStep(0, df.stages[1], df.stages[1].instructions[0], workdir)


def test_source_paths_of_directory_file_and_glob_copies() -> None:
    assert source_paths(_step("COPY --from=s /out/ /usr/share/app/"), "usr/share/app/x/y") == ["out/x/y"]
    assert "out/x" in source_paths(_step("COPY --from=s /out/x /usr/share/app/"), "usr/share/app/x")
    assert source_paths(_step("COPY --from=s /out/x /y"), "y") == ["out/x"]
    assert source_paths(_step("COPY --from=s /out/*.txt /d/"), "d/a.txt") == ["out/a.txt"]
    assert source_paths(_step("COPY --from=s /out/*.txt /d/"), "d/a.bin") == []
    assert source_paths(_step("COPY --from=s out rel/", workdir="/w"), "w/rel/f") == ["out/f"]
    assert source_paths(_step("COPY --from=s /out/ /d/"), "elsewhere/f") == []
    assert source_paths(_step("COPY --from=s /a /b /d/"), "d/b") == ["a/b", "b/b", "b"]  # b a directory, or the file


_part = st.text(alphabet="abcdefgh", min_size=1, max_size=6)


@settings(deadline=None)
@given(st.lists(_part, min_size=1, max_size=4), st.lists(_part, min_size=1, max_size=4))
def test_a_directory_copy_maps_every_file_back_to_its_source(src: list[str], rel: list[str]) -> None:
    step = _step(f"COPY --from=s /{'/'.join(src)}/ /dest/")
    assert source_paths(step, "dest/" + "/".join(rel)) == ["/".join(src + rel)]
