"""repro.buildkit without a daemon: specs, epochs, build contexts, parsing, doctor."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.buildkit_fixtures import load_make_base
from repro.buildkit import (BuildSpec, buildkit_error_lines, context_args, doctor, find_buildkit,
                            resolve_oci_layout, resolve_source_date_epoch)
from repro.buildkit.buildctl import buildctl_argv
from repro.buildkit.runner import progress_mode
from repro.buildkit.daemon import parse_workers
from repro.buildkit.spec import split_oci_layout_ref, validate_spec
from repro.buildkit.tools import Tools
from repro.buildkit.variations import BuildVariations
from repro.buildkit.variations._context import shift_mtimes
from repro.errors import InputError, ToolMissing

E = 1700000000


def git(repo, *args, env=None):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


# SOURCE_DATE_EPOCH ---------------------------------------------------------------------

def test_explicit_epoch_wins(tmp_path):
    assert resolve_source_date_epoch(str(tmp_path), 1234) == 1234
    assert resolve_source_date_epoch(str(tmp_path), "42") == 42


@pytest.mark.parametrize("bad", ["soon", "-1", "1.5"])
def test_bad_explicit_epoch_is_input_error(tmp_path, bad):
    with pytest.raises(InputError, match="--source-date-epoch"):
        resolve_source_date_epoch(str(tmp_path), bad)


def test_epoch_defaults_to_last_commit_time(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    git(tmp_path, "add", "Dockerfile")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "GIT_AUTHOR_DATE": "@1600000000 +0000",
           "GIT_COMMITTER_DATE": "@1650000000 +0000"}
    git(tmp_path, "commit", "-q", "-m", "x", env=env)
    (tmp_path / "sub").mkdir()
    assert resolve_source_date_epoch(str(tmp_path / "sub"), None) == 1650000000  # committer time


def test_environment_epoch_is_never_used_silently(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1111")
    with pytest.raises(InputError) as exc:
        resolve_source_date_epoch(str(tmp_path), None)
    msg = str(exc.value)
    assert "--source-date-epoch" in msg and "SOURCE_DATE_EPOCH=1111" in msg and "not used" in msg


def test_sde_build_arg_is_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    spec = BuildSpec(context=str(tmp_path), source_date_epoch=E, build_args=("SOURCE_DATE_EPOCH=1",))
    with pytest.raises(InputError, match="--source-date-epoch"):
        validate_spec(spec)


def test_build_arg_without_value_is_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    with pytest.raises(InputError, match="K=V"):
        validate_spec(BuildSpec(context=str(tmp_path), source_date_epoch=E, build_args=("FROM_ENV",)))


def test_missing_dockerfile_is_input_error(tmp_path):
    with pytest.raises(InputError, match="Dockerfile"):
        validate_spec(BuildSpec(context=str(tmp_path), source_date_epoch=E))


# build contexts ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    out = tmp_path_factory.mktemp("layout") / "base"
    digest = load_make_base().make_base(str(out))
    return str(out), digest


def test_make_base_is_deterministic(tmp_path, layout):
    digest = load_make_base().make_base(str(tmp_path / "again"))
    assert digest == layout[1]
    for name in ("index.json", "oci-layout"):
        assert (tmp_path / "again" / name).read_bytes() == open(os.path.join(layout[0], name), "rb").read()


@pytest.mark.parametrize("suffix", ["", ":latest"])
def test_oci_layout_tag_or_no_tag_resolves_to_the_manifest_digest(layout, suffix):
    path, digest = layout
    assert resolve_oci_layout(path + suffix) == (path, digest)


def test_oci_layout_digest_is_checked_against_the_blobs(layout):
    path, digest = layout
    assert resolve_oci_layout(f"{path}@{digest}") == (path, digest)
    with pytest.raises(InputError, match="not in the layout"):
        resolve_oci_layout(f"{path}@sha256:{'0' * 64}")


def test_oci_layout_unknown_tag_lists_the_tags(layout):
    with pytest.raises(InputError, match="tags: latest"):
        resolve_oci_layout(layout[0] + ":v9")


def test_oci_layout_without_layout_file(tmp_path):
    with pytest.raises(InputError, match="not an OCI layout"):
        resolve_oci_layout(str(tmp_path))


def test_oci_layout_ref_split():
    assert split_oci_layout_ref("/a/b:tag") == ("/a/b", "tag", None)
    assert split_oci_layout_ref("/a:b/c") == ("/a:b/c", None, None)  # colon in a directory name
    d = "sha256:" + "a" * 64
    assert split_oci_layout_ref(f"rel/dir@{d}") == ("rel/dir", None, d)


def test_context_args_cover_buildx_forms(tmp_path, layout):
    path, digest = layout
    (tmp_path / "dir").mkdir()
    pinned = "sha256:" + "b" * 64
    ca = context_args((f"base=oci-layout://{path}", f"src={tmp_path / 'dir'}",
                       f"img=docker-image://example.org/x@{pinned}", "tool=docker-image://busybox:1"))
    args = list(ca.args)
    assert ["--oci-layout", f"repro-ctx-0={path}"] == args[0:2]
    assert f"context:base=oci-layout://repro-ctx-0@{digest}" in args
    assert f"repro-ctx-1={tmp_path / 'dir'}" in args and "context:src=local:repro-ctx-1" in args
    assert f"context:img=docker-image://example.org/x@{pinned}" in args
    assert dict(ca.base_digests) == {"base": digest, "img": pinned}


@pytest.mark.parametrize("bad", ["noequals", "a=/does/not/exist", "=x"])
def test_bad_build_context_is_input_error(bad):
    with pytest.raises(InputError):
        context_args((bad,))


def test_duplicate_build_context_is_input_error(tmp_path):
    with pytest.raises(InputError, match="twice"):
        context_args((f"a={tmp_path}", f"a={tmp_path}"))


# exporter, argv ---------------------------------------------------------------------

def test_exporter_defaults_are_explicit_and_overridable():
    spec = BuildSpec(exporter=("compression-level=9",), compression="zstd")
    assert spec.exporter_options() == {"rewrite-timestamp": "true", "oci-mediatypes": "true",
                                       "compression": "zstd", "force-compression": "true",
                                       "compression-level": "9"}
    with pytest.raises(InputError, match="set by repro"):
        BuildSpec(exporter=("dest=/x",)).exporter_options()


def test_buildctl_argv_pins_reproducibility_settings(tmp_path):
    spec = BuildSpec(context=str(tmp_path), source_date_epoch=E, target="final", platforms=("linux/amd64",),
                     build_args=("A=1",), secrets=("id=s,src=/f",), ssh=("default",))
    tools = Tools("/bin/buildctl", "/bin/buildkitd", "v0.32.2")
    argv = buildctl_argv(tools, "unix:///x.sock", spec, str(tmp_path), str(tmp_path / "Dockerfile"), (),
                          spec.exporter_options(), "/out/a,b.tar", "/m.json", "plain")
    joined = " ".join(argv)
    assert "--no-cache" in argv
    assert f"build-arg:SOURCE_DATE_EPOCH={E}" in argv and "build-arg:A=1" in argv
    assert "target=final" in argv and "platform=linux/amd64" in argv
    assert '"dest=/out/a,b.tar"' in joined  # a comma in the path is quoted for buildctl's CSV parser
    out = argv[argv.index("--output") + 1]
    assert out.startswith("type=oci,") and "rewrite-timestamp=true" in out and "force-compression=true" in out
    assert not any(a.startswith("attest:") for a in argv)  # an empty attest:provenance= would turn it on


def test_progress_mode():
    class Tty:
        def isatty(self):
            return True

    assert progress_mode("auto", "", Tty()) == "tty"
    assert progress_mode("auto", "build 1", Tty()) == "plain"
    assert progress_mode("quiet", "", Tty()) == "plain"


# parsing buildctl output ------------------------------------------------------------

WORKERS = """ID:\t\tnk9o40h3zsjj4n08qbb6o7klb
Platforms:\tlinux/amd64,linux/386
BuildKit:\tgithub.com/moby/buildkit v0.32.2 
Labels:
\torg.mobyproject.buildkit.worker.executor:\t\toci
\torg.mobyproject.buildkit.worker.snapshotter:\t\toverlayfs
GC Policy rule#0:
\tAll:\t\t\tfalse
"""


def test_parse_workers():
    info = parse_workers(WORKERS)
    assert info.buildkit_version == "v0.32.2" and info.worker_id == "nk9o40h3zsjj4n08qbb6o7klb"
    assert info.platforms == ("linux/amd64", "linux/386") and info.snapshotter == "overlayfs"


def test_buildkit_error_lines_are_found_in_plain_progress():
    lines = ["#5 [1/2] RUN exit 3", "#5 0.101 hello", "#5 ERROR: process \"/bin/sh -c exit 3\" did not complete "
             "successfully: exit code: 3", "------", "error: failed to solve: process \"/bin/sh -c exit 3\" did not "
             "complete successfully: exit code: 3"]
    errs = buildkit_error_lines(lines)
    assert errs[-1].startswith("failed to solve:") and "exit code: 3" in errs[-1]


# vary --------------------------------------------------------------------------------

def test_vary_moves_mtimes_both_sides_of_the_epoch_and_the_path(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "d").mkdir(parents=True)
    for name in ("Dockerfile", "a", "b", "d/c"):
        (ctx / name).write_text(name)
    varied = BuildVariations(("build_path", "context_mtimes"), 1)
    new_ctx, dockerfile = varied.context(str(ctx), str(ctx / "Dockerfile"), E, str(tmp_path / "w"))
    assert new_ctx != str(ctx) and os.path.basename(new_ctx) != "ctx"
    assert dockerfile == os.path.join(new_ctx, "Dockerfile")
    times = [os.lstat(os.path.join(new_ctx, n)).st_mtime for n in ("Dockerfile", "a", "b", "d", "d/c")]
    assert any(t > E for t in times) and any(t < E for t in times)
    assert (ctx / "a").stat().st_mtime > E  # the original is untouched


def test_vary_builds_differ_from_each_other(tmp_path):
    for i in (1, 2):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "f").write_text("x")
        shift_mtimes(str(tmp_path / str(i)), E, i)
    assert (tmp_path / "1" / "f").stat().st_mtime != (tmp_path / "2" / "f").stat().st_mtime


# tools, doctor -----------------------------------------------------------------------

def test_find_buildkit_missing_names_the_packaged_installer(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("REPRO_TOOLS_DIR", str(tmp_path))
    with pytest.raises(ToolMissing, match="run `repro install-buildkit`") as e:
        find_buildkit()
    assert "scripts/" not in str(e.value)  # a pip-installed repro has no scripts/


def test_find_buildkit_refuses_another_version(monkeypatch, tmp_path):
    for name in ("buildctl", "buildkitd"):
        p = tmp_path / name
        p.write_text("#!/bin/sh\necho \"$0 github.com/moby/buildkit v0.12.0 abc\"\n")
        p.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("REPRO_TOOLS_DIR", str(tmp_path / "none"))
    with pytest.raises(ToolMissing, match="v0.12.0"):
        find_buildkit()


def test_doctor_passes_on_this_machine():
    checks = doctor()
    names = [c.name for c in checks]
    for name in ("buildkit", "runc", "rootlesskit", "newuidmap", "user namespaces", "overlayfs", "cgroups"):
        assert name in names
    bad = [c for c in checks if not c.ok]
    assert not bad, json.dumps([c.__dict__ for c in bad])
    assert all(c.detail for c in checks)
