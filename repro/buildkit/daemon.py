"""Ephemeral buildkitd daemons: one temp dir each (state, socket, logs), torn down always.

Layout of a daemon's temp dir (`$TMPDIR/repro-buildkitd-XXXXXX/`):

    owner               "PID STARTTIME" of the Python process that started it
    buildkitd.toml      empty config, so /etc/buildkit/buildkitd.toml is not read
    buildkitd.sock      --addr
    otel.sock           --otel-socket-path (default: /run/buildkit/otel-grpc.sock, shared)
    runc                wrapper that runs runc with --root in this dir (default: /run/runc), and
                        applies a varied build's RUN-step variations (repro.buildkit.variations)
    runc-wrapper.py     variations.json  variations/   (the same; see variations/_runtime.py)
    runc-state/ tmp/ run/ rootlesskit/
    root/               --root, the daemon's state
    buildkitd.log

Rootful (as root): `setpriv --pdeathsig KILL unshare --mount --pid --fork --kill-child
--mount-proc buildkitd ...`. buildkitd is pid 1 of its own pid namespace, so when it
dies the kernel kills every build container; its overlay mounts live in a private
mount namespace that disappears with it and never show in the host's /proc/mounts.
Rootless: `setpriv --pdeathsig KILL rootlesskit --pidns --net=host ... buildkitd`, the
way buildctl-daemonless.sh does it, plus a pid namespace for the same reason.
`--pdeathsig KILL` ties the wrapper's life to the thread that started it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from repro.buildkit import procs
from repro.buildkit.tools import Tools, find_buildkit, find_helper
from repro.buildkit.variations import install_wrapper
from repro.errors import BuildError, ToolMissing

STATE_PREFIX = "repro-buildkitd-"
_ERROR_LINE = re.compile(r"^(buildkitd|rootlesskit|\[rootlesskit:\w+\]|unshare|setpriv|runc):|level=(error|fatal)")
_SOCKET_MAX = 100  # sun_path is 108 bytes including "unix://"-less path and NUL


@dataclass(frozen=True)
class DaemonInfo:
    """What `buildctl debug workers -v` says about a daemon."""

    buildkit_version: str = ""  # "v0.32.2"
    worker_id: str = ""
    platforms: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def snapshotter(self) -> str:
        return self.labels.get("org.mobyproject.buildkit.worker.snapshotter", "")


def parse_workers(text: str) -> DaemonInfo:
    """Parse the first worker of `buildctl debug workers -v`."""
    fields: dict[str, str] = {}
    labels: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        if not raw.strip():
            if fields.get("ID"):
                break  # one worker is enough (BuildKit uses only the default one)
            continue
        if raw.startswith("\t"):
            if section == "Labels":
                key, _, value = raw.strip().partition(":")
                labels[key.strip()] = value.strip()
            continue
        key, _, value = raw.partition(":")
        section = key.strip()
        fields[section] = value.strip()
    version = ""
    for word in fields.get("BuildKit", "").split():
        if word.startswith("v") and word[1:2].isdigit():
            version = word
    platforms = tuple(p for p in fields.get("Platforms", "").split(",") if p)
    return DaemonInfo(version, fields.get("ID", ""), platforms, labels)


def daemon_info(tools: Tools, addr: str, timeout: float = 30.0, tls_args: list[str] | tuple[str, ...] = ()) -> DaemonInfo:
    """Ask the daemon at `addr` who it is; BuildError if it does not answer. `tls_args`:
    buildctl's client TLS flags (repro.buildkit.buildctl.ClientTLS.args())."""
    try:
        out = subprocess.run([tools.buildctl, "--addr", addr, *tls_args, "debug", "workers", "-v"], capture_output=True,
                             text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BuildError(f"buildkitd at {addr} did not answer within {timeout:.0f}s") from None
    info = parse_workers(out.stdout) if out.returncode == 0 else None
    if not info or not info.worker_id:
        detail = (out.stderr.strip().splitlines() or ["no workers"])[-1]
        raise BuildError(f"buildkitd at {addr} did not answer: {detail}")
    return info


class EphemeralDaemon:
    """A private buildkitd for one or a few builds. Use as a context manager:

        with EphemeralDaemon() as daemon:
            build(spec, "out.tar", addr=daemon.addr)

    rootless: None = rootless unless running as root. snapshotter: "auto" lets
    buildkitd pick overlayfs when it can mount it, else native; the choice is in
    `info.snapshotter`. Raises BuildError (with the tail of the daemon's log) when the
    daemon is not ready within `start_timeout` seconds; ToolMissing for missing tools.
    """

    def __init__(self, *, tools: Tools | None = None, rootless: bool | None = None, snapshotter: str = "auto",
                 start_timeout: float = 60.0, stop_timeout: float = 3.0, extra_args: tuple[str, ...] = (),
                 tmp_dir: str | None = None) -> None:
        self.tools = tools
        self.rootless = (os.geteuid() != 0) if rootless is None else rootless
        self.snapshotter = snapshotter
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = tuple(extra_args)
        self.tmp_parent = tmp_dir
        self.dir = ""
        self.addr = ""
        self.log_path = ""
        self.info = DaemonInfo()
        self.proc: subprocess.Popen | None = None
        self.cleanup_problems: list[str] = []
        self.run_steps_unreachable = ""  # why repro's runc wrapper cannot vary RUN steps here ("" = it can)
        self._lock = threading.Lock()
        self._closed = False

    # lifecycle -------------------------------------------------------------------

    def __enter__(self) -> EphemeralDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> EphemeralDaemon:
        """Start buildkitd and wait until it answers."""
        return self.launch().ready()

    def launch(self) -> EphemeralDaemon:
        """Start buildkitd without waiting for it. The daemon dies with the *thread* that
        launched it (setpriv --pdeathsig): launch a daemon that must outlive a worker
        thread from a thread that lives as long (ready() may run anywhere)."""
        tools = self.tools = self.tools or find_buildkit()
        argv = self._wrapper_argv() + self._buildkitd_argv(tools)  # resolves helpers before any file is made
        sweep_stale(self.tmp_parent)
        self.dir = _make_dir(self.tmp_parent)
        self.addr = "unix://" + os.path.join(self.dir, "buildkitd.sock")
        self.log_path = os.path.join(self.dir, "buildkitd.log")
        if os.statvfs(self.dir).f_flag & os.ST_NOEXEC:  # the runc wrapper cannot run from here
            i = argv.index("@DIR@/runc")
            argv[i] = self._runc  # plain runc: its state goes to the shared default (/run/runc)
            self.run_steps_unreachable = (f"the daemon's dir {self.dir} is on a noexec file system, so runc runs "
                                          "without repro's wrapper")
        argv = [a.replace("@DIR@", self.dir) for a in argv]
        env = self._env()
        procs.register(id(self), self.close)
        try:
            with open(self.log_path, "ab") as logf:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                             start_new_session=True, env=env, cwd=self.dir)
        except BaseException as e:
            self.close()
            if isinstance(e, OSError):
                raise BuildError(f"cannot start buildkitd: {e}") from None
            raise
        return self

    def ready(self) -> EphemeralDaemon:
        """Wait until the launched daemon answers (at once when it already did)."""
        if self.info.worker_id:
            return self
        try:
            self._wait_ready()
        except BaseException as e:
            tail = self.log_tail() if self.log_path else ""
            self.close()
            if isinstance(e, BuildError):
                raise BuildError(f"{e}; buildkitd log: {tail}" if tail else str(e)) from None
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.tools is not None
        deadline = time.monotonic() + self.start_timeout
        sock = self.addr[len("unix://"):]
        last = ""
        while True:
            code = self.proc.poll()
            if code is not None:
                raise BuildError(f"buildkitd exited with status {code} before it was ready")
            if os.path.exists(sock):
                try:
                    self.info = daemon_info(self.tools, self.addr, timeout=max(1.0, deadline - time.monotonic()))
                    return
                except BuildError as e:
                    last = str(e)
            if time.monotonic() > deadline:
                raise BuildError(f"buildkitd did not become ready within {self.start_timeout:.0f}s"
                                 + (f" ({last})" if last else ""))
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Stop the daemon and remove every trace: SIGTERM (buildkitd shuts down and
        unmounts), SIGKILL after stop_timeout (safe: its namespaces die with it), then
        kill anything still naming our dir, unmount anything left under it, remove it.
        Safe to call twice, from any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.proc is not None:
                self._stop_process()
            if self.dir:
                procs.kill_processes_mentioning(self.dir)
                left = procs.unmount_under(self.dir)
                if left:
                    self.cleanup_problems.append(f"still mounted: {', '.join(left)}")
                if not procs.remove_tree(self.dir, rootless=self.rootless):
                    self.cleanup_problems.append(f"could not remove {self.dir}")
        finally:
            procs.unregister(id(self))

    def _stop_process(self) -> None:
        proc = self.proc
        assert proc is not None
        if proc.poll() is None:
            # the wrapper leads its own session; buildkitd is in its process group
            # (rootful: unshare blocks SIGTERM and waits; rootless: rootlesskit forwards it)
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.cleanup_problems.append(f"daemon wrapper {proc.pid} did not exit after SIGKILL")
        # a killed leader leaves its group's other members to the kernel / pdeathsig
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, 9)

    # details ------------------------------------------------------------------------

    def _wrapper_argv(self) -> list[str]:
        setpriv = find_helper("setpriv", "apt-get install util-linux")
        if self.rootless:
            rootlesskit = find_helper("rootlesskit", "apt-get install rootlesskit (rootless daemons need it)")
            for helper in ("newuidmap", "newgidmap"):
                find_helper(helper, "apt-get install uidmap (rootless daemons need it)")
            return [setpriv, "--pdeathsig", "KILL", rootlesskit, "--state-dir", "@DIR@/rootlesskit",
                    "--net=host", "--copy-up=/etc", "--copy-up=/run", "--disable-host-loopback", "--pidns"]
        if os.geteuid() != 0:
            raise ToolMissing("a rootful buildkitd needs root: run as root, or use a rootless daemon")
        unshare = find_helper("unshare", "apt-get install util-linux")
        return [setpriv, "--pdeathsig", "KILL", unshare, "--mount", "--pid", "--fork", "--kill-child",
                "--mount-proc", "--propagation", "private"]

    def _buildkitd_argv(self, tools: Tools) -> list[str]:
        self._runc = find_helper("runc", "apt-get install runc")
        return [tools.buildkitd, "--config", "@DIR@/buildkitd.toml", "--root", "@DIR@/root",
                "--addr", "unix://@DIR@/buildkitd.sock", "--otel-socket-path", "@DIR@/otel.sock",
                "--oci-worker=true", "--containerd-worker=false", f"--oci-worker-snapshotter={self.snapshotter}",
                "--oci-worker-binary", "@DIR@/runc", "--cdi-disabled", *self.extra_args]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("BUILDKIT_HOST", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        # buildkitd makes temp mount points in $TMPDIR: keep them in our dir
        env["TMPDIR"] = os.path.join(self.dir, "tmp")
        if self.rootless:
            env["XDG_RUNTIME_DIR"] = os.path.join(self.dir, "run")
        with open(os.path.join(self.dir, "buildkitd.toml"), "w") as f:
            f.write("# written by repro: an ephemeral daemon reads no system or user buildkitd.toml\n")
        install_wrapper(self.dir, self._runc)
        for sub in ("tmp", "run", "runc-state"):
            os.mkdir(os.path.join(self.dir, sub), 0o700)
        return env

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the daemon's log, joined with ' | ' (for one-line errors)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 8192))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        kept = [ln.strip() for ln in text.splitlines() if ln.strip() and "CDI setup error" not in ln]
        errors = [ln for ln in kept if _ERROR_LINE.search(ln)]
        if errors:  # the error itself, not the Go stack trace or usage text printed after it
            return " | ".join(errors[-3:])
        return " | ".join(kept[-lines:])

    def describe(self) -> str:
        mode = "rootless" if self.rootless else "rootful"
        snap = self.info.snapshotter or self.snapshotter
        return f"ephemeral {mode} buildkitd {self.info.buildkit_version} ({snap}) at {self.addr}"


def _make_dir(parent: str | None) -> str:
    parent = parent or tempfile.gettempdir()
    if len(os.path.join(os.path.abspath(parent), STATE_PREFIX + "XXXXXXXX", "buildkitd.sock")) > _SOCKET_MAX:
        parent = "/tmp"  # a unix socket path must fit in 108 bytes
    path = tempfile.mkdtemp(prefix=STATE_PREFIX, dir=parent)
    with open(os.path.join(path, "owner"), "w") as f:
        f.write(f"{os.getpid()} {procs.process_start_time(os.getpid())}\n")
    return path


def sweep_stale(parent: str | None = None, min_age: float = 60.0) -> list[str]:
    """Remove our temp dirs left by a Python process that was SIGKILLed: its owner is
    gone and no process names the dir any more. Only dirs we own; never young ones."""
    parent = parent or tempfile.gettempdir()
    removed = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return removed
    for name in entries:
        if not name.startswith(STATE_PREFIX):
            continue
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
            with open(os.path.join(path, "owner")) as f:
                pid_text, _, start = f.read().strip().partition(" ")
        except (OSError, ValueError):
            continue
        if st.st_uid != os.geteuid() or time.time() - st.st_mtime < min_age or not pid_text.isdigit():
            continue
        if procs.process_start_time(int(pid_text)) == start:
            continue  # owner still running
        if procs.processes_mentioning(path):
            continue
        procs.unmount_under(path)
        if procs.remove_tree(path, rootless=os.geteuid() != 0):
            removed.append(path)
    return removed
