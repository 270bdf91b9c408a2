"""Rootless: an unprivileged user's ephemeral daemons (rootlesskit + newuidmap) build too.

The user is created by the fixture (useradd, subuid/subgid ranges) and runs the
system python with repro on PYTHONPATH. Nothing is skipped: if rootless cannot work
on this kernel, these tests fail with the daemon's own error.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import uuid

import pytest

from tests.buildkit_fixtures import EPOCH, context, manifest_digests, sha256_file
from repro.buildkit import BuildSpec, build
from repro.buildkit.procs import mounts_under, processes_mentioning

pytestmark = pytest.mark.buildkit

SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    tempfile.tempdir = {tmp!r}
    from repro.buildkit import BuildSpec, build_many
    spec = BuildSpec(context={ctx!r}, source_date_epoch={epoch}, build_contexts=({base!r},))
    results = build_many(spec, 2, {out!r}, progress="quiet")
    print(json.dumps([dict(digest=r.image_digest, daemon=r.daemon, path=r.path, uid=os.getuid(),
                           snapshotter=r.snapshotter, duration=r.duration) for r in results]))
""")


def test_rootless_daemons_build_the_deterministic_context_identically(rootless_user, isolated, buildkit_tools,
                                                                      base_image, tmp_path):
    tmp = rootless_user.private_dir("rbt-rl-")
    out = rootless_user.private_dir("rbt-rl-out-")
    try:
        proc = rootless_user.run_python(SCRIPT.format(tmp=tmp, ctx=context("deterministic"), epoch=EPOCH,
                                                      base=rootless_user.base.build_context, out=out))
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = json.loads(proc.stdout.strip().splitlines()[-1])
        assert all(r["uid"] == rootless_user.uid and r["daemon"].startswith("ephemeral rootless buildkitd v0.32.2")
                   for r in results), results
        a, b = (r["path"] for r in results)
        assert manifest_digests(a) == manifest_digests(b) and sha256_file(a) == sha256_file(b)
        # and the same bytes as a rootful build: inside the user namespace files are root's
        rootful = build(BuildSpec(context=context("deterministic"), source_date_epoch=EPOCH,
                                  build_contexts=(base_image.build_context,)), str(tmp_path / "rootful.tar"),
                        progress="quiet", tools=buildkit_tools)
        assert manifest_digests(a) == [rootful.image_digest]
        # nothing left by the user's daemons
        assert processes_mentioning(tmp) == [] and mounts_under(tmp) == [] and os.listdir(tmp) == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


CHOWN = textwrap.dedent("""
    import os, sys, tempfile
    tempfile.tempdir = {tmp!r}
    from repro.buildkit import BuildSpec, EphemeralDaemon, build
    spec = BuildSpec(context={ctx!r}, source_date_epoch={epoch}, build_contexts=({base!r},))
    d = EphemeralDaemon()
    with d:
        build(spec, {out!r} + "/out.tar", daemon=d, progress="quiet")
    print(d.cleanup_problems)
""")


def test_rootless_state_owned_by_subordinate_ids_is_removed(rootless_user, tmp_path):
    # a layer with a directory owned by uid 1000 in the container (a subuid on the host):
    # the user cannot delete inside it as itself; repro removes it from a user namespace
    ctx = rootless_user.private_dir("rbt-rl-ctx-")
    tmp = rootless_user.private_dir("rbt-rl-")
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM base\nRUN mkdir -p /x/y && touch /x/y/f && chown -R 1000:1000 /x\n")
        os.chmod(os.path.join(ctx, "Dockerfile"), 0o644)
        proc = rootless_user.run_python(CHOWN.format(tmp=tmp, ctx=ctx, epoch=EPOCH, out=ctx,
                                                     base=rootless_user.base.build_context))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-1] == "[]"
        assert processes_mentioning(tmp) == [] and os.listdir(tmp) == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ctx, ignore_errors=True)


KILL = textwrap.dedent("""
    import os, signal, sys, tempfile, threading, time
    tempfile.tempdir = {tmp!r}
    from repro.buildkit import BuildSpec, EphemeralDaemon, build
    from repro.buildkit.procs import processes_mentioning
    from repro.errors import BuildError
    spec = BuildSpec(context={ctx!r}, source_date_epoch={epoch}, build_contexts=({base!r},))
    errors = []
    with EphemeralDaemon() as d:
        def run():
            try:
                build(spec, {ctx!r} + "/out.tar", daemon=d, progress="quiet")
            except BuildError as e:
                errors.append(str(e))
        t = threading.Thread(target=run)
        t.start()
        deadline = time.monotonic() + 60
        while not processes_mentioning({token!r}):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid = [p for p in processes_mentioning(d.dir)
               if open(f"/proc/{{p}}/cmdline", "rb").read().split(b"\\0")[0].endswith(b"buildkitd")][0]
        os.kill(pid, signal.SIGKILL)
        t.join(60)
    print(errors)
""")


def test_rootless_daemon_killed_mid_build_is_build_error_and_leaves_nothing(rootless_user):
    token = uuid.uuid4().hex
    ctx = rootless_user.private_dir("rbt-rl-ctx-")
    tmp = rootless_user.private_dir("rbt-rl-")
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM base\nRUN sleep 60; : {token}\n")
        os.chmod(os.path.join(ctx, "Dockerfile"), 0o644)
        proc = rootless_user.run_python(KILL.format(tmp=tmp, ctx=ctx, epoch=EPOCH, token=token,
                                                    base=rootless_user.base.build_context))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "died during the build" in proc.stdout, proc.stdout
        assert processes_mentioning(token) == [] and processes_mentioning(tmp) == [] and os.listdir(tmp) == []
        assert not os.path.exists(os.path.join(ctx, "out.tar"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ctx, ignore_errors=True)
