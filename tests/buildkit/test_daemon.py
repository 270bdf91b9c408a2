"""Ephemeral daemon lifecycle with a real buildkitd and runc: nothing may be left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest

from tests.polling import wait_for
from tests.buildkit_fixtures import EPOCH, ROOT
from repro.buildkit import BuildSpec, EphemeralDaemon, Tools, build, daemon_info, sweep_stale
from repro.buildkit.procs import mounts_under, processes_mentioning
from repro.errors import BuildError

pytestmark = pytest.mark.buildkit


def test_start_and_stop_leave_no_process_mount_or_temp_dir(isolated, buildkit_tools):
    with EphemeralDaemon(tools=buildkit_tools) as daemon:
        assert daemon.dir.startswith(isolated.dir + "/")
        assert processes_mentioning(daemon.dir), "buildkitd should be running"
        assert daemon.info.buildkit_version == "v0.32.2"
        assert daemon_info(buildkit_tools, daemon.addr).worker_id == daemon.info.worker_id
        assert daemon.info.snapshotter in ("overlayfs", "native")
    assert not daemon.alive()
    assert daemon.cleanup_problems == []
    # the isolated fixture asserts: no process names the dir, nothing mounted, no files


def test_daemons_run_side_by_side_without_shared_paths(isolated, buildkit_tools):
    had_run_buildkit = os.path.exists("/run/buildkit/otel-grpc.sock")
    with EphemeralDaemon(tools=buildkit_tools) as a, EphemeralDaemon(tools=buildkit_tools) as b:
        assert a.addr != b.addr and a.dir != b.dir
        assert daemon_info(buildkit_tools, a.addr).worker_id != daemon_info(buildkit_tools, b.addr).worker_id
    if not had_run_buildkit:  # the default otel socket would be shared by every daemon on the host
        assert not os.path.exists("/run/buildkit/otel-grpc.sock")


def test_daemon_that_never_gets_ready_raises_with_log_tail(isolated, buildkit_tools):
    daemon = EphemeralDaemon(tools=buildkit_tools, extra_args=("--no-such-flag",), start_timeout=20)
    with pytest.raises(BuildError) as exc:
        daemon.start()
    msg = str(exc.value)
    assert "before it was ready" in msg and "no-such-flag" in msg  # buildkitd's own complaint, from its log
    assert not daemon.alive()


def test_daemon_that_does_not_answer_in_time_raises(isolated, buildkit_tools, tmp_path):
    fake = tmp_path / "buildkitd"  # runs, logs a line, never listens
    fake.write_text("#!/bin/sh\necho 'fake buildkitd: not listening'\nexec sh -c 'sleep 600' fake \"$@\"\n")
    fake.chmod(0o755)
    tools = Tools(buildkit_tools.buildctl, str(fake), buildkit_tools.version)
    daemon = EphemeralDaemon(tools=tools, start_timeout=1.5)
    with pytest.raises(BuildError, match=r"did not become ready within 2s.*fake buildkitd: not listening"):
        daemon.start()
    assert not daemon.alive()


SLOW_DOCKERFILE = "FROM base\nRUN sleep 60; : {token}\n"


def test_killing_buildkitd_mid_build_raises_and_leaves_nothing(isolated, buildkit_tools, base_image, tmp_path):
    token = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(SLOW_DOCKERFILE.format(token=token))
    spec = BuildSpec(context=str(tmp_path), source_date_epoch=EPOCH, build_contexts=(base_image.build_context,))
    errors: list[BaseException] = []
    with EphemeralDaemon(tools=buildkit_tools) as daemon:
        def run():
            try:
                build(spec, str(tmp_path / "out.tar"), daemon=daemon, progress="quiet", tools=buildkit_tools)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=run)
        t.start()
        wait_for(lambda: processes_mentioning(token), what="the build's RUN to start")
        buildkitd = [p for p in processes_mentioning(daemon.dir)
                     if open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0].endswith(b"buildkitd")]
        assert len(buildkitd) == 1
        os.kill(buildkitd[0], signal.SIGKILL)
        t.join(60)
        assert not t.is_alive()
        # the pid namespace died with buildkitd: so did the build container
        wait_for(lambda: not processes_mentioning(token), timeout=10, what="the build container to die")
    assert len(errors) == 1 and isinstance(errors[0], BuildError), errors
    assert "died during the build" in str(errors[0])
    assert not (tmp_path / "out.tar").exists()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".part")] == []


HOLDER = textwrap.dedent("""
    import signal, sys, tempfile, time
    # as from a terminal: a Python started where SIGINT is ignored (a CI job started in the
    # background by a non-interactive shell) would inherit SIG_IGN and never see the signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {root!r})
    tempfile.tempdir = {tmp!r}
    from repro.buildkit import EphemeralDaemon
    with EphemeralDaemon() as d:
        print("ready", d.dir, flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)])
def test_signal_to_python_holding_a_daemon_cleans_up(isolated, buildkit_tools, signum, code):
    env = {**os.environ, "PATH": os.path.dirname(buildkit_tools.buildctl) + ":" + os.environ["PATH"]}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=ROOT, tmp=isolated.dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], proc.stderr.read()
    assert processes_mentioning(line[1])
    proc.send_signal(signum)
    proc.wait(60)
    assert proc.returncode == code, proc.stderr.read()
    assert not os.path.exists(line[1])


def test_sigkilled_python_takes_its_daemon_along_and_the_dir_is_swept(isolated, buildkit_tools):
    env = {**os.environ, "PATH": os.path.dirname(buildkit_tools.buildctl) + ":" + os.environ["PATH"]}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=ROOT, tmp=isolated.dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], proc.stderr.read()
    proc.kill()
    proc.wait(30)
    # setpriv --pdeathsig KILL: the daemon wrapper dies with its parent, and the pid
    # namespace with it
    wait_for(lambda: not processes_mentioning(line[1]), timeout=20, what="the orphaned daemon to die")
    assert not mounts_under(line[1])
    assert sweep_stale(isolated.dir, min_age=0) == [line[1]]


def test_daemon_in_a_noexec_temp_dir_still_builds(buildkit_tools, base_image, tmp_path):
    # /tmp mounted noexec is common on hardened hosts: the runc wrapper cannot run from
    # there, so plain runc is used instead
    mnt = tmp_path / "noexec"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,size=64m", "tmpfs", str(mnt)], check=True)
    try:
        (tmp_path / "Dockerfile").write_text("FROM base\nRUN echo ok > /ok\n")
        spec = BuildSpec(context=str(tmp_path), source_date_epoch=EPOCH, build_contexts=(base_image.build_context,))
        with EphemeralDaemon(tools=buildkit_tools, tmp_dir=str(mnt)) as daemon:
            result = build(spec, str(tmp_path / "out.tar"), daemon=daemon, progress="quiet", tools=buildkit_tools)
        assert result.image_digest.startswith("sha256:")
        assert os.listdir(mnt) == [] and not mounts_under(daemon.dir)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
