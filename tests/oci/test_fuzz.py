"""Whatever bytes arrive, open_image and reading layers raise nothing but ReproError."""

from __future__ import annotations

import json

from tests import imagegen as g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.errors import ReproError
from repro.oci import iter_entries, open_image

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(["sha256:" + "a" * 64, g.OCI_MANIFEST, g.OCI_INDEX, g.OCI_CONFIG]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def open_and_read_everything(ref: str) -> None:
    try:
        with open_image(ref) as image:
            for mi in image.manifests:
                for layer in mi.layers:
                    with image.open_layer(layer) as stream:
                        if mi.is_attestation:
                            stream.read()
                        else:
                            list(iter_entries(stream, capture_limit=64))
    except ReproError as e:
        assert "\n" not in str(e)


@SETTINGS
@given(data=st.binary(max_size=4000))
def test_random_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("f") / "x"
    path.write_bytes(data)
    open_and_read_everything(str(path))


@SETTINGS
@given(index=json_values, manifest=json_values, layout=json_values, kind=st.sampled_from(["oci-archive", "docker-archive"]))
def test_random_json_documents(tmp_path_factory, index, manifest, layout, kind):
    path = tmp_path_factory.mktemp("j") / "x.tar"
    files = {"oci-layout": json.dumps(layout).encode()}
    files["index.json" if kind == "oci-archive" else "manifest.json"] = json.dumps(index).encode()
    blob = json.dumps(manifest).encode()
    files["blobs/sha256/" + g.sha256(blob).split(":")[1]] = blob
    g.write_files(files, path, kind)
    open_and_read_everything(f"{kind}:{path}")


def _replace_at(doc, path: list[int], value):
    """Replace the subtree of `doc` picked by `path` (indices into keys/items) with `value`."""
    node = doc
    for step in path:
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not children:
            break
        key = children[step % len(children)]
        if not isinstance(node[key], (dict, list)) or step % 3 == 0:
            node[key] = value
            return doc
        node = node[key]
    if isinstance(node, dict):
        node["x"] = value
    return doc


@SETTINGS
@given(
    target=st.sampled_from(["config", "manifest"]),
    path=st.lists(st.integers(0, 50), min_size=1, max_size=4),
    value=json_values,
    fmt=st.sampled_from(["oci-archive", "oci", "docker-archive"]),
)
def test_consistent_images_with_one_random_subtree(tmp_path_factory, target, path, value, fmt):
    # hashes and sizes all agree: only the parsers stand between the input and a crash
    hook = lambda doc: _replace_at(doc, path, value)  # noqa: E731
    spec = g.simple_image(attestation=fmt != "docker-archive", **{f"{target}_hook": hook})
    if fmt == "docker-archive" and target == "manifest":
        spec.manifest_hook = None
    out = tmp_path_factory.mktemp("s") / ("lay" if fmt == "oci" else "x.tar")
    g.write_image(spec, out, fmt)
    open_and_read_everything(f"{fmt}:{out}")


@SETTINGS
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.none() | st.integers(0, 10**7),
    fmt=st.sampled_from(["oci-archive", "docker-archive"]),
)
def test_damaged_archives(tmp_path_factory, flips, cut, fmt):
    out = tmp_path_factory.mktemp("d") / "x.tar"
    g.write_image(g.simple_image(attestation=fmt == "oci-archive"), out, fmt)
    data = bytearray(out.read_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    out.write_bytes(bytes(data))
    open_and_read_everything(str(out))
