"""The cause catalogue: ids, path rules, generic field rules, and explain's contract."""

from __future__ import annotations

import gzip
import json
import os
import re
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.diff.finding import Finding
from repro.explain import BY_ID, CATALOGUE, explain
from repro.explain.globs import glob_match

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "causes.md")


def doc_table() -> str:
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    return text.split("<!-- causes:begin -->\n", 1)[1].split("<!-- causes:end -->", 1)[0]


# the ids of docs/causes.md, kept exactly
DOC_IDS = set(re.findall(r"^\| `([a-z0-9-]+)` \|", doc_table(), re.M))


def one(f: Finding, a: bytes | None = None, b: bytes | None = None, **kw) -> Finding:
    contents = (lambda _: (a, b)) if a is not None or b is not None else None
    (out,) = explain([f], contents=contents, **kw)
    return out


def file(path: str, field: str = "content", a=None, b=None, **detail) -> Finding:
    return Finding(kind="file", field=field, path=path, a=a, b=b,
                   detail=MappingProxyType(detail))


def test_docs_table_is_the_catalogue():
    # regenerate with: python3 -c "from repro.explain.catalogue import markdown_table; print(markdown_table(), end='')"
    from repro.explain.catalogue import markdown_table

    assert doc_table() == markdown_table()
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    for heading in ("Experiment", "Path rule", "Format drill-down", "Instruction", "Content heuristic"):
        assert f"**{heading}.**" in text


def test_catalogue_docstring_points_to_a_document_that_exists():
    import repro.explain.catalogue as cat

    docs = re.findall(r"docs/[\w./-]+\.md", cat.__doc__ or "")
    assert docs and all(os.path.exists(os.path.join(os.path.dirname(os.path.dirname(DOCS)), d)) for d in docs)


def test_catalogue_has_every_documented_cause_once():
    ids = [c.id for c in CATALOGUE]
    assert len(ids) == len(set(ids)) and set(ids) == DOC_IDS
    for c in CATALOGUE:
        assert c.title and c.why and c.hint and c.example, c.id
        # every cause is recognisable: by a rule, a command, or (unknown) by nothing else
        assert c.rules or c.commands or c.id == "unknown", c.id


@pytest.mark.parametrize(("path", "cause"), [
    ("var/log/dpkg.log", "dpkg-apt-logs"),
    ("var/log/apt/history.log", "dpkg-apt-logs"),
    ("var/log/apt/eipp.log.xz", "dpkg-apt-logs"),
    ("var/log/alternatives.log", "dpkg-apt-logs"),
    ("var/cache/ldconfig/aux-cache", "ldconfig-aux-cache"),
    ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "apt-lists-cache"),
    ("var/cache/apt/pkgcache.bin", "apt-lists-cache"),
    ("var/cache/man/index.db", "distro-state"),
    ("var/cache/fontconfig/abc-le64.cache-8", "distro-state"),
    ("var/cache/debconf/config.dat-old", "distro-state"),
    ("var/lib/dnf/history.sqlite", "distro-state"),
    ("etc/machine-id", "machine-id"),
    ("var/lib/systemd/random-seed", "machine-id"),
    ("etc/ssh/ssh_host_rsa_key", "ssh-host-keys"),
    ("etc/ssh/ssh_host_ed25519_key.pub", "ssh-host-keys"),
    ("usr/lib/python3/dist-packages/foo-1.0.dist-info/RECORD", "python-record"),
    ("usr/local/lib/python3.11/site-packages/foo-1.0.dist-info/RECORD", "python-record"),
    ("root/.npm/_cacache/index-v5/aa/bb", "npm-cache"),
    ("root/.npm/_logs/2023-11-14T22_13_20_000Z-debug-0.log", "npm-cache"),
    ("home/node/.npm/_cacache/content-v2/sha512/x", "npm-cache"),
    ("root/.cache/pip/http-v2/a/b/c", "tool-cache"),
    ("usr/local/share/.cache/yarn/v6/.tmp/x", "tool-cache"),
    ("tmp/build.log", "tool-cache"),
    ("tmp/pip-xyz/mod.cpython-311.pyc", "tool-cache"),  # more specific than *.pyc
])
def test_path_rules(path, cause):
    out = one(file(path))
    assert out.cause == cause
    assert out.hint == BY_ID[cause].hint


def test_path_rules_cover_presence_and_size_but_not_mtime():
    assert one(file("etc/ssh/ssh_host_rsa_key", "presence", True, False)).cause == "ssh-host-keys"
    assert one(file("var/log/dpkg.log", "size", 10, 12)).cause == "dpkg-apt-logs"
    assert one(file("var/log/dpkg.log", "mtime", "1700000000", "1700000100")).cause == "file-mtime"


def test_npm_cache_tarball_is_npm_cache_before_gzip_header():
    a, b = gzip.compress(b"x" * 99, mtime=1), gzip.compress(b"x" * 99, mtime=2)
    out = one(file("root/.npm/_cacache/content-v2/sha512/ab/cd"), a, b)
    assert out.cause == "npm-cache" and out.detail["format"] == "gzip"


def test_shadow_lastchange_needs_only_the_third_field_to_differ():
    a = b"root:*:19675:0:99999:7:::\napp:!:19675:0:99999:7:::\n"
    b = b"root:*:19675:0:99999:7:::\napp:!:19676:0:99999:7:::\n"
    assert one(file("etc/shadow"), a, b).cause == "shadow-lastchange"
    assert one(file("etc/shadow-"), a, b).cause == "shadow-lastchange"
    salted = (b"app:$y$j9T$abcdefgh$aaaaaaaaaaaaaaaaaaaa:19675:0:99999:7:::\n",
              b"app:$y$j9T$qrstuvwx$bbbbbbbbbbbbbbbbbbbb:19675:0:99999:7:::\n")
    assert one(file("etc/shadow"), *salted).cause == "random-content"  # a new salt
    assert one(file("etc/shadow")).cause == "unknown"  # no bytes, no claim


def test_apk_virtual_versions_are_apk_virtual_and_real_versions_unpinned_input():
    world = (b"busybox\n.build-deps=20231114.221320\n", b"busybox\n.build-deps=20231114.221544\n")
    assert one(file("etc/apk/world"), *world).cause == "apk-virtual"
    db = (b"P:.build-deps\nV:20231114.221320\nA:noarch\n",
          b"P:.build-deps\nV:20231114.221544\nA:noarch\n")
    assert one(file("lib/apk/db/installed"), *db).cause == "apk-virtual"
    real = (b"P:musl\nV:1.2.4-r1\n", b"P:musl\nV:1.2.4-r2\n")
    assert one(file("lib/apk/db/installed"), *real).cause == "unpinned-input"


def test_dpkg_status_version_change_is_unpinned_input():
    a = b"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n\n"
    b = b"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u1\n\n"
    assert one(file("var/lib/dpkg/status"), a, b).cause == "unpinned-input"
    assert one(file("usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                    "presence", True, False)).cause == "unpinned-input"


def test_mtime_rules_use_source_date_epoch():
    f = file("app/x", "mtime", "1600000000", "1600000123.5")
    assert one(f).cause == "file-mtime"
    assert one(f, source_date_epoch=1_700_000_000).cause == "mtime-older-than-epoch"
    assert one(f, source_date_epoch=1_600_000_100).cause == "file-mtime"  # one side is newer
    clamped = file("app/x", "mtime", "1600000000", "1700000000")  # fresh checkout, clamped to the epoch
    assert one(clamped, source_date_epoch=1_700_000_000).cause == "mtime-older-than-epoch"
    both_clamped_or_newer = file("app/x", "mtime", "1700000000", "1700000001")
    assert one(both_clamped_or_newer, source_date_epoch=1_700_000_000).cause == "file-mtime"


@pytest.mark.parametrize(("finding", "cause"), [
    (Finding(kind="config", field="created", a="2023-11-14T22:13:20Z",
             b="2023-11-14T22:14:00Z"), "image-created"),
    (Finding(kind="config", field="history", a=[{"created": "1", "created_by": "RUN x"}],
             b=[{"created": "2", "created_by": "RUN x"}]), "image-created"),
    (Finding(kind="config", field="history[2].created", a="1", b="2"), "image-created"),
    (Finding(kind="config", field="config.Labels.org.opencontainers.image.created",
             a="1", b="2"), "image-created"),
    (Finding(kind="manifest", field="annotations",
             a={"org.opencontainers.image.created": "1", "x": "y"},
             b={"org.opencontainers.image.created": "2", "x": "y"}), "image-created"),
    # the differ's shapes: one finding per history entry key / annotation key
    (Finding(kind="config", field="history", a="2023-11-14T22:13:20Z", b="2023-11-14T22:14:00Z",
             detail=MappingProxyType({"index": 3, "key": "created"})), "image-created"),
    (Finding(kind="index", field="annotations", a="1", b="2",
             detail=MappingProxyType({"key": "org.opencontainers.image.created"})),
     "image-created"),
    (Finding(kind="index", field="annotations", a=None, b="attestation-manifest",
             detail=MappingProxyType({"key": "vnd.docker.reference.type"})), "attestation"),
    (Finding(kind="layer", field="diff_id", layer=2, a="sha256:a", b="sha256:b",
             detail=MappingProxyType({"note": "every entry is equal"})), "tar-format"),
    (Finding(kind="config", field="moby.buildkit.cache.v0", a="abc", b="def"), "inline-cache"),
    (Finding(kind="layer", field="compression", layer=1, a="sha256:a", b="sha256:b"),
     "compression"),
    # alone, Docker vs OCI media types are the same image packaged another way (with other
    # differences beside them, media-types: tests/cli/test_packaging.py)
    (Finding(kind="manifest", field="media_type", a="application/vnd.oci.image.manifest.v1+json",
             b="application/vnd.docker.distribution.manifest.v2+json"), "packaging"),
    (Finding(kind="layer", field="media_type", layer=0, a="x", b="y"), "media-types"),
    (Finding(kind="manifest", field="digest", detail=MappingProxyType({"role": "attestation"})),
     "attestation"),
    (Finding(kind="index", field="manifests", a=[{"annotations": {
        "vnd.docker.reference.type": "attestation-manifest"}}], b=[]), "attestation"),
    (Finding(kind="file", field="order", layer=0, path="etc", a=3, b=4), "file-order"),
    (Finding(kind="file", field="pax", path="etc/x", a={"atime": "1"}, b={}), "tar-format"),
    (Finding(kind="file", field="uid", path="app", a=0, b=1000), "ownership"),
    (Finding(kind="file", field="gname", path="app", a="root", b="staff"), "ownership"),
    (Finding(kind="file", field="mode", path="app", a="0o755", b="0o775"), "ownership"),
    (Finding(kind="file", field="linkname", path="usr/bin/a", a="usr/bin/b", b="usr/bin/c",
             detail=MappingProxyType({"type": "hardlink"})), "hardlinks"),
    (Finding(kind="file", field="type", path="usr/bin/a", a="hardlink", b="file"), "hardlinks"),
])
def test_generic_rules(finding, cause):
    assert one(finding).cause == cause


def test_history_with_other_changes_is_not_image_created():
    f = Finding(kind="config", field="history", a=[{"created": "1", "created_by": "RUN a"}],
                b=[{"created": "2", "created_by": "RUN b"}])
    assert one(f).cause == "unknown"
    g = Finding(kind="config", field="history", a="RUN a", b="RUN b",
                detail=MappingProxyType({"index": 1, "key": "created_by"}))
    assert one(g).cause == "unknown"


def test_symlink_target_is_not_hardlinks():
    f = Finding(kind="file", field="linkname", path="a", a="b", b="c",
                detail=MappingProxyType({"type": "symlink"}))
    assert one(f).cause == "unknown"


def test_builder_version_is_a_fallback_only():
    odd = Finding(kind="config", field="config.Env", a=["A=1"], b=["A=2"])
    assert one(odd).cause == "unknown"
    assert one(odd, builder_versions=("v0.12.5", "v0.13.0")).cause == "builder-version"
    assert one(odd, builder_versions=("v0.13.0", "v0.13.0")).cause == "unknown"
    mtime = file("x", "mtime", "1", "2")
    assert one(mtime, builder_versions=("v0.12.5", "v0.13.0")).cause == "file-mtime"


def test_unexplained_content_still_gets_its_look_and_a_diffoscope_hint():
    out = one(file("etc/app.conf"), b"a=1\n", b"a=2\n")
    assert out.cause == "unknown" and "diff" in out.detail
    assert out.hint == ("no known cause: `--report-dir repro-report` writes both sides to "
                        "`repro-report/a/etc/app.conf` and `repro-report/b/etc/app.conf`; then "
                        "`diffoscope repro-report/a/etc/app.conf repro-report/b/etc/app.conf`")


def test_existing_cause_and_differ_detail_are_kept():
    pre = Finding(kind="file", field="mtime", path="x", a="1", b="2", cause="custom", hint="h")
    assert one(pre) is pre
    f = file("etc/machine-id", role="image", format="mine")
    out = one(f, b"0123456789abcdef0123456789abcdef\n", b"fedcba9876543210fedcba9876543210\n")
    assert out.cause == "machine-id"
    assert out.detail["role"] == "image" and out.detail["format"] == "mine"  # differ's keys win


def test_contents_is_only_asked_for_content_findings():
    asked = []

    def lookup(f):
        asked.append(f.field)
        return None, b"x"

    fs = [file("a", "mtime", "1", "2"), file("b", "presence", True, False), file("c")]
    out = explain(fs, contents=lookup)
    assert asked == ["content"] and dict(out[2].detail) == {"evidence": "none"}


def test_globs():
    assert glob_match("**/*.pyc", "a.pyc") and glob_match("**/*.pyc", "x/y/a.pyc")
    assert glob_match("etc/ssh/ssh_host_*", "etc/ssh/ssh_host_rsa_key")
    assert not glob_match("etc/ssh/ssh_host_*", "etc/ssh/ssh_host_x/y")
    assert not glob_match("var/cache/apt/*.bin", "var/cache/apt/sub/x.bin")
    assert glob_match("tmp/**", "tmp/a/b") and not glob_match("tmp/**", "tmpx/a")


# --- explain never drops, merges or reorders ----------------------------------------------

PATHS = ["var/log/dpkg.log", "etc/machine-id", "usr/lib/x.pyc", "a/b.gz", "app.jar", "x.tar",
         "etc/shadow", "data/stamp.txt", "usr/bin/tool", "tmp/x", "lib/apk/db/installed"]
FIELDS = ["content", "mtime", "presence", "size", "uid", "mode", "order", "pax", "linkname",
          "type", "created", "history", "compression", "media_type", "annotations",
          "moby.buildkit.cache.v0", "config.Labels.x", "digest"]
KINDS = ["index", "manifest", "config", "layer", "file"]
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=4)
magic = st.sampled_from([b"", b"\x1f\x8b\x08", b"PK\x03\x04", b"\x7fELF\x02\x01", b"\xa7\r\r\n"])
blob = st.one_of(st.none(), st.builds(lambda m, r: m + r, magic, st.binary(max_size=200)))

findings = st.builds(
    lambda kind, field, path, a, b, detail, layer: Finding(
        kind=kind, field=field, path=path, a=a, b=b, layer=layer,
        detail=MappingProxyType(detail)),
    st.sampled_from(KINDS), st.sampled_from(FIELDS), st.one_of(st.none(), st.sampled_from(PATHS)),
    json_value, json_value,
    st.dictionaries(st.sampled_from(["role", "type", "x"]), json_scalar, max_size=2),
    st.one_of(st.none(), st.integers(0, 5)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(findings, blob, blob), max_size=6),
       st.one_of(st.none(), st.integers(0, 2_000_000_000)))
def test_explain_never_drops_merges_or_reorders(items, epoch):
    table = {id(f): (a, b) for f, a, b in items}
    ins = [f for f, _, _ in items]
    outs = explain(ins, contents=lambda f: table[id(f)], source_date_epoch=epoch)
    assert len(outs) == len(ins)
    for fin, fout in zip(ins, outs):
        for name in ("kind", "field", "platform", "layer", "instruction", "path", "a", "b"):
            assert getattr(fout, name) == getattr(fin, name)
        for k, v in fin.detail.items():
            assert fout.detail[k] == v
        assert fout.cause in BY_ID and fout.hint
        assert fout.cause == "unknown" or fout.hint.endswith(BY_ID[fout.cause].hint) or fout.kind == "file"
        json.dumps(fout.to_json())


def test_explain_accepts_any_iterable_and_keeps_length():
    fs = (file(f"f{i}", "mtime", "1", "2") for i in range(5))
    assert [f.path for f in explain(fs)] == [f"f{i}" for i in range(5)]


def test_random_machine_id_gets_path_cause_and_random_detail():
    a, b = os.urandom(16).hex().encode() + b"\n", os.urandom(16).hex().encode() + b"\n"
    out = one(file("etc/machine-id"), a, b)
    assert out.cause == "machine-id" and out.detail["random"]["alphabet"] == 16
