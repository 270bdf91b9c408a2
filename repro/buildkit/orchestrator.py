"""The orchestrator: one build (`build`, `run_build`) or N independent builds of one spec
(`build_many`, `BuildSession`), on any backend (repro.buildkit.backend).

One build is always the same sequence, whatever the backend: validate the spec, make a
private work dir (with a varied copy of the context for a varied build), ask the
backend who builds and for its client command, run the client (repro.buildkit.runner),
and turn the `.part` file into the output tarball only on success.

N builds: build i runs on builders[i % len(builders)] ("buildctl", "buildx",
"buildx:NAME"); buildctl builds run on `addrs` round robin, else each on a fresh
ephemeral daemon. Builds whose backends share a solver (an address, a buildx builder)
run one after the other; the others in parallel, and they start together: every build
waits until all are ready (daemons up), then the control starts, and a varied build
with the `stagger` variation a few seconds later. Build 1 is the control: it is never
varied (repro.buildkit.variations).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, Callable, Hashable

from repro.atomic import publish_mode
from repro.buildkit import procs
from repro.buildkit.backend import Backend, Workspace
from repro.buildkit.buildctl import BuildctlBackend, ClientTLS
from repro.buildkit.daemon import EphemeralDaemon
from repro.buildkit.runner import PROGRESS_MODES, Cancel, LockedSink, progress_mode, run_client, shows_log
from repro.buildkit.secrets import Redactor
from repro.buildkit.spec import BuildSpec, Push, context_args, validate_spec
from repro.buildkit.tools import Tools, find_buildkit
from repro.buildkit.variations import (FILES, Applied, BuildVariations, Host, Selection, clear_plan, read_log, select,
                                       write_plan)
from repro.errors import BuildError, InputError


@dataclass(frozen=True)
class BuildResult:
    path: str                        # the OCI tarball ("" when the build was only pushed)
    buildkit_version: str            # of the daemon that built it ("v0.32.2")
    source_date_epoch: int
    exporter: dict[str, str]         # OCI exporter options used (without dest)
    metadata: dict                   # the client's --metadata-file (containerimage.digest, ...)
    addr: str
    daemon: str                      # e.g. "ephemeral rootful buildkitd v0.32.2 (overlayfs) at unix://..."
    base_digests: dict[str, str]     # build-context name -> pinned digest
    duration: float                  # seconds spent in the client (buildctl build, docker buildx build)
    snapshotter: str = ""
    variations: tuple[Applied, ...] = ()  # what each variation did in this build (none: the control)
    context: str = ""                # the context actually sent (a varied copy when a context variation applies)
    build_contexts: dict[str, str] = field(default_factory=dict)
    pushed: str = ""                 # NAME@DIGEST when the image was pushed
    builder: str = "buildctl"        # "buildctl", or "buildx:NAME" (repro.buildkit.buildx)
    driver: str = ""                 # buildctl: "ephemeral" (repro's own daemon) or "remote" (--addr);
                                     # buildx: the builder's driver (docker-container, kubernetes, remote)
    started: float = 0.0             # wall-clock time (time.time()) the client started: a time anchor for
                                     # clocks read during the build (repro.explain)

    @property
    def image_digest(self) -> str:
        return str(self.metadata.get("containerimage.digest", ""))

    @property
    def varied(self) -> bool:
        return bool(self.variations)


# one build --------------------------------------------------------------------------

def build(spec: BuildSpec, out_tar: str | None, *, addr: str | None = None, progress: str = "auto",
          variations: BuildVariations | None = None, tools: Tools | None = None, label: str = "",
          daemon: EphemeralDaemon | None = None, stderr: IO[str] | None = None,
          cancel: Cancel | None = None, push: Push | None = None, tls: ClientTLS | None = None) -> BuildResult:
    """Build `spec` once with buildctl into the OCI tarball `out_tar` (written
    atomically), and/or push it (`push`; then `out_tar` may be None).

    Daemon: `daemon` if given, else `addr`, else $BUILDKIT_HOST, else a fresh
    EphemeralDaemon started for this build and torn down after it; `tls`: client
    certificates for a tcp:// address. Raises BuildError on failure. For the other
    arguments see run_build."""
    _check_request(spec, out_tar, progress, push)
    if daemon is not None:
        return run_build(BuildctlBackend.on(daemon), spec, out_tar, progress=progress, variations=variations, label=label,
                         stderr=stderr, cancel=cancel, push=push)
    tools = tools or find_buildkit()
    addr = addr or os.environ.get("BUILDKIT_HOST") or None
    if addr is not None:
        return run_build(BuildctlBackend(tools, addr, tls=tls), spec, out_tar, progress=progress,
                         variations=variations, label=label, stderr=stderr, cancel=cancel, push=push)
    with EphemeralDaemon(tools=tools) as own:
        return run_build(BuildctlBackend.on(own), spec, out_tar, progress=progress, variations=variations, label=label,
                         stderr=stderr, cancel=cancel, push=push)


def run_build(backend: Backend, spec: BuildSpec, out_tar: str | None, *, progress: str = "auto",
              variations: BuildVariations | None = None, label: str = "", stderr: IO[str] | None = None,
              cancel: Cancel | None = None, push: Push | None = None,
              start: Callable[[float], None] | None = None, sync: dict | None = None) -> BuildResult:
    """Build `spec` once on `backend`: the one build sequence (see the module docstring).

    `variations`: this build's (repro.buildkit.variations; None for a control build).
    Progress goes to `stderr` (default sys.stderr), prefixed with `label` if given.
    `cancel` registers the client process so that another thread can stop this build.
    `start(delay)` is called just before the client starts, with the seconds this build
    should start after the control (the session's start gate waits there). `sync`: how
    this build's RUN steps wait for other builds' (the runc wrapper's `sync`; only on a
    daemon of repro's)."""
    _check_request(spec, out_tar, progress, push)
    out_tar = os.path.abspath(out_tar) if out_tar is not None else None
    contexts = context_args(spec.build_contexts)
    info = backend.describe()
    sink = stderr or sys.stderr
    redact = Redactor.for_secrets(spec.secrets)
    mode = progress_mode(progress, label, sink)
    if redact and mode == "tty":
        mode = "plain"  # secret values are redacted line by line (repro.buildkit.secrets)
    with contextlib.ExitStack() as stack:
        ws = _workspace(stack, spec, out_tar, variations)
        call = backend.invocation(spec, contexts, ws, mode, push)
        log = _runtime_plan(backend, variations, sync)
        if start is not None:
            start(variations.delay() if variations is not None else 0.0)
        if cancel is not None:
            cancel.check()
        started, t0 = time.time(), time.monotonic()
        run = run_client(call.argv, mode=mode, show=shows_log(progress, sink), label=label, sink=sink,
                         cancel=cancel, env=call.env, tool=backend.tool, redact=redact or None)
        duration = time.monotonic() - t0
        if run.code != 0:
            raise backend.failure(run, label or "build")
        metadata = _finish(ws, out_tar, backend.tool)
    digest = str(metadata.get("containerimage.digest", ""))
    if push is not None and not digest:
        raise BuildError(f"{backend.tool} reported success but no digest for the image pushed to {push.name}")
    applied = (variations.records(Host.probe(), backend.run_steps().unreachable, read_log(log) if log else [])
               if variations is not None else ())
    return BuildResult(
        path=out_tar or "", buildkit_version=info.buildkit_version, source_date_epoch=int(spec.source_date_epoch or 0),
        exporter=spec.exporter_options(), metadata=metadata, addr=info.addr, daemon=info.daemon,
        base_digests=dict(contexts.base_digests), duration=duration, snapshotter=info.snapshotter,
        variations=applied, context=ws.context, build_contexts=dict(contexts.sources),
        pushed=f"{push.name}@{digest}" if push is not None else "", builder=info.name, driver=info.driver,
        started=started)


def _runtime_plan(backend: Backend, variations: BuildVariations | None, sync: dict | None) -> str | None:
    """Tell the runc wrapper of the backend's daemon (if repro runs it) what to change in
    this build's RUN steps and how to wait, or that nothing is to change; return the log
    it will write."""
    steps = backend.run_steps()
    if steps.dir is None:
        return None
    files = os.path.join(steps.dir, FILES)
    edits = variations.runtime_edits(Host.probe(), files) if variations is not None else []
    if not edits and not sync:
        clear_plan(steps.dir)
        return None
    os.makedirs(files, exist_ok=True)
    log = os.path.join(files, f"log-{time.time_ns()}.jsonl")
    write_plan(steps.dir, edits, log, sync)
    return log


def _check_request(spec: BuildSpec, out_tar: str | None, progress: str, push: Push | None) -> None:
    """InputError for a build that cannot be asked for, before any daemon starts."""
    if progress not in PROGRESS_MODES:
        raise InputError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, not {progress!r}")
    validate_spec(spec)
    if out_tar is None and push is None:
        raise InputError("nothing to do: give an output tarball or a reference to push to")
    if out_tar is not None:
        parent = os.path.dirname(os.path.abspath(out_tar))
        if not os.path.isdir(parent):
            raise InputError(f"cannot write {os.path.abspath(out_tar)}: directory {parent} does not exist")


def _workspace(stack: contextlib.ExitStack, spec: BuildSpec, out_tar: str | None,
               variations: BuildVariations | None) -> Workspace:
    """A private temp dir, the context and Dockerfile (a varied copy for a varied build), the
    `.part` file beside `out_tar` that becomes it on success, and the metadata file path;
    all removed when `stack` closes."""
    work = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-build-"))
    context, dockerfile = os.path.abspath(spec.context), os.path.abspath(spec.dockerfile_path())
    if variations is not None:
        context, dockerfile = variations.context(context, dockerfile, int(spec.source_date_epoch or 0), work)
    part = None
    if out_tar is not None:
        fd, part = tempfile.mkstemp(prefix=f".{os.path.basename(out_tar)}.", suffix=".part",
                                    dir=os.path.dirname(out_tar))
        os.close(fd)
        publish_mode(part)  # mkstemp makes it 0600; buildctl writes into it, keeping the mode
        stack.callback(_unlink_quietly, part)
    return Workspace(work, context, dockerfile, part, os.path.join(work, "metadata.json"))


def _finish(ws: Workspace, out_tar: str | None, tool: str) -> dict:
    """After a successful build: the metadata file's contents ({} if unreadable), and the
    `.part` tarball renamed to `out_tar` (an empty one is a BuildError, never published)."""
    try:
        with open(ws.metadata) as f:
            metadata = json.load(f)
    except (OSError, ValueError):
        metadata = {}
    if ws.part is not None and out_tar is not None:
        if os.path.getsize(ws.part) == 0:
            raise BuildError(f"{tool} reported success but wrote an empty {out_tar}")
        os.replace(ws.part, out_tar)
    return metadata


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# N builds -------------------------------------------------------------------------

class BuildSession:
    """N independent builds of one spec, and the backends they ran on.

        with BuildSession(spec, 2, "out/", vary="default", keep_daemons=True) as session:
            results = session.run()                      # out/build-1.tar, out/build-2.tar
            stage = session.rebuild(1, replace(spec, target="builder"), "out/stage-2.tar")

    `vary`: the variations of builds 2..N (repro.buildkit.variations.select: a Selection,
    "default", "all", "time,umask", True = default, False = none); `plans` instead gives
    each build's own (None for an unvaried build), as --bisect does, and `names` the
    builds' names (out_dir/NAME.tar; default build-1 ... build-N).

    On repro's own daemons, `run()` also keeps RUN steps in step: a varied build's step k
    starts no earlier than its stagger after the control's step k; with `lockstep` (a
    --bisect round), or when builds are varied without the stagger, every build's step
    k waits for all the others', and they start together just after a whole second, so
    that only the variations tell them apart.
    `rebuild(i, ...)` builds again where build i ran, with build i's variations: on its
    ephemeral daemon while it is still running (`keep_daemons=True`; otherwise each
    ephemeral daemon is closed as soon as its build ends, and a rebuild starts a new one).
    Closing the session closes every ephemeral daemon it started. See build_many for
    the other arguments.
    """

    def __init__(self, spec: BuildSpec, n: int, out_dir: str, *, addrs: tuple[str, ...] | list[str] = (),
                 builders: tuple[str, ...] | list[str] = (), vary: Selection | str | bool = False,
                 plans: list[BuildVariations | None] | None = None, names: list[str] | None = None,
                 progress: str = "auto", tools: Tools | None = None, stderr: IO[str] | None = None,
                 keep_daemons: bool = False, lockstep: bool = False, tls: ClientTLS | None = None) -> None:
        if n < 1:
            raise InputError(f"--builds must be at least 1, not {n}")
        if progress not in PROGRESS_MODES:
            raise InputError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, not {progress!r}")
        validate_spec(spec)
        self.spec, self.n, self.out_dir, self.progress = spec, n, out_dir, progress
        self.keep_daemons = keep_daemons
        names = names or [f"build-{i + 1}" for i in range(n)]
        self.paths = [os.path.join(out_dir, f"{name}.tar") for name in names]
        self.labels = [name.replace("-", " ", 1) if n > 1 else "" for name in names]
        self.selection = select(vary)
        self.plans = list(plans) if plans is not None else [self.selection.for_build(i) for i in range(n)]
        if len(self.plans) != n:
            raise InputError(f"{len(self.plans)} variation plans for {n} builds")
        self.sink: IO[str] = LockedSink(stderr or sys.stderr) if n > 1 else (stderr or sys.stderr)
        self.cancel = Cancel()
        self.lockstep = lockstep
        self._gate: _StartGate | None = None
        self._sync: list[dict | None] = [None] * n
        self._backends = _plan_backends(n, tuple(addrs), tuple(builders), tools, tls)
        # find BuildKit now, before any build starts, when some build needs a daemon of ours
        self._tools = tools or (find_buildkit() if None in self._backends else None)
        self._daemons: list[EphemeralDaemon] = []   # open, to be closed by close()
        self._kept: dict[int, EphemeralDaemon] = {}  # build i's daemon, with keep_daemons
        self._lock = threading.Lock()
        os.makedirs(out_dir, exist_ok=True)

    def __enter__(self) -> BuildSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            daemons, self._daemons = list(self._daemons), []
        _close_all(daemons)

    def run(self, on_done: Callable[[int, BuildResult], None] | None = None) -> list[BuildResult]:
        """The N builds, into out_dir/build-1.tar ... build-N.tar. `on_done(i, result)`
        is called as each build ends. One failure stops the others and is raised."""
        procs.install_signal_handlers()  # SIGTERM unwinds the main thread, which closes the daemons

        def one(i: int) -> BuildResult:
            result = self.rebuild(i, self.spec, self.paths[i])
            if on_done is not None:
                on_done(i, result)
            return result

        if self.keep_daemons:
            # launch kept daemons from this thread: a daemon dies with the thread that launched it
            # (setpriv --pdeathsig fires when that *thread* ends), and the pool's threads end with run();
            # the builds' threads wait for them to be ready, in parallel
            for i in range(self.n):
                if self._backends[i] is None:
                    self._daemon_for(i, wait=False)
        groups: dict[Hashable, list[int]] = {}
        for i in range(self.n):
            groups.setdefault(self._serial_key(i), []).append(i)
        self._gate = _StartGate(len(groups), self.cancel)
        sync_dir = self._plan_sync()
        try:
            tasks = [(lambda idx=idx: [(i, one(i)) for i in idx]) for idx in groups.values()]
            results = dict(pair for batch in self._parallel(tasks) for pair in batch)
        finally:
            self._gate = None
            self._sync = [None] * self.n
            if sync_dir:
                shutil.rmtree(sync_dir, ignore_errors=True)
        return [results[i] for i in range(self.n)]

    def _plan_sync(self) -> str | None:
        """Decide how the RUN steps of run()'s builds wait for each other (see the class
        docstring): only when every build runs on a daemon of repro's (so every build
        marks its steps), and some build has a stagger or the session is in lockstep."""
        gaps = [p.delay() if p is not None else 0.0 for p in self.plans]
        # varied builds without a stagger hold the clock as still as they can: in step
        lockstep = self.lockstep or (not any(gaps) and any(p is not None for p in self.plans))
        if self.n < 2 or not (lockstep or any(gaps)):
            return None
        if any(b is not None and b.run_steps().dir is None for b in self._backends):
            return None  # a builder repro did not start: its steps cannot be marked
        # only builds that run at the same time can keep in step: the first of each serial group
        firsts = sorted({min(i for i in range(self.n) if self._serial_key(i) == key)
                         for key in {self._serial_key(i) for i in range(self.n)}})
        if len(firsts) < 2 or firsts[0] != 0:
            return None
        sync_dir = tempfile.mkdtemp(prefix="repro-sync-")
        os.chmod(sync_dir, 0o755)  # RUN steps of any user read the release files through the shim
        ready = os.path.join(sync_dir, "ready")  # where each shim says it runs (_runc_wrapper.READY)
        os.mkdir(ready)
        os.chmod(ready, 0o777)  # written by any step's user; no sticky bit: repro removes what they wrote
        names = {i: f"b{i}" for i in firsts}
        busybox = Host.probe().static_busybox
        for i in firsts:
            if lockstep:
                self._sync[i] = {"dir": sync_dir, "me": names[i], "wait_for": [names[j] for j in firsts if j != i],
                                 "gap": gaps[i], "align": True, "busybox": busybox}
            else:
                self._sync[i] = {"dir": sync_dir, "me": names[i], "wait_for": [names[0]] if gaps[i] else [],
                                 "gap": gaps[i], "busybox": busybox}
        return sync_dir

    def rebuild(self, i: int, spec: BuildSpec, out_tar: str | None, *, label: str | None = None,
                push: Push | None = None) -> BuildResult:
        """One build of `spec` where build i runs (see the class docstring)."""
        label = self.labels[i] if label is None else label
        gate, sync = self._gate, self._sync[i]
        backend = self._backends[i]
        daemon = None
        try:
            if backend is None:
                daemon = self._daemon_for(i)
                backend = BuildctlBackend.on(daemon)
            return run_build(backend, spec, out_tar, progress=self.progress, variations=self.plans[i], label=label,
                             stderr=self.sink, cancel=self.cancel, push=push,
                             start=gate.start if gate is not None else None, sync=sync)
        except BaseException:
            if gate is not None:
                gate.abort()  # the others must not wait for this build at the start
            raise
        finally:
            if sync is not None:  # the others' RUN steps must not wait for this build's any more
                with contextlib.suppress(OSError):
                    open(os.path.join(sync["dir"], f"{sync['me']}.done"), "w").close()
            if daemon is None:
                pass
            elif not self.keep_daemons:
                self._forget(daemon)
                daemon.close()

    def _serial_key(self, i: int) -> Hashable:
        backend = self._backends[i]
        return backend.serial_key() if backend is not None else ("ephemeral", i)

    def _daemon_for(self, i: int, *, wait: bool = True) -> EphemeralDaemon:
        """Build i's ephemeral daemon: the running one when daemons are kept, else a new
        one; ready unless `wait` is False (then only launched)."""
        with self._lock:
            kept = self._kept.get(i) if self.keep_daemons else None
        if kept is not None and kept.alive():
            return kept.ready() if wait else kept
        daemon = EphemeralDaemon(tools=self._tools or find_buildkit())
        self.cancel.add_daemon(daemon)  # raises if the session was cancelled meanwhile
        with self._lock:
            self._daemons.append(daemon)
            if self.keep_daemons:
                self._kept[i] = daemon
        daemon.launch()
        return daemon.ready() if wait else daemon

    def _forget(self, daemon: EphemeralDaemon) -> None:
        with self._lock:
            if daemon in self._daemons:
                self._daemons.remove(daemon)

    def _parallel(self, tasks: list[Callable[[], list]]) -> list[list]:
        """Run `tasks` in threads; on the first failure stop the rest (Cancel) and raise it."""
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="repro-build") as pool:
            futures = [pool.submit(task) for task in tasks]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:  # Ctrl-C, SIGTERM: stop the builds before the pool waits for them
                self.cancel.fire()
                raise
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:  # stop the others and report the first failure (not the cancellations it caused)
                self.cancel.fire()
                wait(futures)
                raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]


def build_many(spec: BuildSpec, n: int, out_dir: str, *, addrs: tuple[str, ...] | list[str] = (),
               vary: Selection | str | bool = False, progress: str = "auto", tools: Tools | None = None,
               stderr: IO[str] | None = None, builders: tuple[str, ...] | list[str] = (),
               on_done: Callable[[int, BuildResult], None] | None = None,
               tls: ClientTLS | None = None) -> list[BuildResult]:
    """N independent builds of `spec` into out_dir/build-1.tar ... build-N.tar.

    Default: each build on its own fresh EphemeralDaemon, all in parallel. With `addrs`,
    buildctl build i runs on addrs[i % len(addrs)] (builds sharing an address run one
    after the other, so the daemon's solver cannot merge them). `builders` ("buildctl",
    "buildx", "buildx:NAME"): build i runs on builders[i % len(builders)]; builds sharing
    a buildx builder run one after the other. All start together (see the module
    docstring). `vary`: the variations of build 2..N (see BuildSession); build 1 is the
    control. `on_done(i, result)` is called as each build ends.
    """
    with BuildSession(spec, n, out_dir, addrs=addrs, builders=builders, vary=vary, progress=progress,
                      tools=tools, stderr=stderr, tls=tls) as session:
        return session.run(on_done)


class _StartGate:
    """Where the first build of every serial group waits until all are ready, so that they
    start together; then each waits its own delay after that moment (the stagger).
    Later builds of a group pass without waiting for the others."""

    def __init__(self, parties: int, cancel: Cancel) -> None:
        self._barrier = threading.Barrier(parties)
        self._lock = threading.Lock()
        self._t0: float | None = None
        self._cancel = cancel
        cancel.on_fire(self.abort)

    def start(self, delay: float) -> None:
        with self._lock:
            waits = self._t0 is None
        if waits:
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                raise BuildError("build cancelled") from None
            with self._lock:
                if self._t0 is None:
                    self._t0 = time.monotonic()
        assert self._t0 is not None
        while not self._cancel.fired and time.monotonic() < self._t0 + delay:
            time.sleep(min(0.05, max(0.0, self._t0 + delay - time.monotonic())))
        self._cancel.check()

    def abort(self) -> None:
        self._barrier.abort()


def _plan_backends(n: int, addrs: tuple[str, ...], builders: tuple[str, ...],
                   tools: Tools | None, tls: ClientTLS | None = None) -> list[Backend | None]:
    """Build i's backend, or None for a fresh ephemeral daemon (started when build i starts).
    Resolves every buildx builder once (bootstrapping it) and finds BuildKit if needed."""
    from repro.buildkit import buildx

    names = [buildx.parse_builder(b) for b in builders] or [None]
    kinds = [names[i % len(names)] for i in range(n)]  # None: buildctl; str: a buildx builder
    bx = buildx.find_buildx() if any(k is not None for k in kinds) else None
    resolved = {k: buildx.BuildxBackend(bx, buildx.resolve_builder(bx, k))
                for k in dict.fromkeys(kinds) if k is not None and bx is not None}
    ctl = [i for i in range(n) if kinds[i] is None]
    if ctl and addrs:
        tools = tools or find_buildkit()
    backends: list[Backend | None] = [resolved[k] if k is not None else None for k in kinds]
    if addrs:
        for j, i in enumerate(ctl):  # the j-th buildctl build takes the j-th address
            backends[i] = BuildctlBackend(tools, addrs[j % len(addrs)], tls=tls)  # type: ignore[arg-type]
    return backends


def _close_all(daemons: list[EphemeralDaemon]) -> None:
    closers = [threading.Thread(target=d.close, name="repro-daemon-close") for d in daemons]
    for t in closers:
        t.start()
    for t in closers:
        t.join()
