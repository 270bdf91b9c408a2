"""The differ on whole images written in-test: exact findings for chosen differences."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.cli import main
from repro.diff import DiffOptions, Policy, diff_images, fetch_contents
from repro.oci import open_image
from repro.oci.model import Platform
from tests import imagegen as g
from tests.imagegen import ImageSpec, IndexSpec, LayerSpec, base_spec, vary, write_image


def diff(tmp_path, spec_a, spec_b, fmt="oci-archive", **opts):
    pa = tmp_path / ("a.tar" if fmt != "oci" else "a")
    pb = tmp_path / ("b.tar" if fmt != "oci" else "b")
    write_image(spec_a, pa, fmt)
    write_image(spec_b, pb, fmt)
    with open_image(str(pa)) as a, open_image(str(pb)) as b:
        return diff_images(a, b, DiffOptions(**opts))


def only(result):
    assert len(result.findings) == 1, result.findings
    return result.findings[0]


@pytest.mark.parametrize("fmt", ["oci-archive", "oci", "docker-archive"])
def test_identical_images_have_no_findings(tmp_path, fmt):
    r = diff(tmp_path, base_spec(), base_spec(), fmt)
    assert r.reproducible and r.findings == ()
    assert all(p.equal for p in r.platforms)


@pytest.mark.parametrize("field,changes,a,b", [
    ("content", {"content": b"Wed Nov 15 08:00:00 UTC 2023\n"}, None, None),
    ("mode", {"mode": 0o600}, "0644", "0600"),
    ("mtime", {"mtime": "1700000123.5"}, "1700000000", "1700000123.5"),
    ("uid", {"uid": 1000}, 0, 1000),
    ("gname", {"gname": "staff"}, "", "staff"),
    ("xattrs", {"xattrs": {"user.k": b"v"}}, {}, {"user.k": "v"}),
    ("pax", {"pax": {"atime": "1700000001"}}, {}, {"atime": "1700000001"}),
])
def test_one_mutated_file_field_gives_exactly_one_finding_naming_it(tmp_path, field, changes, a, b):
    r = diff(tmp_path, base_spec(), vary(base_spec(), 1, "etc/stamp", **changes))
    f = only(r)
    assert (f.kind, f.field, f.layer, f.path, f.platform) == ("file", field, 1, "etc/stamp", "linux/amd64")
    assert f.instruction == "RUN date > /etc/stamp"
    if a is not None:
        assert (f.a, f.b) == (a, b)
    else:
        assert f.a.startswith("sha256:") and f.a != f.b


def test_symlink_target_change_is_a_linkname_finding(tmp_path):
    f = only(diff(tmp_path, base_spec(), vary(base_spec(), 1, "etc/link", linkname="stamp")))
    assert (f.field, f.path, f.a, f.b) == ("linkname", "etc/link", "hostname", "stamp")


def test_added_file_is_one_presence_finding(tmp_path):
    b = base_spec()
    b.layers[0].files.append(g.file("bin/extra", b"x"))
    f = only(diff(tmp_path, base_spec(), b))
    assert (f.kind, f.field, f.layer, f.path, f.a, f.b) == ("file", "presence", 0, "bin/extra", False, True)
    assert f.instruction == "COPY tool /bin/"


def test_config_label_and_created_are_key_by_key(tmp_path):
    b = base_spec()
    b.labels = {"org.example": "2"}
    b.created = "2024-01-01T00:00:00Z"
    r = diff(tmp_path, base_spec(), b)
    got = sorted((f.kind, f.field, f.a, f.b) for f in r.findings)
    # history entries carry created too
    assert ("config", "config.Labels.org.example", "1", "2") in got
    assert ("config", "created", g.CREATED, "2024-01-01T00:00:00Z") in got
    assert all(f.kind == "config" for f in r.findings)


def test_same_tar_different_compression_is_one_finding_and_never_decompressed(tmp_path, monkeypatch):
    b = copy.deepcopy(base_spec())
    b.layers[1].gzip_level = 1
    b.layers[1].gzip_mtime = 12345
    pa, pb = tmp_path / "a.tar", tmp_path / "b.tar"
    write_image(base_spec(), pa)
    write_image(b, pb)
    with open_image(str(pa)) as ia, open_image(str(pb)) as ib:
        def refuse(*a, **k):
            raise AssertionError("a layer with equal diffIDs was opened")
        monkeypatch.setattr(ia, "open_layer", refuse)
        monkeypatch.setattr(ib, "open_layer", refuse)
        r = diff_images(ia, ib)
    f = only(r)
    assert (f.kind, f.field, f.layer) == ("layer", "compression", 1)
    assert f.a != f.b and f.detail["diff_id"].startswith("sha256:")


def test_zstd_against_gzip_is_a_compression_finding_with_media_types(tmp_path):
    b = copy.deepcopy(base_spec())
    b.layers[0].compression = "zstd"
    f = only(diff(tmp_path, base_spec(), b))
    assert (f.kind, f.field, f.layer) == ("layer", "compression", 0)
    assert f.detail["media_type_b"].endswith("+zstd")


def test_entry_order_is_one_order_finding(tmp_path):
    b = copy.deepcopy(base_spec())
    files = b.layers[1].files
    files[1], files[3] = files[3], files[1]
    f = only(diff(tmp_path, base_spec(), b))
    assert (f.kind, f.field, f.layer) == ("layer", "order", 1)


def test_layer_count_difference_compares_merged_filesystems(tmp_path):
    b = copy.deepcopy(base_spec())
    b.layers.append(LayerSpec([g.whiteout("etc/stamp"), g.file("etc/new", b"n")], created_by="RUN rm x # buildkit"))
    r = diff(tmp_path, base_spec(), b)
    assert r.platforms[0].merged
    fields = sorted((f.kind, f.field, f.path) for f in r.findings)
    assert ("manifest", "layers", None) in fields
    assert ("file", "presence", "etc/stamp") in fields
    assert ("file", "presence", "etc/new") in fields
    assert not any(f.kind == "file" and f.field != "presence" for f in r.findings)


def test_platforms_are_paired_and_a_missing_one_is_an_index_presence_finding(tmp_path):
    amd = base_spec()
    arm = copy.deepcopy(base_spec())
    arm.platform = "linux/arm64"
    r = diff(tmp_path, IndexSpec([amd, arm]), IndexSpec([copy.deepcopy(amd)]))
    f = only(r)
    assert (f.kind, f.field, f.platform, f.a, f.b) == ("index", "presence", "linux/arm64", True, False)


def test_platform_option_selects_one_and_rejects_a_missing_one(tmp_path):
    amd = base_spec()
    arm = copy.deepcopy(base_spec())
    arm.platform = "linux/arm64"
    arm2 = vary(arm, 1, "etc/stamp", content=b"other")
    r = diff(tmp_path, IndexSpec([amd, arm]), IndexSpec([amd, arm2]), platform=Platform.parse("linux/amd64"))
    assert r.findings == ()
    from repro.errors import InputError
    with pytest.raises(InputError, match="linux/s390x"):
        diff(tmp_path, IndexSpec([amd]), IndexSpec([amd]), platform=Platform.parse("linux/s390x"))


def test_attestation_manifests_are_reported_apart(tmp_path):
    a, b = base_spec(), base_spec()
    a.attestation = b.attestation = True
    b.created = "2024-01-01T00:00:00Z"  # provenance differs with the build
    r = diff(tmp_path, a, b)
    att = [f for f in r.findings if f.detail.get("role") == "attestation"]
    assert len(att) == 1 and att[0].kind == "manifest"
    roles = sorted(p.role for p in r.platforms)
    assert roles == ["attestation", "image"]


def test_semantic_sets_timestamps_apart_and_lists_them(tmp_path):
    b = vary(base_spec(), 1, "etc/stamp", mtime="1700000999")
    b.created = "2024-01-01T00:00:00Z"
    r = diff(tmp_path, base_spec(), b, policy=Policy.make(True, []))
    assert r.reproducible
    reasons = {why for _, why in r.ignored}
    assert reasons == {"semantic:timestamps"}
    assert len(r.ignored) >= 2


def test_ignore_glob_sets_a_path_apart(tmp_path):
    r = diff(tmp_path, base_spec(), vary(base_spec(), 1, "etc/stamp", content=b"x"),
             policy=Policy.make(False, ["/etc/st*"]))
    assert r.reproducible and [why for _, why in r.ignored] == ["ignore:etc/st*"]


def test_docker_archive_against_oci_archive_of_the_same_tars_has_no_file_findings(tmp_path):
    write_image(base_spec(), tmp_path / "a.tar", "oci-archive")
    write_image(base_spec(), tmp_path / "d.tar", "docker-archive")
    with open_image(str(tmp_path / "a.tar")) as a, open_image(str(tmp_path / "d.tar")) as d:
        r = diff_images(a, d)
    assert not any(f.kind == "file" for f in r.findings)
    assert {f.field for f in r.findings if f.kind == "layer"} <= {"compression", "media_type"}


def test_content_of_differing_small_files_is_available_to_the_explainer(tmp_path):
    r = diff(tmp_path, base_spec(), vary(base_spec(), 1, "etc/stamp", content=b"Wed\n"))
    f = only(r)
    with fetch_contents(r) as contents:
        a, b = contents.pair(f)
    assert a == b"Tue Nov 14 22:13:20 UTC 2023\n" and b == b"Wed\n"


def test_files_over_the_capture_limit_are_not_given_to_the_explainer(tmp_path):
    pa, pb = tmp_path / "a.tar", tmp_path / "b.tar"
    write_image(base_spec(), pa)
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"Wed\n"), pb)
    with open_image(str(pa)) as a, open_image(str(pb)) as b:
        r = diff_images(a, b, DiffOptions(capture_limit=0))  # nothing is small enough to look inside
    with fetch_contents(r) as contents:
        assert contents.pair(only(r)) == (None, None)


# -- property: any image diffed with itself has no findings --------------------------

file_specs = st.lists(
    st.builds(
        g.file,
        st.text(alphabet="abcxyz_-.", min_size=1, max_size=8).filter(lambda s: s not in (".", "..")),
        st.binary(max_size=64),
        mode=st.sampled_from([0o644, 0o755, 0o600]),
        uid=st.integers(0, 2000),
        mtime=st.sampled_from([g.EPOCH, "1700000000.5", 0]),
    ),
    max_size=6, unique_by=lambda f: f.path)
image_specs = st.builds(
    lambda layers, labels: ImageSpec(layers=[LayerSpec(fs) for fs in layers], labels=labels),
    st.lists(file_specs, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.text(max_size=5), max_size=2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image_specs, st.sampled_from(["oci-archive", "docker-archive"]))
def test_any_image_diffed_with_an_identical_copy_has_no_findings(tmp_path_factory, spec, fmt):
    d = tmp_path_factory.mktemp("prop")
    r = diff(d, spec, copy.deepcopy(spec), fmt)
    assert r.findings == () and r.ignored == ()


# -- the command ----------------------------------------------------------------------


def run(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_cli_exit_codes_and_json_report(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(base_spec(), tmp_path / "same.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"Wed Nov 15 08:00:00 UTC 2023\n"), tmp_path / "b.tar")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "same.tar"))
    assert code == 0 and "REPRODUCIBLE" in out
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "repro-report/v1" and doc["verdict"] == "not-reproducible"
    assert [i["kind"] for i in doc["inputs"]] == ["oci-archive", "oci-archive"]
    (f,) = doc["findings"]
    assert (f["kind"], f["field"], f["layer"], f["path"], f["instruction"]) == (
        "file", "content", 1, "etc/stamp", "RUN date > /etc/stamp")
    assert doc["summary"]["findings"] == 1 and doc["summary"]["by_kind"] == {"file": 1}


def test_cli_text_report_groups_by_layer_with_instruction_and_counts(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", mode=0o600), tmp_path / "b.tar")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"))
    assert code == 1
    assert "layer 1  RUN date > /etc/stamp" in out
    assert "etc/stamp  mode: 0644 → 0600" in out
    assert out.rstrip().splitlines()[-1].startswith("NOT REPRODUCIBLE: 1 finding")


def test_cli_output_file_is_written_atomically_and_nothing_else(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(base_spec(), tmp_path / "b.tar")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "json",
                         "-o", str(out_dir / "r.json"))
    assert code == 0 and out == ""
    assert [p.name for p in out_dir.iterdir()] == ["r.json"]
    assert json.loads((out_dir / "r.json").read_text())["verdict"] == "reproducible"


def test_cli_output_into_a_missing_directory_is_exit_2(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    code, _, err = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "a.tar"), "-o",
                       str(tmp_path / "no" / "r.json"))
    assert code == 2 and err.startswith("repro: error:") and "Traceback" not in err


def test_inspect_lists_layers_with_instructions_and_files(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    code, out, _ = run(capsys, "inspect", str(tmp_path / "a.tar"), "--files")
    assert code == 0
    assert "RUN date > /etc/stamp" in out and "etc/hostname" in out and "linux/amd64" in out


@pytest.mark.parametrize("flag,value", [("--max-entries-per-layer", "2"), ("--max-layers", "1"),
                                        ("--max-json-bytes", "100")])
def test_limit_flags_reach_the_reader_and_name_themselves(capsys, tmp_path, flag, value):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"x"), tmp_path / "b.tar")
    code, out, err = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), flag, value)
    assert code == 2 and out == ""
    assert err.startswith("repro: error:") and f"raise with {flag}" in err
    code, _, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), flag, "100000000")
    assert code == 1


def _corrupt_shared_layer_copy(tmp_path):
    """a.tar and b.tar share every layer; b.tar's copy of layer 0 has one byte flipped."""
    built = write_image(base_spec(), tmp_path / "a.tar")
    spec_b = base_spec()
    spec_b.annotations = {"org.example.note": "b"}  # another manifest, same layers
    built_b = write_image(spec_b, tmp_path / "b.tar")
    name = built_b.blob_name(built_b.manifests[0].layer_digests[0])
    files = dict(built_b.files)
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0xFF
    files[name] = bytes(data)
    g.write_files(files, tmp_path / "b.tar", "oci-archive")
    return built, built_b.manifests[0].layer_digests[0]


def test_a_corrupted_copy_of_a_shared_layer_is_exit_2_not_a_verdict(capsys, tmp_path):
    _, digest = _corrupt_shared_layer_copy(tmp_path)
    code, out, err = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"))
    assert code == 2 and out == "" and digest[:19] in err


def test_trust_equal_digests_skips_hashing_shared_layers_and_says_so(capsys, tmp_path):
    _corrupt_shared_layer_copy(tmp_path)
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--trust-equal-digests",
                       "--format", "json")
    assert code == 1  # the manifest annotation differs; the damaged shared blob was never read
    doc = json.loads(out)
    assert doc["verification"] == {"blobs_read": "hashed", "blobs_not_read": "trusted by digest"}
    assert [(f["kind"], f["field"]) for f in doc["findings"]] == [("manifest", "annotations")]


def test_semantic_sets_attestations_apart_but_bit_for_bit_counts_them(tmp_path):
    published, rebuilt = base_spec(), base_spec()
    published.attestation = True  # as buildx pushes it; the rebuild has attestations off
    r = diff(tmp_path, published, rebuilt)
    att = [(f.kind, f.field) for f in r.findings if f.detail.get("role") == "attestation"]
    assert att == [("index", "presence")]
    r = diff(tmp_path, published, rebuilt, policy=Policy.make(True, []))
    # (imagegen names the image on the index descriptor only when there is an index)
    assert r.reproducible and "semantic:attestations" in {why for _, why in r.ignored}
    assert [why for f, why in r.ignored if f.detail.get("role") == "attestation"] == ["semantic:attestations"]
