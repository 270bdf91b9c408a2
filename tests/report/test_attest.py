"""The attestation: an in-toto Statement v1 with an SLSA VSA v1 predicate."""

from __future__ import annotations

import json

import pytest

from repro.cli import main
from tests.imagegen import vary, write_image
from tests.imagegen import base_spec

# Field list of https://slsa.dev/spec/v1.0/verification_summary (required marked True).
VSA_FIELDS = {"verifier": True, "timeVerified": False, "resourceUri": True, "policy": True,
              "inputAttestations": False, "verificationResult": True, "verifiedLevels": True,
              "dependencyLevels": False, "slsaVersion": False}
RESOURCE_DESCRIPTOR_FIELDS = {"name", "uri", "digest", "content", "downloadLocation", "mediaType", "annotations"}


def check_vsa(st: dict) -> None:
    assert set(st) == {"_type", "subject", "predicateType", "predicate"}
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://slsa.dev/verification_summary/v1"
    for s in st["subject"]:
        assert set(s) <= RESOURCE_DESCRIPTOR_FIELDS and s["digest"]
        for alg, hexd in s["digest"].items():
            assert alg == "sha256" and len(hexd) == 64 and int(hexd, 16) >= 0
    p = st["predicate"]
    assert set(p) <= set(VSA_FIELDS)
    for k, required in VSA_FIELDS.items():
        assert not required or k in p, k
    assert isinstance(p["verifier"]["id"], str) and p["verifier"]["id"]
    assert all(isinstance(v, str) for v in p["verifier"]["version"].values())
    assert p["verificationResult"] in ("PASSED", "FAILED")
    assert all(not lvl.startswith("SLSA_") for lvl in p["verifiedLevels"])
    assert set(p["policy"]) <= RESOURCE_DESCRIPTOR_FIELDS and p["policy"]["digest"]["sha256"]
    for ia in p["inputAttestations"]:
        assert set(ia) <= RESOURCE_DESCRIPTOR_FIELDS and ia["digest"]["sha256"]
    assert p["timeVerified"].endswith("Z")


def run(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    capsys.readouterr()
    return e.value.code


def test_passed_bit_for_bit_names_the_image_and_the_policy(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    built = write_image(base_spec(), tmp_path / "b.tar")
    assert run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--attest", str(tmp_path / "v.json")) == 0
    st = json.loads((tmp_path / "v.json").read_text())
    check_vsa(st)
    p = st["predicate"]
    assert p["verificationResult"] == "PASSED" and p["verifiedLevels"] == ["REPRO_BIT_FOR_BIT"]
    assert st["subject"][0]["digest"]["sha256"] == built.digest.split(":")[1]
    assert [i["uri"] for i in p["inputAttestations"]] == [str(tmp_path / "a.tar"), str(tmp_path / "b.tar")]


def test_failed_and_semantic_policies_differ_in_digest(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"x"), tmp_path / "b.tar")
    assert run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--attest", str(tmp_path / "f.json")) == 1
    assert run(capsys, "diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--semantic", "--ignore", "etc/*",
               "--attest", str(tmp_path / "s.json")) == 0
    f, s = (json.loads((tmp_path / n).read_text()) for n in ("f.json", "s.json"))
    check_vsa(f)
    check_vsa(s)
    assert f["predicate"]["verificationResult"] == "FAILED" and f["predicate"]["verifiedLevels"] == ["FAILED"]
    assert s["predicate"]["verifiedLevels"] == ["REPRO_SEMANTIC"]
    assert s["predicate"]["policy"]["annotations"]["ignore"] == "etc/*"
    assert s["predicate"]["policy"]["digest"] != f["predicate"]["policy"]["digest"]
