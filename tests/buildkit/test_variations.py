"""Each variation for real, on rootful and rootless daemons: its testdata context
(testdata/contexts/vary-NAME) is reproducible without it, caught with it, and attributed
to it by --bisect; nothing of any variation reaches an image."""

from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

from repro.buildkit import BuildSpec, build_many
from repro.buildkit.variations import VARIATIONS
from tests.buildkit.vary_cases import EPOCH, run_case
from tests.buildkit_fixtures import context, expected, manifest_digests

pytestmark = pytest.mark.buildkit

# every variation a build can show (build_path cannot: BuildKit never passes the client's
# path into a build; docs/variations.md)
BUSYBOX = [n for n in VARIATIONS if n not in ("build_path", "time")]


def _check(case: dict, name: str) -> None:
    want = expected(f"vary-{name}")
    assert want["variation"] == name
    assert case["without"] == [], f"vary-{name} differs without {name}: {case['without']}"
    assert case["with"], f"vary-{name} is not caught by {name}"
    for diff in want["differences"]:
        if "path" in diff:
            assert (diff["path"], diff["field"]) in [tuple(x) for x in case["with"]], case["with"]
        else:
            assert any(p.startswith(diff["path_glob"].rstrip("*")) and f == diff["field"] for p, f in case["with"])
    assert set(map(tuple, map(list, case["provoked_by"].values()))) == {(name,)}, case["provoked_by"]
    assert case["bisect_builds"] == 3  # two references and the one variation
    applied = {a["name"]: a for a in case["applied"]}
    assert applied[name]["applied"] and not applied[name].get("not_applied"), applied


@pytest.mark.parametrize("name", BUSYBOX)
def test_variation_is_caught_and_attributed(name, isolated, buildkit_tools, base_image, tmp_path):
    _check(run_case(name, base_image.build_context, str(tmp_path)), name)


def test_time_shift_is_caught_in_a_glibc_rootfs_and_attributed(isolated, buildkit_tools, debian_base, tmp_path):
    _check(run_case("time", debian_base.build_context, str(tmp_path)), "time")


@pytest.mark.parametrize("name", BUSYBOX)
def test_variation_is_caught_and_attributed_on_rootless_daemons(name, rootless_user, isolated, tmp_path):
    _rootless_case(name, rootless_user, rootless_user.base)


def test_time_shift_is_caught_and_attributed_on_rootless_daemons(rootless_user, debian_base, isolated, tmp_path):
    _rootless_case("time", rootless_user, rootless_user.readable(debian_base, "debian"))


def _rootless_case(name: str, rootless_user, base) -> None:
    tmp, work = rootless_user.private_dir("rbt-rlv-"), rootless_user.private_dir("rbt-rlv-work-")
    try:
        proc = rootless_user.run_python(
            f"import json, tempfile\ntempfile.tempdir = {tmp!r}\n"
            "from tests.buildkit.vary_cases import build_case, judge_case\n"
            f"built = build_case({name!r}, {base.build_context!r}, {work!r})\n"
            f"print(json.dumps({{'built': built, 'case': judge_case({name!r}, built)}}))", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert all(os.stat(p).st_uid == rootless_user.uid for p in out["built"]["with"])  # the user's daemons built
        _check(out["case"], name)  # and the user's repro compared and bisected
        assert os.listdir(tmp) == []  # daemons, sync dirs and work dirs all gone
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_the_time_record_says_where_libfaketime_could_not_reach(isolated, buildkit_tools, base_image, tmp_path):
    spec = BuildSpec(context=context("vary-stagger"), source_date_epoch=EPOCH,
                     build_contexts=(base_image.build_context,))
    results = build_many(spec, 2, str(tmp_path / "out"), vary="time", progress="quiet")
    (record,) = results[1].variations
    assert record.name == "time" and not record.applied
    assert record.not_applied == "in the only RUN step: the rootfs has no glibc (static binaries)"
    assert results[0].variations == ()  # the control is never varied


@pytest.mark.parametrize("base", ["busybox", "debian"])
def test_nothing_of_any_variation_reaches_the_image(base, isolated, buildkit_tools, base_image, debian_base,
                                                     tmp_path):
    image = base_image if base == "busybox" else debian_base
    spec = BuildSpec(context=context("vary-robust"), source_date_epoch=EPOCH, build_contexts=(image.build_context,))
    results = build_many(spec, 3, str(tmp_path / "out"), vary="all", progress="quiet")
    applied = {a.name for a in results[1].variations if a.applied}
    # every RUN-step variation took effect, the clock shift too where glibc is
    assert {"kernel", "memory", "num_cpus", "umask", "timezone", "locales", "domain_host", "environment",
            "exec_path"} <= applied
    assert ("time" in applied) == (base == "debian")
    digests = {manifest_digests(r.path)[0] for r in results}
    assert len(digests) == 1, "a varied build of vary-robust differs from the control"
    with tarfile.open(results[1].path) as tf:
        names = [m.name for m in tf.getmembers()]
        index = json.load(tf.extractfile("index.json"))
        manifest = json.load(tf.extractfile("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        for layer in manifest["layers"][1:]:  # what the RUN steps made
            with tarfile.open(fileobj=tf.extractfile("blobs/sha256/" + layer["digest"].split(":")[1])) as lt:
                paths = lt.getnames()
            assert not any("repro" in p or p.startswith("dev/") for p in paths), paths
    assert names  # the tarball was read


def test_a_shifted_clock_still_updates_apt_and_downloads_over_https(isolated, buildkit_tools, debian_base, tmp_path):
    import datetime

    hostca = tmp_path / "hostca"
    hostca.mkdir()
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", hostca)
    spec = BuildSpec(context=context("vary-time-network"), source_date_epoch=EPOCH,
                     build_contexts=(debian_base.build_context, f"hostca={hostca}"))
    results = build_many(spec, 2, str(tmp_path / "out"), vary="time", progress="quiet")
    (record,) = results[1].variations
    assert record.name == "time" and record.applied and not record.not_applied  # in both RUN steps
    dates = [_file(r.path, "shifted-date").split() for r in results]
    control, shifted = ([datetime.date.fromisoformat(d) for d in ds] for ds in dates)
    assert all(s - c >= datetime.timedelta(days=1) for c, s in zip(control, shifted)), dates


def _file(oci_tar: str, path: str) -> str:
    """A file's text from the top layer that holds it."""
    with tarfile.open(oci_tar) as tf:
        index = json.load(tf.extractfile("index.json"))
        manifest = json.load(tf.extractfile("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        for layer in reversed(manifest["layers"]):
            with tarfile.open(fileobj=tf.extractfile("blobs/sha256/" + layer["digest"].split(":")[1])) as lt:
                if path in lt.getnames():
                    return lt.extractfile(path).read().decode()
    raise AssertionError(f"{path} not in {oci_tar}")


def test_a_buildx_builder_gets_what_can_be_applied_and_the_rest_is_said_plainly(isolated, buildx_remote, base_image,
                                                                                   tmp_path):
    spec = BuildSpec(context=context("vary-kernel"), source_date_epoch=EPOCH, build_contexts=(base_image.build_context,))
    results = build_many(spec, 2, str(tmp_path / "out"), builders=("buildctl", buildx_remote.ref), vary="default",
                         progress="quiet")
    assert results[1].builder == buildx_remote.ref
    rec = {a.name: a for a in results[1].variations}
    assert {n for n, a in rec.items() if a.applied} == {"stagger", "build_path", "context_mtimes"}
    for name in ("time", "num_cpus", "kernel", "memory"):
        assert rec[name].not_applied == (f"buildx builder {buildx_remote.name} (remote driver) runs a BuildKit repro "
                                         "did not start, so repro cannot reach inside its RUN steps"), rec[name]
    assert results[1].started - results[0].started >= 2.0  # the stagger still applies
    # and indeed the kernel was not varied: the images agree
    assert manifest_digests(results[0].path) == manifest_digests(results[1].path)


def test_nothing_of_any_variation_reaches_the_image_on_rootless_daemons(rootless_user, isolated, tmp_path):
    tmp, out = rootless_user.private_dir("rbt-rlr-"), rootless_user.private_dir("rbt-rlr-out-")
    try:
        proc = rootless_user.run_python(
            f"import json, tempfile\ntempfile.tempdir = {tmp!r}\n"
            "from repro.buildkit import BuildSpec, build_many\n"
            f"spec = BuildSpec(context={context('vary-robust')!r}, source_date_epoch={EPOCH},\n"
            f"                 build_contexts=({rootless_user.base.build_context!r},))\n"
            f"rs = build_many(spec, 2, {out!r}, vary='all', progress='quiet')\n"
            "print(json.dumps([[r.path, [a.name for a in r.variations if a.applied]] for r in rs]))", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (control, _), (varied, applied) = json.loads(proc.stdout.strip().splitlines()[-1])
        assert {"kernel", "memory", "num_cpus", "umask", "timezone", "locales", "domain_host"} <= set(applied)
        assert manifest_digests(control) == manifest_digests(varied)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
