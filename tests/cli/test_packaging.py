"""Packaging is not reproducibility (#13 point 9): the same image as an OCI archive and as a
docker-archive differs only in packaging; that has one cause, `--semantic` passes, and each
image's digest is shown with a label saying which digest it is."""

from __future__ import annotations

import json
import re

import pytest

from repro.cli import main
from repro.diff.finding import Finding
from repro.explain import packaging_only
from tests import imagegen as g
from tests.imagegen import base_spec


def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    return e.value.code, capsys.readouterr().out


@pytest.fixture
def pair(tmp_path):
    spec = base_spec()
    spec.annotations = {"org.opencontainers.image.created": "2023-11-14T22:13:20Z"}
    g.write_image(spec, tmp_path / "image.tar")
    g.write_image(spec, tmp_path / "image-docker.tar", "docker-archive")
    return str(tmp_path / "image.tar"), str(tmp_path / "image-docker.tar")


def test_one_image_in_two_formats_differs_only_in_packaging(capsys, pair):
    code, out = run(capsys, "diff", *pair, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["findings"]
    assert {f["cause"] for f in doc["findings"]} == {"packaging"} and doc["summary"]["by_cause"] == {
        "packaging": len(doc["findings"])}
    assert {f["kind"] for f in doc["findings"]} <= {"index", "manifest", "config", "layer"}
    code, text = run(capsys, "diff", *pair)
    assert text.rstrip().endswith("; only the packaging differs: the layers and the config are the same")


def test_semantic_passes(capsys, pair):
    code, out = run(capsys, "diff", *pair, "--semantic", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "reproducible" and doc["summary"]["ignored"] > 0
    assert "packaging" in {r["name"] for r in doc["policy"]["semantic_rules"]}


def test_each_image_has_one_labelled_digest(capsys, pair):
    code, out = run(capsys, "diff", *pair, "--format", "json")
    doc = json.loads(out)
    a, b = doc["inputs"]
    assert (a["digest_of"], b["digest_of"]) == ("manifest", "config")
    assert b["digest"] == doc["platforms"][0]["b"]["config"]  # docker's image ID
    _, text = run(capsys, "diff", *pair)
    head = text.splitlines()[:4]
    assert head[0].endswith(f"(oci-archive, manifest {a['digest'][:19]})")
    assert head[1].endswith(f"(docker-archive, image ID {b['digest'][:19]})")
    assert head[3] == f"linux/amd64: differs (A manifest {a['digest'][:19]}, B image ID {b['digest'][:19]})"
    # every digest on those lines is one the header gave that image, labelled
    shown = set(re.findall(r"sha256:[0-9a-f]{12}", "\n".join(head)))
    assert shown == {a["digest"][:19], b["digest"][:19]}
    _, md = run(capsys, "diff", *pair, "--format", "markdown")
    assert f"| docker-archive | image ID `{b['digest'][:19]}` |" in md


def test_two_oci_builds_compressed_differently_are_not_packaging(capsys, tmp_path):
    a = base_spec()
    b = base_spec()
    b.layers[1].gzip_level = 1
    g.write_image(a, tmp_path / "a.tar")
    g.write_image(b, tmp_path / "b.tar")
    code, out = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "json")
    assert code == 1 and [f["cause"] for f in json.loads(out)["findings"]] == ["compression"]


def test_a_file_difference_keeps_packaging_from_explaining_the_rest(capsys, tmp_path):
    spec = base_spec()
    g.write_image(spec, tmp_path / "a.tar")
    g.write_image(g.vary(spec, 1, "etc/hostname", content=b"other\n"), tmp_path / "b.tar", "docker-archive")
    code, out = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "json")
    causes = {f["field"]: f.get("cause") for f in json.loads(out)["findings"]}
    assert code == 1 and "packaging" not in causes.values() and causes["media_type"] == "media-types"


def test_packaging_only_needs_a_docker_oci_crossing():
    def f(kind, field, a=None, b=None):
        return Finding(kind=kind, field=field, a=a, b=b)

    crossing = f("manifest", "media_type", "application/vnd.oci.image.manifest.v1+json",
                 "application/vnd.docker.distribution.manifest.v2+json")
    assert packaging_only([crossing, f("layer", "compression", "sha256:1", "sha256:2")])
    assert not packaging_only([f("layer", "compression", "sha256:1", "sha256:2")])
    assert not packaging_only([crossing, f("file", "mtime", 1, 2)])
    assert not packaging_only([crossing, f("config", "created", "x", "y")])
    assert not packaging_only([])
