"""Trust nothing: every tampered, truncated, mislabelled or oversized input is caught, as
the right ReproError, naming the blob or document."""

from __future__ import annotations

import json

from tests import imagegen as g
import pytest

from repro.errors import FormatError, InputError, IntegrityError, LimitError, RegistryError
from repro.oci import Limits, iter_entries, open_image


def flip(data: bytes, at: int = -10) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def drain(image) -> None:
    for mi in image.manifests:
        for layer in mi.layers:
            with image.open_layer(layer) as stream:
                if mi.is_attestation:
                    stream.read()
                else:
                    list(iter_entries(stream))


def write_tampered(tmp_path, spec, fmt="oci-archive", mutate=None) -> tuple[str, g.Built]:
    built = g.build_oci(spec)
    files = dict(built.files)
    if mutate:
        mutate(built, files)
    path = tmp_path / ("lay" if fmt == "oci" else "img.tar")
    g.write_files(files, path, fmt)
    return str(path), built


FORMATS = ["oci-archive", "oci"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_flipped_byte_in_layer_blob_is_caught_when_read(tmp_path, fmt):
    spec = g.simple_image()

    def mutate(built, files):
        name = built.blob_name(built.manifests[0].layer_digests[1])
        files[name] = flip(files[name])

    path, built = write_tampered(tmp_path, spec, fmt, mutate)
    digest = built.manifests[0].layer_digests[1]
    with open_image(path) as image:  # size is unchanged: opening does not hash layers
        with pytest.raises(IntegrityError, match=digest):
            drain(image)
    with pytest.raises(IntegrityError, match=digest):
        open_image(path, verify_all=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_flipped_byte_in_uncompressed_layer_is_caught(tmp_path, fmt):
    spec = g.ImageSpec([g.LayerSpec([g.file("a", b"x" * 5000)], compression="none")])

    def mutate(built, files):
        name = built.blob_name(built.manifests[0].layer_digests[0])
        files[name] = flip(files[name], 600)  # inside the file content: the tar stays valid

    path, built = write_tampered(tmp_path, spec, fmt, mutate)
    with open_image(path) as image, pytest.raises(IntegrityError, match=built.manifests[0].layer_digests[0]):
        drain(image)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("what", ["config", "manifest"])
def test_flipped_byte_in_config_or_manifest_fails_open(tmp_path, fmt, what):
    spec = g.simple_image()

    def mutate(built, files):
        digest = built.manifests[0].config_digest if what == "config" else built.manifests[0].digest
        files[built.blob_name(digest)] = flip(files[built.blob_name(digest)], 30)

    path, built = write_tampered(tmp_path, spec, fmt, mutate)
    digest = built.manifests[0].config_digest if what == "config" else built.manifests[0].digest
    with pytest.raises(IntegrityError, match=f"blob {digest}: digest mismatch"):
        open_image(path)


def test_wrong_diff_id_is_caught_at_end_of_layer(tmp_path):
    def hook(config):
        config["rootfs"]["diff_ids"][1] = "sha256:" + "ab" * 32

    spec = g.simple_image(config_hook=hook)
    path = tmp_path / "img.tar"
    g.write_image(spec, path)
    with open_image(str(path)) as image:
        list(iter_entries(image.open_layer(image.manifests[0].layers[0]).__enter__()))
        with pytest.raises(IntegrityError, match=r"layer 1 of linux/amd64: diffID mismatch"):
            drain(image)


def test_wrong_diff_id_on_uncompressed_layer(tmp_path):
    def hook(config):
        config["rootfs"]["diff_ids"][0] = "sha256:" + "cd" * 32

    spec = g.ImageSpec([g.LayerSpec([g.file("a", b"1")], compression="none")], config_hook=hook)
    path = tmp_path / "img.tar"
    g.write_image(spec, path)
    with open_image(str(path)) as image, pytest.raises(IntegrityError, match="diffID mismatch"):
        drain(image)


@pytest.mark.parametrize("fmt", FORMATS)
def test_descriptor_size_differing_from_stored_blob_fails_open(tmp_path, fmt):
    def hook(manifest):
        manifest["layers"][0]["size"] += 1

    path, built = write_tampered(tmp_path, g.simple_image(manifest_hook=hook), fmt)
    with pytest.raises(IntegrityError, match=f"{built.manifests[0].layer_digests[0]} has .* bytes but its descriptor says"):
        open_image(path)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", ["layer", "config", "manifest"])
def test_missing_blob_is_named(tmp_path, fmt, which):
    spec = g.simple_image()

    def target(built):
        m = built.manifests[0]
        return {"layer": m.layer_digests[0], "config": m.config_digest, "manifest": m.digest}[which]

    path, built = write_tampered(tmp_path, spec, fmt, lambda b, files: files.pop(b.blob_name(target(b))))
    with pytest.raises(IntegrityError, match=f"blob {target(built)} is missing"):
        open_image(path)


def test_docker_archive_missing_layer_file_and_tampered_config(tmp_path):
    spec = g.simple_image()
    built = g.build_docker([(spec, ["a:1"])])[0]
    layer_path = json.loads(built.files["manifest.json"])[0]["Layers"][0]
    files = {k: v for k, v in built.files.items() if k != layer_path}
    g.write_files(files, tmp_path / "a.tar", "docker-archive")
    with pytest.raises(IntegrityError, match=f"layer file {layer_path} is missing"):
        open_image(str(tmp_path / "a.tar"))

    config_path = json.loads(built.files["manifest.json"])[0]["Config"]
    files = dict(built.files, **{config_path: flip(built.files[config_path], 5)})
    g.write_files(files, tmp_path / "b.tar", "docker-archive")
    with pytest.raises(IntegrityError, match=f"config {config_path} does not hash"):
        open_image(str(tmp_path / "b.tar"))


def test_docker_archive_tampered_uncompressed_layer(tmp_path):
    spec = g.ImageSpec([g.LayerSpec([g.file("a", b"y" * 3000)], compression="none")])
    built = g.build_docker([(spec, ["a:1"])])[0]
    layer_path = json.loads(built.files["manifest.json"])[0]["Layers"][0]
    files = dict(built.files, **{layer_path: flip(built.files[layer_path], 700)})
    g.write_files(files, tmp_path / "a.tar", "docker-archive")
    with open_image(str(tmp_path / "a.tar")) as image, pytest.raises(IntegrityError, match=built.manifests[0].diff_ids[0]):
        drain(image)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_compressed_layer_is_a_format_error(tmp_path, compression):
    # descriptors agree with the truncated blob, so only the decompressor can tell
    spec = g.ImageSpec(
        [g.LayerSpec([g.file("a", bytes(range(256)) * 64)], compression=compression)],
        layer_hook=lambda i, blob: blob[: len(blob) - 7],
    )
    path = tmp_path / "img.tar"
    g.write_image(spec, path)
    with open_image(str(path)) as image, pytest.raises(FormatError, match=f"{compression} data truncated"):
        drain(image)


def test_truncated_tar_is_a_format_error(tmp_path):
    tar = g.layer_tar([g.file("a", b"z" * 2000), g.file("b", b"q")])
    spec = g.ImageSpec([g.LayerSpec([], compression="none", raw_tar=tar[:1200])])
    path = tmp_path / "img.tar"
    g.write_image(spec, path)
    with open_image(str(path)) as image, pytest.raises(FormatError, match="layer tar truncated"):
        drain(image)


@pytest.mark.parametrize(
    "compression, media_type",
    [
        ("gzip", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("zstd", "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("gzip", "application/vnd.oci.image.layer.v1.tar"),
        ("none", "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    ],
)
def test_magic_bytes_must_match_media_type(tmp_path, compression, media_type):
    spec = g.ImageSpec([g.LayerSpec([g.file("a")], compression=compression, media_type=media_type)])
    path = tmp_path / "img.tar"
    g.write_image(spec, path)
    with open_image(str(path)) as image, pytest.raises(FormatError, match="media type says"):
        drain(image)


def test_unknown_layer_media_type_is_a_format_error(tmp_path):
    spec = g.ImageSpec([g.LayerSpec([g.file("a")], media_type="application/x-tar+bzip2")])
    g.write_image(spec, tmp_path / "img.tar")
    with pytest.raises(FormatError, match=r"layers\[0\].mediaType: unknown layer media type"):
        open_image(str(tmp_path / "img.tar"))


@pytest.mark.parametrize(
    "hook, message",
    [
        (lambda m: b"{not json", "invalid JSON"),
        (lambda m: b"\xff\xfe{}", "not UTF-8"),
        (lambda m: [1, 2], "not a JSON object"),
        (lambda m: m.pop("layers") and None, "layers is not a list"),
        (lambda m: m.update(schemaVersion=1), "schemaVersion is 1"),
        (lambda m: m["layers"][1].update(digest="sha256:XYZ"), r"layers\[1\]: invalid digest"),
        (lambda m: m["layers"][0].update(size="12"), "not a non-negative integer"),
        (lambda m: m["config"].pop("mediaType") and None, "config: descriptor has no mediaType"),
        (lambda m: m.update(mediaType="application/vnd.oci.image.index.v1+json"), "differs from its descriptor"),
        (lambda m: "[" * 100000, "invalid JSON"),
    ],
)
def test_malformed_manifest_is_a_format_error_naming_it(tmp_path, hook, message):
    def manifest_hook(m):
        out = hook(m)
        return out.encode() if isinstance(out, str) else out

    spec = g.simple_image(manifest_hook=manifest_hook)
    path, built = write_tampered(tmp_path, spec)
    with pytest.raises(FormatError, match=message) as info:
        open_image(path)
    assert built.manifests[0].digest[:19] in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "hook, message",
    [
        (lambda c: c.pop("rootfs") and None, "rootfs is not an object"),
        (lambda c: c["rootfs"]["diff_ids"].pop() and None, "diff_ids has 1 entries but the manifest has 2 layers"),
        (lambda c: c["rootfs"].update(diff_ids=["sha256:1"] * 2), r"diff_ids\[0\]: invalid digest"),
        (lambda c: c.update(history={}), "history is not a list"),
        (lambda c: b"null", "not a JSON object"),
    ],
)
def test_malformed_config_is_a_format_error_naming_it(tmp_path, hook, message):
    spec = g.simple_image(config_hook=hook)
    path, built = write_tampered(tmp_path, spec)
    with pytest.raises(FormatError, match=message) as info:
        open_image(path)
    assert "config sha256:" in str(info.value)


def test_malformed_history_entries_give_no_instruction_rather_than_failing(tmp_path):
    def hook(c):
        c["history"][0] = "junk"
        c["history"][1]["created_by"] = 5

    path, _ = write_tampered(tmp_path, g.simple_image(config_hook=hook))
    with open_image(path) as image:
        assert [l.instruction for l in image.manifests[0].layers] == [None, None]


def test_attestation_with_non_image_config_is_tolerated(tmp_path):
    spec = g.simple_image(attestation=True)
    built = g.build_oci(spec)
    att = built.manifests[0].attestation_digest
    manifest = json.loads(built.files[built.blob_name(att)])
    junk = b"not json at all"
    manifest["config"] = {"mediaType": "application/vnd.in-toto+json", "digest": g.sha256(junk), "size": len(junk)}
    new = g.canonical(manifest)
    files = dict(built.files)
    files[built.blob_name(g.sha256(junk))] = junk
    files[built.blob_name(g.sha256(new))] = new
    index = json.loads(built.files[built.blob_name(built.digest)])
    index["manifests"][1].update(digest=g.sha256(new), size=len(new))
    idx = g.canonical(index)
    files[built.blob_name(g.sha256(idx))] = idx
    top = json.loads(built.files["index.json"])
    top["manifests"][0].update(digest=g.sha256(idx), size=len(idx))
    files["index.json"] = g.canonical(top)
    g.write_files(files, tmp_path / "lay", "oci")
    with open_image(f"oci:{tmp_path / 'lay'}") as image:
        att_mi = image.manifests[1]
        assert att_mi.attests == built.manifests[0].digest
        assert dict(att_mi.config) == {}


# -- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits, flag",
    [
        (Limits(max_layers=1), "--max-layers"),
        (Limits(max_json_bytes=100), "--max-json-bytes"),
        (Limits(max_manifests=1), "--max-manifests"),
        (Limits(max_index_depth=0), "--max-index-depth"),
        (Limits(max_layer_bytes=50), "--max-layer-bytes"),
    ],
)
def test_limits_name_the_flag_that_raises_them(tmp_path, limits, flag):
    spec = g.simple_image(attestation=True)
    g.write_image(spec, tmp_path / "img.tar")
    with pytest.raises(LimitError, match=flag) as info:
        with open_image(str(tmp_path / "img.tar"), limits=limits) as image:
            drain(image)
    assert "\n" not in str(info.value)


def test_uncompressed_size_is_bounded_while_streaming(tmp_path):
    spec = g.ImageSpec([g.LayerSpec([g.file("zeros", bytes(1 << 20))])])  # compresses to ~1 KiB
    g.write_image(spec, tmp_path / "img.tar")
    with open_image(str(tmp_path / "img.tar"), limits=Limits(max_layer_bytes=100_000)) as image:
        with pytest.raises(LimitError, match="layer 0 of linux/amd64: uncompressed size.*--max-layer-bytes"):
            drain(image)


def test_nested_index_depth_limit(tmp_path):
    built = g.build_oci(g.IndexSpec([g.simple_image()]))
    files = dict(built.files)
    top = json.loads(files["index.json"])["manifests"][0]
    for _ in range(3):  # wrap the index in three more indexes
        wrapper = g.canonical({"schemaVersion": 2, "mediaType": g.OCI_INDEX, "manifests": [top]})
        files[built.blob_name(g.sha256(wrapper))] = wrapper
        top = {"mediaType": g.OCI_INDEX, "digest": g.sha256(wrapper), "size": len(wrapper)}
    files["index.json"] = g.canonical({"schemaVersion": 2, "manifests": [top]})
    g.write_files(files, tmp_path / "lay", "oci")
    with open_image(f"oci:{tmp_path / 'lay'}", limits=Limits(max_index_depth=4)) as image:
        assert len(image.manifests) == 1
    with pytest.raises(LimitError, match="max_index_depth=3"):
        open_image(f"oci:{tmp_path / 'lay'}", limits=Limits(max_index_depth=3))


# -- references and containers ----------------------------------------------------------


def test_missing_file_not_a_tar_and_unknown_layout_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="nope.tar: no such file"):
        open_image(str(tmp_path / "nope.tar"))
    (tmp_path / "junk").write_bytes(b"hello, not a tar" * 100)
    with pytest.raises(InputError, match="junk: not a tar archive"):
        open_image(str(tmp_path / "junk"))
    g.write_files({"hello.txt": b"hi"}, tmp_path / "other.tar", "oci-archive")
    with pytest.raises(InputError, match="other.tar: tar archive has neither index.json nor manifest.json"):
        open_image(str(tmp_path / "other.tar"))
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="not an OCI layout"):
        open_image(str(tmp_path / "d"))
    with pytest.raises(RegistryError, match="no-such-host.invalid: unknown host"):  # registries: tests/oci/test_registry*.py
        open_image("docker://no-such-host.invalid/app:1")


def test_truncated_archive_is_caught(tmp_path):
    g.write_image(g.simple_image(), tmp_path / "img.tar")
    data = (tmp_path / "img.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    with pytest.raises((FormatError, IntegrityError)):
        with open_image(str(tmp_path / "cut.tar")) as image:
            drain(image)


def test_layout_blob_replaced_by_directory_is_missing(tmp_path):
    spec = g.simple_image()
    built = g.write_image(spec, tmp_path / "lay", "oci")
    blob = tmp_path / "lay" / built.blob_name(built.manifests[0].layer_digests[0])
    blob.unlink()
    blob.mkdir()
    with pytest.raises(IntegrityError, match="is missing"):
        open_image(f"oci:{tmp_path / 'lay'}")


def test_closed_image_refuses_to_open_layers(tmp_path):
    g.write_image(g.simple_image(), tmp_path / "img.tar")
    image = open_image(str(tmp_path / "img.tar"))
    layer = image.manifests[0].layers[0]
    image.close()
    with pytest.raises(InputError, match="closed"):
        with image.open_layer(layer):
            pass


def test_compressed_archive_and_special_files_are_input_errors(tmp_path):
    import gzip

    g.write_image(g.simple_image(), tmp_path / "img.tar")
    (tmp_path / "img.tar.gz").write_bytes(gzip.compress((tmp_path / "img.tar").read_bytes()))
    with pytest.raises(InputError, match="compressed file, not a tar archive"):
        open_image(str(tmp_path / "img.tar.gz"))
    with pytest.raises(InputError, match="/dev/zero: not a regular file"):
        open_image("oci-archive:/dev/zero")


def test_errors_name_the_platform_being_read_even_when_layers_are_shared(tmp_path):
    layers = [g.LayerSpec([g.file("zeros", bytes(1 << 20))])]  # ~1 KiB gzip, 1 MiB tar
    spec = g.IndexSpec([g.ImageSpec(layers), g.ImageSpec(layers, platform="linux/arm64")])
    g.write_image(spec, tmp_path / "img.tar")
    with open_image(str(tmp_path / "img.tar"), limits=Limits(max_layer_bytes=100_000)) as image:
        amd, arm = image.manifests
        assert amd.layers[0] == arm.layers[0]  # equal records, different manifests
        with pytest.raises(LimitError, match="layer 0 of linux/arm64: uncompressed size"):
            with image.open_layer(arm.layers[0]) as stream:
                list(iter_entries(stream))
