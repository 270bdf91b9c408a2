"""References in skopeo's transport syntax, and instructions recovered from history."""

from __future__ import annotations

import pytest

from repro.errors import InputError
from repro.oci import clean_instruction, parse_reference
from repro.oci.history import layer_instructions
from repro.oci.reference import normalise_repo_tag


@pytest.mark.parametrize(
    "text, kind, path, name",
    [
        ("oci-archive:out.tar", "oci-archive", "out.tar", ""),
        ("oci-archive:/x/out.tar:v1", "oci-archive", "/x/out.tar", "v1"),
        ("oci:layout", "oci", "layout", ""),
        ("oci:layout:latest", "oci", "layout", "latest"),
        ("docker-archive:img.tar", "docker-archive", "img.tar", ""),
        ("docker-archive:img.tar:repo/app:1.2", "docker-archive", "img.tar", "repo/app:1.2"),
        ("docker-archive:img.tar:@1", "docker-archive", "img.tar", "@1"),
        ("some/file.tar", "", "some/file.tar", ""),
    ],
)
def test_transport_syntax(text, kind, path, name):
    ref = parse_reference(text)
    assert (ref.kind, ref.path, ref.name, ref.text) == (kind, path, name, text)


def test_existing_path_with_colon_is_taken_whole(tmp_path):
    p = tmp_path / "a:b.tar"
    p.write_bytes(b"")
    ref = parse_reference(f"oci-archive:{p}")
    assert (ref.path, ref.name) == (str(p), "")


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("docker://alpine", "docker.io", "library/alpine", "latest", ""),
        ("docker://alpine:3.19", "docker.io", "library/alpine", "3.19", ""),
        ("docker://team/app", "docker.io", "team/app", "latest", ""),
        ("docker://localhost:5000/a/b:1.0", "localhost:5000", "a/b", "1.0", ""),
        ("docker://127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", ""),
        ("docker://ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io", "o/r", "", "sha256:" + "a" * 64),
        ("docker://ghcr.io/o/r:t@sha256:" + "b" * 64, "ghcr.io", "o/r", "t", "sha256:" + "b" * 64),
    ],
)
def test_docker_references(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert ref.kind == "docker"
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty image reference"),
        ("docker://UPPER/case", "invalid repository name"),
        ("docker://a@sha256:short", "invalid digest"),
        ("docker://a:bad tag", "invalid tag"),
        ("oci-archive:", "missing path"),
        ("docker-daemon:alpine:latest", "not supported"),
    ],
)
def test_bad_references_are_input_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_reference(text)


def test_repo_tags_compare_in_normal_form():
    assert normalise_repo_tag("alpine") == normalise_repo_tag("docker.io/library/alpine:latest")
    assert normalise_repo_tag("a/b:1") != normalise_repo_tag("a/b:2")


@pytest.mark.parametrize(
    "created_by, instruction",
    [
        ("RUN /bin/sh -c date > /f # buildkit", "RUN date > /f"),
        ("COPY a /b # buildkit", "COPY a /b"),
        ("WORKDIR /x", "WORKDIR /x"),
        ('/bin/sh -c #(nop)  CMD ["sh"]', 'CMD ["sh"]'),
        ("/bin/sh -c #(nop) ADD file:5b1e in / ", "ADD file:5b1e in /"),
        ("/bin/sh -c apt-get update && apt-get install -y x", "RUN apt-get update && apt-get install -y x"),
        ("RUN |2 A=1 B=2 /bin/sh -c make all # buildkit", "RUN make all"),
        ("|1 V=3 /bin/sh -c echo $V", "RUN echo $V"),
        ('RUN ["echo","hi"] # buildkit', 'RUN ["echo","hi"]'),
        ("ENV PATH=/usr/bin", "ENV PATH=/usr/bin"),
    ],
)
def test_clean_instruction(created_by, instruction):
    assert clean_instruction(created_by) == instruction


def test_instructions_skip_empty_layer_history_entries():
    history = [
        {"created_by": "ARG X", "empty_layer": True},
        {"created_by": "COPY a / # buildkit"},
        {"created_by": "ENV A=b", "empty_layer": True},
        {"created_by": "RUN /bin/sh -c make # buildkit"},
        {"created_by": 'CMD ["x"]', "empty_layer": True},
    ]
    assert layer_instructions(history, 2) == ["COPY a /", "RUN make"]
    assert layer_instructions(history, 3) == ["COPY a /", "RUN make", None]  # history too short
    assert layer_instructions(None, 2) == [None, None]


# -- one table of sources (repro.oci.reference.SOURCES) -----------------------------------


def _open_test_archive(ref, tar, limits, verify_all):  # type: ignore[no-untyped-def]
    tar.close()
    return ("opened", ref.kind, ref.path, ref.name)


def test_a_row_in_sources_is_all_parsing_and_opening_need(monkeypatch, tmp_path):
    import tarfile

    from repro.oci import open_image, reference

    row = reference.Source("test-archive", "tar", f"{__name__}:_open_test_archive", marker="test.json")
    monkeypatch.setattr(reference, "SOURCES", reference.SOURCES + (row,))
    path = tmp_path / "t.tar"
    (tmp_path / "test.json").write_text("{}")
    with tarfile.open(path, "w") as tf:
        tf.add(tmp_path / "test.json", "test.json")
    assert parse_reference(f"test-archive:{path}:name").kind == "test-archive"
    assert open_image(f"test-archive:{path}:name") == ("opened", "test-archive", str(path), "name")
    assert open_image(str(path)) == ("opened", "", str(path), "")  # a bare path: found by its marker
    with pytest.raises(InputError, match="use oci-archive:, oci:, docker-archive:, docker:// or test-archive:"):
        parse_reference("dir:/nonexistent")


def test_every_blob_store_declares_the_blobs_protocol():
    import inspect

    from repro.oci import archive, docker_archive, layout, registry, walker

    for cls in (archive.ArchiveBlobs, layout.LayoutBlobs, docker_archive.DockerBlobs, registry.RegistryBlobs):
        assert walker.Blobs in cls.__mro__, cls  # subclassed: the declared defaults apply
    assert registry.RegistryBlobs.remote and not registry.RegistryBlobs.listed
    assert not layout.LayoutBlobs.remote and layout.LayoutBlobs.listed and not layout.LayoutBlobs.unanchored
    assert "getattr(" not in inspect.getsource(walker)  # capabilities are declared, never probed
