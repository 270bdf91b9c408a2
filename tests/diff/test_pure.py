"""The differ's pure parts: entries, JSON documents, merged filesystems, policy."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from repro.diff.documents import compare_config
from repro.diff.entries import compare_entries, keyed, order_difference
from repro.diff.filesystem import MergedFS
from repro.diff.finding import Finding
from repro.diff.policy import Policy
from repro.oci.model import Entry


def E(path: str, **kw) -> Entry:
    base = dict(type="file", mode=0o644, uid=0, gid=0, uname="", gname="", size=1, mtime="1700000000",
                digest="sha256:" + "0" * 64)
    base.update(kw)
    return Entry(path=path, **base)


def make_file(path, field, a, b, entry_a=None, entry_b=None, **detail):
    return Finding("file", field, path=path, a=a, b=b, detail=detail)


names = st.text(alphabet="abcdef/._-", min_size=1, max_size=12).map(lambda s: s.strip("/") or "x")
entries = st.builds(
    E, names,
    type=st.sampled_from(["file", "dir", "symlink"]),
    mode=st.integers(0, 0o7777), uid=st.integers(0, 70000), gid=st.integers(0, 70000),
    uname=st.sampled_from(["", "root", "app"]), gname=st.sampled_from(["", "root"]),
    mtime=st.sampled_from(["0", "1700000000", "1700000000.5"]),
    linkname=st.sampled_from(["", "target"]),
    xattrs=st.dictionaries(st.sampled_from(["user.a", "security.capability"]), st.binary(max_size=4)).map(
        MappingProxyType),
    digest=st.sampled_from([None, "sha256:" + "1" * 64, "sha256:" + "2" * 64]),
)
layers = st.lists(entries, max_size=12)

MUTABLE = {
    "mode": lambda e: dataclasses.replace(e, mode=e.mode ^ 0o001),
    "uid": lambda e: dataclasses.replace(e, uid=e.uid + 1),
    "gid": lambda e: dataclasses.replace(e, gid=e.gid + 1),
    "uname": lambda e: dataclasses.replace(e, uname=e.uname + "x"),
    "gname": lambda e: dataclasses.replace(e, gname=e.gname + "x"),
    "mtime": lambda e: dataclasses.replace(e, mtime=e.mtime + "1"),
    "linkname": lambda e: dataclasses.replace(e, linkname=e.linkname + "x"),
    "devices": lambda e: dataclasses.replace(e, devminor=e.devminor + 1),
    "xattrs": lambda e: dataclasses.replace(e, xattrs=MappingProxyType({**e.xattrs, "user.new": b"1"})),
    "pax": lambda e: dataclasses.replace(e, pax=MappingProxyType({"atime": "1"})),
    "content": lambda e: dataclasses.replace(e, digest="sha256:" + "f" * 64),
    "type": lambda e: dataclasses.replace(e, type="fifo"),
}


@given(layers)
def test_layer_compared_with_itself_has_no_findings(es):
    k = keyed(es)
    assert compare_entries(k, k, make_file) == []
    assert order_difference(list(k), list(k)) is None


@settings(max_examples=200)
@given(layers.filter(bool), st.data(), st.sampled_from(sorted(MUTABLE)))
def test_one_mutated_field_gives_exactly_one_finding_naming_it(es, data, field):
    i = data.draw(st.integers(0, len(es) - 1))
    mutated = list(es)
    mutated[i] = MUTABLE[field](es[i])
    found = compare_entries(keyed(es), keyed(mutated), make_file)
    assert len(found) == 1
    assert found[0].field == field
    assert found[0].path == es[i].path


def _unique_paths(es):
    return list({e.path: e for e in es}.values())


@given(layers.map(_unique_paths).filter(bool), st.data())
def test_removed_entry_is_one_presence_finding(es, data):
    i = data.draw(st.integers(0, len(es) - 1))
    rest = es[:i] + es[i + 1:]
    found = compare_entries(keyed(es), keyed(rest), make_file)
    assert len(found) == 1
    f = found[0]
    assert (f.field, f.a, f.b) == ("presence", True, False)


def test_duplicate_paths_are_paired_by_occurrence():
    a = [E("x", mtime="1"), E("x", mtime="2")]
    b = [E("x", mtime="1"), E("x", mtime="3")]
    found = compare_entries(keyed(a), keyed(b), make_file)
    assert [(f.field, f.a, f.b, f.detail.get("occurrence")) for f in found] == [("mtime", "2", "3", 1)]


def test_reordered_entries_give_an_order_difference_naming_the_first_divergence():
    a = [E("a"), E("b"), E("c")]
    b = [E("a"), E("c"), E("b")]
    assert compare_entries(keyed(a), keyed(b), make_file) == []
    d = order_difference(list(keyed(a)), list(keyed(b)))
    assert d == {"position": 1, "path_a": "b", "path_b": "c", "entries": 3}


def test_config_compared_key_by_key():
    a = {"created": "2023-01-01T00:00:00Z", "architecture": "amd64",
         "config": {"Env": ["A=1", "B=2"], "Labels": {"x": "1", "y": "2"}, "Cmd": ["sh"]},
         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
         "history": [{"created_by": "RUN x", "created": "2023"}, {"created_by": "CMD", "empty_layer": True}]}
    b = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64",
         "config": {"Env": ["B=2", "A=1"], "Labels": {"x": "1", "y": "3"}, "Cmd": ["sh"]},
         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "2" * 64]},
         "history": [{"created_by": "RUN x", "created": "2024"}, {"created_by": "CMD", "empty_layer": True}]}
    got = [(f, va, vb, d) for f, va, vb, d in compare_config(a, b)]
    assert [g[0] for g in got] == ["config.Env", "config.Labels.y", "created", "history"]
    env = got[0]
    assert env[3]["order_only"] is True
    assert got[3][3] == {"index": 0, "key": "created"}


def test_merged_fs_applies_whiteouts_and_opaque_dirs_to_lower_layers_only():
    fs = MergedFS()
    fs.apply(0, [E("etc", type="dir", digest=None), E("etc/a"), E("etc/b"), E("var", type="dir", digest=None),
                 E("var/x")])
    fs.apply(1, [E("etc/.wh.a", type="whiteout", digest=None), E("var/.wh..wh..opq", type="opaque", digest=None),
                 E("var/y")])
    assert sorted(fs.entries) == ["etc", "etc/b", "var", "var/y"]
    assert fs.layer_of["var/y"] == 1 and fs.layer_of["etc/b"] == 0


def test_whiteout_of_a_directory_removes_its_tree():
    fs = MergedFS()
    fs.apply(0, [E("d", type="dir"), E("d/e", type="dir"), E("d/e/f"), E("dd")])
    fs.apply(1, [E(".wh.d", type="whiteout", digest=None)])
    assert sorted(fs.entries) == ["dd"]


def test_policy_ignores_globs_and_semantic_preset_and_says_why():
    p = Policy.make(True, ["/var/log/*"])
    assert p.reason(Finding("file", "content", path="var/log/dpkg.log")) == "ignore:var/log/*"
    assert p.reason(Finding("file", "mtime", path="x")) == "semantic:timestamps"
    assert p.reason(Finding("file", "content", path="x")) is None
    assert p.reason(Finding("layer", "order")) == "semantic:file-order"
    assert Policy.make(False, []).reason(Finding("file", "mtime", path="x")) is None
    doc = p.to_json()
    assert doc["mode"] == "semantic" and doc["ignore"] == ["var/log/*"]
    assert doc["digest"].startswith("sha256:") and doc["digest"] != Policy().to_json()["digest"]


def test_ignore_of_a_directory_covers_what_is_below_it():
    p = Policy.make(False, ["var/cache/"])
    assert p.reason(Finding("file", "content", path="var/cache/apt/pkgcache.bin")) == "ignore:var/cache/"
    assert p.reason(Finding("file", "content", path="var/cachex")) is None
