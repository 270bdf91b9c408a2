"""Mutation fuzzing through the CLI: valid images, one blob changed, every outcome is
exit 0, 1 or 2 with (for 2) one `repro: error:` line, never a traceback or an internal
error.

A strategy picks a blob kind — index.json, oci-layout, the nested index, a manifest, a
config, a compressed layer blob, the tar inside a layer, and docker-archive's
manifest.json, config and layer files — and a mutation: bytes flipped, cut, inserted or
appended; for JSON, a field removed, retyped or added with a hostile value; for a layer
tar, also one header field overwritten with its checksum fixed. A mutated
blob is either stored as is (the digest check must catch it) or re-hashed up the chain
to index.json (everything agrees, so only the parser in question stands in the way).
Each mutant is diffed against the original, with --report-dir in a sandbox that must hold
nothing else afterwards.

CI runs REPRO_FUZZ_EXAMPLES (default 300) examples per kind, 3000 in all, in about a
minute on 2 cores. A longer run, e.g. 20000 per kind:

    REPRO_FUZZ_EXAMPLES=20000 python3 -m pytest -q tests/cli/test_fuzz.py -p no:cacheprovider

A failing example is printed by hypothesis with the kind, mutation and seed needed to
replay it; fix the owning module, or add the case to testdata/make_corpus.py.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import imagegen as g
from tests.corpus import mc

EXAMPLES = int(os.environ.get("REPRO_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

OCI_KINDS = ["index.json", "oci-layout", "index", "manifest", "config", "layer", "layer-tar"]
DOCKER_KINDS = ["manifest.json", "docker-config", "docker-layer"]


def base_spec() -> g.ImageSpec:
    """Three layers (gzip, zstd, none) touching every entry kind, with an attestation
    (so index.json -> index -> manifests)."""
    layers = g.simple_image().layers + [g.LayerSpec([g.dir("srv"), g.file("srv/data", b"d" * 3000),
                                                     g.char("dev/null", 1, 3), g.fifo("run/fifo")],
                                                    compression="none")]
    return g.ImageSpec(layers, attestation=True)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzzbase")
    spec = base_spec()
    oci = g.build_oci(spec)
    g.write_files(oci.files, root / "good.tar", "oci-archive")
    docker_spec = g.ImageSpec(spec.layers)
    docker = g.build_docker([(docker_spec, ["fuzz:1"])], layout="blobs")[0]
    g.write_files(docker.files, root / "good-docker.tar", "docker-archive")
    return {"oci": oci, "docker": docker, "good": str(root / "good.tar"),
            "good-docker": str(root / "good-docker.tar"), "dir": root}


# -- mutations ---------------------------------------------------------------------------------

hostile_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["sha256:" + "0" * 64, "sha512:" + "f" * 128, "sha256:../../etc/passwd", "", "../..",
                     g.OCI_INDEX, g.OCI_MANIFEST, g.OCI_CONFIG, g.LAYER_TYPES[("oci", "gzip")],
                     g.LAYER_TYPES[("oci", "zstd")], "application/vnd.in-toto+json", "\x00", "a" * 5000]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just(2**63), st.just(-1), st.just(1 << 40),
)

byte_mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 2**32), st.integers(1, 255)), min_size=1, max_size=4)),
    st.tuples(st.just("cut"), st.integers(0, 2**32)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, 2**32), st.binary(min_size=1, max_size=64))),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=600)),
    st.tuples(st.just("zero"), st.tuples(st.integers(0, 2**32), st.integers(1, 1024))),
)
json_mutation = st.one_of(
    st.tuples(st.just("remove"), st.integers(0, 2**32)),
    st.tuples(st.just("retype"), st.tuples(st.integers(0, 2**32), hostile_values)),
    st.tuples(st.just("add"), st.tuples(st.integers(0, 2**32), st.text(max_size=12), hostile_values)),
)
TAR_FIELDS = [(0, 100), (100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (156, 1), (157, 100), (257, 8),
              (265, 32), (297, 32), (329, 8), (337, 8), (345, 155)]  # ustar header fields, checksum aside
tar_field_mutation = st.tuples(st.just("tarfield"), st.tuples(st.integers(0, 2**16), st.integers(0, len(TAR_FIELDS) - 1),
                                                               st.binary(max_size=16)))
mutations = st.one_of(byte_mutation, json_mutation)
BYTES_ONLY = {"layer", "layer-tar", "docker-layer"}  # not JSON: only byte mutations make sense


def mutate_bytes(data: bytes, mutation: tuple[str, Any]) -> bytes:
    op, arg = mutation
    b = bytearray(data)
    if op == "flip":
        for pos, x in arg:
            if b:
                b[pos % len(b)] ^= x
    elif op == "cut":
        del b[arg % (len(b) + 1):]
    elif op == "insert":
        pos, extra = arg
        b[pos % (len(b) + 1):pos % (len(b) + 1)] = extra
    elif op == "append":
        b += arg
    elif op == "zero":
        pos, n = arg
        start = pos % (len(b) + 1)
        b[start:start + n] = bytes(len(b[start:start + n]))
    return bytes(b)


def mutate_tar_field(tar: bytes, arg: tuple[int, int, bytes]) -> bytes:
    """Overwrite the start of one header field of one tar header and fix the checksum,
    so the parser gets past the checksum to the field itself."""
    which, field, value = arg
    headers, pos = [], 0
    while pos + 512 <= len(tar) and tar[pos:pos + 512] != bytes(512):
        headers.append(pos)
        size = int(tar[pos + 124:pos + 135].strip(b"\0 ") or b"0", 8)
        pos += 512 + -(-size // 512) * 512
    if not headers:
        return tar
    start = headers[which % len(headers)]
    offset, length = TAR_FIELDS[field]
    h = bytearray(tar[start:start + 512])
    h[offset:offset + min(length, len(value))] = value[:length]
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return tar[:start] + bytes(h) + tar[start + 512:]


def json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in `doc` (keys and list indices), parents before children."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += json_paths(v, prefix + (i,))
    return out


def mutate_json(data: bytes, mutation: tuple[str, Any]) -> bytes:
    """Remove, retype or add one field; a document that is not JSON is left as it is."""
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    op, arg = mutation
    paths = json_paths(doc)
    if op == "add":
        pos, key, value = arg
        objects = [p for p in [()] + paths if isinstance(_get(doc, p), dict)]
        if objects:
            _get(doc, objects[pos % len(objects)])[key] = value
    elif paths:
        path = paths[(arg if op == "remove" else arg[0]) % len(paths)]
        parent = _get(doc, path[:-1])
        if op == "remove":
            del parent[path[-1]]
        else:
            parent[path[-1]] = arg[1]
    else:  # a scalar document
        doc = None if op == "remove" else arg[1]
    return _dumps(doc)


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _dumps(doc: Any) -> bytes:
    # allow_nan: NaN and Infinity are what a hostile writer would send, json.loads takes them
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def mutate(data: bytes, mutation: tuple[str, Any]) -> bytes:
    return mutate_json(data, mutation) if mutation[0] in ("remove", "retype", "add") else mutate_bytes(data, mutation)


# -- applying a mutation to one blob of an image -----------------------------------------------


def _digests(built: g.Built) -> dict[str, list[str]]:
    m, att = built.manifests[0], built.manifests[0].attestation_digest
    return {"index": [built.digest], "manifest": [m.digest, att] if att else [m.digest],
            "config": [m.config_digest], "layer": list(m.layer_digests)}


def oci_mutant(built: g.Built, kind: str, which: int, mutation: tuple[str, Any], rehash: bool) -> dict[str, bytes]:
    files = dict(built.files)
    if kind in ("index.json", "oci-layout"):
        files[kind] = mutate(files[kind], mutation)
        return files
    if kind == "layer-tar":
        return _layer_tar_mutant(built, files, which, mutation)
    digests = _digests(built)[kind]
    digest = digests[which % len(digests)]
    data = mutate(files[mc.blob_name(digest)], mutation)
    if rehash:
        mc.replace_blob(files, digest, data)
    else:
        files[mc.blob_name(digest)] = data
    return files


def _layer_tar_mutant(built: g.Built, files: dict[str, bytes], which: int, mutation: tuple[str, Any]) -> dict[str, bytes]:
    """Change the tar inside a layer; recompress it the same way; fix diffID and digests."""
    m = built.manifests[0]
    i = which % len(m.layer_digests)
    blob = files[mc.blob_name(m.layer_digests[i])]
    media_type = m.layer_media_types[i]
    if media_type.endswith("gzip"):
        tar, recompress = gzip.decompress(blob), lambda t: gzip.compress(t, mtime=0)
    elif media_type.endswith("zstd"):
        tar = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        recompress = zstandard.ZstdCompressor().compress
    else:
        tar, recompress = blob, lambda t: t
    new_tar = mutate_tar_field(tar, mutation[1]) if mutation[0] == "tarfield" else mutate_bytes(tar, mutation)
    new_blob = recompress(new_tar)
    config = m.config_digest
    mc.replace_blob(files, m.layer_digests[i], new_blob)
    mc.edit_json(files, config, lambda doc: doc["rootfs"]["diff_ids"].__setitem__(i, g.sha256(new_tar)))
    return files


def docker_mutant(built: g.Built, kind: str, which: int, mutation: tuple[str, Any], rehash: bool) -> dict[str, bytes]:
    files = dict(built.files)
    entry = json.loads(files["manifest.json"])[0]
    if kind == "manifest.json":
        files["manifest.json"] = mutate(files["manifest.json"], mutation)
    elif kind == "docker-config":
        name = entry["Config"]
        data = mutate(files.pop(name), mutation)
        if rehash:  # a config named by its new hash, and manifest.json pointing at it
            name = "blobs/sha256/" + g.sha256(data).split(":")[1]
            entry["Config"] = name
            files["manifest.json"] = g.canonical([entry])
        files[name] = data
    else:
        name = entry["Layers"][which % len(entry["Layers"])]
        files[name] = mutate(files[name], mutation)
    return files


# -- running -----------------------------------------------------------------------------------


def run_diff(capsys, a: str, b: str, report_dir: str | None = None) -> tuple[int, str, str]:
    from repro.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["diff", a, b, "--format", "json"] + (["--report-dir", report_dir] if report_dir else []))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def run_and_check(capsys, good: str, mutant: str, what: str) -> None:
    """Diff, with --report-dir in a sandbox of its own: whatever names the mutant holds,
    nothing may appear in the sandbox outside the report dir."""
    sandbox = mutant + ".box"
    os.mkdir(sandbox)
    try:
        report = os.path.join(sandbox, "report")
        code, out, err = run_diff(capsys, good, mutant, report)
        check(code, out, err, what)
        assert os.listdir(sandbox) == (["report"] if code in (0, 1) else []), what
        if code in (0, 1):
            assert os.path.isfile(os.path.join(report, "report.json"))
    finally:
        shutil.rmtree(sandbox)


def check(code: int, out: str, err: str, what: str) -> None:
    assert code in (0, 1, 2), f"{what}: exit {code}: {err}"
    assert "Traceback" not in err and "Exception in thread" not in err, f"{what}: {err}"
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("repro: error: "), f"{what}: {err!r}"
        assert out == ""
    else:
        doc = json.loads(out)
        assert doc["verdict"] == ("reproducible" if code == 0 else "not-reproducible"), what


@pytest.mark.parametrize("kind", OCI_KINDS)
def test_mutated_oci_images_give_exit_0_1_or_2_with_one_line(kind, bases, capsys):
    path = os.path.join(bases["dir"], f"mutant-{kind}.tar")

    mutation_kinds = mutations if kind not in BYTES_ONLY else (
        st.one_of(byte_mutation, tar_field_mutation) if kind == "layer-tar" else byte_mutation)

    @SETTINGS
    @given(which=st.integers(0, 10), mutation=mutation_kinds, rehash=st.booleans())
    def run(which, mutation, rehash):
        files = oci_mutant(bases["oci"], kind, which, mutation, rehash)
        g.write_files(files, path, "oci-archive")
        run_and_check(capsys, bases["good"], path, f"{kind} {mutation!r} rehash={rehash}")

    run()


@pytest.mark.parametrize("kind", DOCKER_KINDS)
def test_mutated_docker_archives_give_exit_0_1_or_2_with_one_line(kind, bases, capsys):
    path = os.path.join(bases["dir"], f"mutant-{kind}.tar")

    @SETTINGS
    @given(which=st.integers(0, 10), mutation=byte_mutation if kind in BYTES_ONLY else mutations, rehash=st.booleans())
    def run(which, mutation, rehash):
        files = docker_mutant(bases["docker"], kind, which, mutation, rehash)
        g.write_files(files, path, "docker-archive")
        run_and_check(capsys, bases["good-docker"], path, f"{kind} {mutation!r} rehash={rehash}")

    run()


def test_a_rehashed_mutation_reaches_the_parser_it_aims_at(bases, capsys):
    """Re-hashing works: a config with `architecture` retyped is consistent, so it is read
    as a (different) image; stored as is, the digest check catches it first."""
    config = bases["oci"].files[mc.blob_name(bases["oci"].manifests[0].config_digest)]
    assert json_paths(json.loads(config))[0] == ("architecture",)
    path = os.path.join(bases["dir"], "rehash.tar")
    g.write_files(oci_mutant(bases["oci"], "config", 0, ("retype", (0, 7)), rehash=True), path, "oci-archive")
    code, out, err = run_diff(capsys, bases["good"], path)
    assert code == 1, err
    g.write_files(oci_mutant(bases["oci"], "config", 0, ("retype", (0, 7)), rehash=False), path, "oci-archive")
    code, out, err = run_diff(capsys, bases["good"], path)
    assert code == 2 and ("digest mismatch" in err or "descriptor says" in err), err


def test_layer_tar_mutations_keep_the_image_consistent(bases, capsys):
    files = oci_mutant(bases["oci"], "layer-tar", 2, ("flip", [(1600, 0x01)]), rehash=True)
    path = os.path.join(bases["dir"], "tar.tar")
    g.write_files(files, path, "oci-archive")
    code, out, err = run_diff(capsys, bases["good"], path)
    assert code == 1, err
    assert [f["path"] for f in json.loads(out)["findings"] if f["kind"] == "file"] == ["srv/data"]


def test_mutators_are_total():
    """Mutations never raise, whatever the input (empty, not JSON, a scalar)."""
    for data in (b"", b"{}", b"[]", b"null", b"7", b"\xff", g.canonical({"a": [1, {"b": 2}]})):
        for mutation in (("flip", [(5, 1)]), ("cut", 3), ("insert", (1, b"x")), ("append", b"y"), ("zero", (0, 9)),
                         ("remove", 1), ("retype", (2, None)), ("add", (0, "k", 1))):
            assert isinstance(mutate(data, mutation), bytes)
