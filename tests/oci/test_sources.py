"""One validation suite run against every source (go-containerregistry's `validate/`):
digests, sizes, diffIDs, platforms, instructions and layer entries must come out as
imagegen wrote them, whatever the container format."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from repro.errors import InputError
from repro.oci import open_image
from tests import imagegen as g
from tests.oci.validate import read_layer, validate

# (format, writer options, reference prefix)
SOURCES = {
    "oci-archive": ("oci-archive", {}, "oci-archive:"),
    "oci-archive-dot-slash": ("oci-archive", {"prefix": "./"}, ""),
    "oci": ("oci", {}, "oci:"),
    "docker-archive": ("docker-archive", {}, "docker-archive:"),
    "docker-archive-blobs": ("docker-archive", {"docker_layout": "blobs"}, ""),
}


def write(spec: g.ImageSpec, tmp_path, source: str) -> tuple[str, g.Built]:
    fmt, opts, prefix = SOURCES[source]
    path = tmp_path / ("img" if fmt == "oci" else "img.tar")
    built = g.write_image(spec, path, fmt, **opts)
    return prefix + str(path), built


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_reads_what_imagegen_wrote(tmp_path, source):
    spec = g.simple_image(empty_history=[(0, "ARG X=1"), (1, "ENV A=b"), (2, 'CMD ["sh"]')])
    ref, built = write(spec, tmp_path, source)
    with open_image(ref) as image:
        validate(image, built, spec, SOURCES[source][0])


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_checks_every_layer_blob_with_verify_all(tmp_path, source):
    spec = g.simple_image()
    ref, built = write(spec, tmp_path, source)
    with open_image(ref, verify_all=True) as image:
        validate(image, built, spec, SOURCES[source][0])


@pytest.mark.parametrize("source", ["oci-archive", "oci"])
def test_multi_platform_index_with_attestations(tmp_path, source):
    amd = g.simple_image(platform="linux/amd64", attestation=True)
    arm = g.simple_image(platform="linux/arm64/v8", attestation=True, labels={"arch": "arm"})
    spec = g.IndexSpec([amd, arm], annotations={"org.opencontainers.image.created": g.CREATED})
    ref, built = write(spec, tmp_path, source)
    with open_image(ref) as image:
        validate(image, built, spec, SOURCES[source][0])
        assert image.index["annotations"]["org.opencontainers.image.created"] == g.CREATED
        assert [str(mi.platform) for mi in image.manifests] == [
            "linux/amd64", "unknown/unknown", "linux/arm64/v8", "unknown/unknown"
        ]  # fmt: skip
        att = image.manifests[1]
        assert att.config["os"] == "unknown"  # an image-shaped config is kept
        assert att.layers[0].diff_id == att.layers[0].descriptor.digest
        with image.open_layer(att.layers[0]) as stream:
            assert b"in-toto" in stream.read()


def test_platform_comes_from_config_when_index_has_none(tmp_path):
    spec = g.IndexSpec([g.simple_image(platform="linux/arm/v7", platform_in_index=False)])
    ref, built = write(spec, tmp_path, "oci")
    with open_image(ref) as image:
        assert image.manifests[0].platform is not None
        assert str(image.manifests[0].platform) == "linux/arm/v7"


def test_single_manifest_image_has_no_index_and_manifest_digest(tmp_path):
    spec = g.simple_image()
    ref, built = write(spec, tmp_path, "oci-archive")
    with open_image(ref) as image:
        assert image.index is None
        assert image.digest == built.manifests[0].digest


def test_unnamed_platform_manifests_in_index_json_make_it_the_index(tmp_path):
    spec = g.IndexSpec([g.simple_image(), g.simple_image(platform="linux/arm64")], nested=False)
    path = tmp_path / "img"
    built = g.write_image(spec, path, "oci", ref_name=None)
    with open_image(f"oci:{path}") as image:
        assert image.digest == g.sha256((path / "index.json").read_bytes())
        assert len(image.index["manifests"]) == 2
        validate(image, built, spec, "oci")


def test_docker_media_types_and_uncompressed_layers(tmp_path):
    spec = g.simple_image(docker_media_types=True)
    for layer in spec.layers:
        layer.compression = "none"
    ref, built = write(spec, tmp_path, "oci")
    with open_image(ref) as image:
        validate(image, built, spec, "oci")
        assert all(l.descriptor.digest == l.diff_id for l in image.manifests[0].layers)


def test_docker_archive_legacy_symlinked_duplicate_layers(tmp_path):
    same = g.LayerSpec([g.file("x", b"same")], compression="none")
    spec = g.ImageSpec([same, g.LayerSpec([g.file("y")], compression="none"), same])
    path = tmp_path / "d.tar"
    built = g.write_image(spec, path, "docker-archive")
    assert built.symlinks  # the third layer is a symlink to the first one's file
    with open_image(str(path)) as image:
        validate(image, built, spec, "docker-archive")


def test_docker_archive_selects_by_tag_or_position(tmp_path):
    a, b = g.simple_image(labels={"n": "a"}), g.simple_image(labels={"n": "b"})
    path = tmp_path / "two.tar"
    built = g.write_docker_archive([(a, ["a:1"]), (b, ["docker.io/library/b:latest"])], path)
    with open_image(f"docker-archive:{path}:docker.io/library/a:1") as image:
        assert image.digest == built[0].digest
    with open_image(f"docker-archive:{path}:b") as image:  # short form, :latest implied
        assert image.digest == built[1].digest
        assert image.manifests[0].config["config"]["Labels"]["n"] == "b"
    with open_image(f"docker-archive:{path}:@1") as image:
        assert image.digest == built[1].digest
    with pytest.raises(InputError, match="a:1.*b:latest"):
        open_image(str(path))
    with pytest.raises(InputError, match="no image tagged 'c:1'"):
        open_image(f"docker-archive:{path}:c:1")


def test_oci_refname_selects_by_annotation(tmp_path):
    spec = g.simple_image()
    path = tmp_path / "lay"
    built = g.write_image(spec, path, "oci", ref_name="v1")
    with open_image(f"oci:{path}:v1") as image:
        assert image.digest == built.digest
    with pytest.raises(InputError, match="no image named 'v2'.*v1"):
        open_image(f"oci:{path}:v2")


def test_tar_with_index_json_and_manifest_json_opens_as_oci(tmp_path):
    # `docker save` since Docker 25 writes both; the OCI view keeps the real manifest digest
    spec = g.simple_image()
    oci = g.build_oci(spec)
    docker = g.build_docker([(spec, ["x:1"])], layout="blobs")[0]
    path = tmp_path / "both.tar"
    g.write_files({**docker.files, **oci.files}, path, "oci-archive")
    with open_image(str(path)) as image:
        assert image.kind == "oci-archive"
        assert image.digest == oci.digest
    with open_image(f"docker-archive:{path}") as image:
        assert image.kind == "docker-archive"
        assert image.digest == docker.digest


def test_two_layers_stream_in_two_threads(tmp_path):
    import concurrent.futures

    big = bytes(range(256)) * 8192
    spec = g.ImageSpec([g.LayerSpec([g.file(f"f{i}", big)]) for i in range(2)])
    ref, built = write(spec, tmp_path, "oci-archive")
    with open_image(ref) as image, concurrent.futures.ThreadPoolExecutor(2) as pool:
        layers = image.manifests[0].layers
        results = list(pool.map(lambda l: read_layer(image, l)[1], layers))
    assert results == built.manifests[0].diff_ids


# -- cross-check with skopeo ---------------------------------------------------------

SKOPEO = shutil.which("skopeo")


def skopeo(*args: str) -> None:
    subprocess.run([SKOPEO, "--insecure-policy", *args], check=True, capture_output=True, timeout=60)


def entries_of(ref: str) -> list[list]:
    with open_image(ref) as image:
        out = []
        for mi in image.manifests:
            for layer in mi.layers:
                out.append([e for e, _ in read_layer(image, layer)[0]])
        return out


def test_skopeo_oci_layout_copy_reads_the_same(tmp_path):
    assert SKOPEO, "skopeo is part of the test environment"
    spec = g.simple_image()
    built = g.write_image(spec, tmp_path / "a.tar", "oci-archive")
    skopeo("copy", f"oci-archive:{tmp_path / 'a.tar'}", f"oci:{tmp_path / 'lay'}:latest")
    with open_image(f"oci:{tmp_path / 'lay'}:latest") as image:
        validate(image, built, spec, "oci")
    assert entries_of(f"oci:{tmp_path / 'lay'}") == entries_of(str(tmp_path / "a.tar"))


def test_skopeo_docker_archive_has_same_diff_ids_and_entries(tmp_path):
    assert SKOPEO, "skopeo is part of the test environment"
    spec = g.simple_image()
    for layer in spec.layers:
        layer.compression = "gzip"
    built = g.write_image(spec, tmp_path / "a.tar", "oci-archive")
    skopeo("copy", f"oci-archive:{tmp_path / 'a.tar'}", f"docker-archive:{tmp_path / 'd.tar'}:repro/x:1")
    with open_image(f"docker-archive:{tmp_path / 'd.tar'}:repro/x:1") as image:
        mi = image.manifests[0]
        assert [l.diff_id for l in mi.layers] == built.manifests[0].diff_ids
        # skopeo stores layers uncompressed: the blob digest is the diffID
        assert [l.descriptor.digest for l in mi.layers] == built.manifests[0].diff_ids
        assert str(mi.platform) == "linux/amd64"
    assert entries_of(str(tmp_path / "d.tar")) == entries_of(str(tmp_path / "a.tar"))


def test_imagegen_is_deterministic_and_vary_changes_one_thing(tmp_path):
    spec = g.simple_image(attestation=True)
    assert g.build_oci(spec).files == g.build_oci(g.simple_image(attestation=True)).files
    other = g.vary(spec, 0, "etc/hostname", content=b"other\n")
    a, b = g.build_oci(spec).manifests[0], g.build_oci(other).manifests[0]
    assert a.diff_ids[0] != b.diff_ids[0] and a.diff_ids[1] == b.diff_ids[1]
    c = g.build_oci(g.vary_image(spec, labels={"x": "y"})).manifests[0]
    assert c.diff_ids == a.diff_ids and c.config_digest != a.config_digest
    with pytest.raises(TypeError, match="no field"):
        g.vary(spec, 0, "etc/hostname", contents=b"typo")
