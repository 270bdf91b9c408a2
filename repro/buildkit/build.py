"""Run builds: one (`build`) or N independent ones (`build_many`), each to an OCI tarball.

Every build runs with --no-cache, SOURCE_DATE_EPOCH as a build arg, and the OCI exporter
with rewrite-timestamp, explicit media types and forced gzip; no attestations are
requested (note: an empty `attest:provenance=` would turn provenance *on*, because
BuildKit keys on the option's presence).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import IO, Any, Callable

from repro.buildkit import procs
from repro.buildkit.daemon import EphemeralDaemon, daemon_info
from repro.buildkit.spec import BuildSpec, context_args, validate_spec
from repro.buildkit.tools import Tools, find_buildkit
from repro.atomic import publish_mode
from repro.buildkit.vary import Vary, perturbed_context
from repro.errors import BuildError, InputError

PROGRESS_MODES = ("auto", "plain", "tty", "quiet", "rawjson")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


@dataclass(frozen=True)
class Push:
    """Also push the image with buildctl's image exporter (same reproducibility options).
    `name`: HOST/REPO:TAG; `insecure`: plain HTTP or unverified TLS (registry.insecure)."""

    name: str
    insecure: bool = False


@dataclass(frozen=True)
class BuildResult:
    path: str                        # the OCI tarball ("" when the build was only pushed)
    buildkit_version: str            # of the daemon that built it ("v0.32.2")
    source_date_epoch: int
    exporter: dict[str, str]         # OCI exporter options used (without dest)
    metadata: dict                   # buildctl --metadata-file (containerimage.digest, ...)
    addr: str
    daemon: str                      # e.g. "ephemeral rootful buildkitd v0.32.2 (overlayfs) at unix://..."
    base_digests: dict[str, str]     # build-context name -> pinned digest
    duration: float                  # seconds spent in buildctl build
    snapshotter: str = ""
    vary: Vary | None = None
    context: str = ""                # the context actually sent (a perturbed copy under vary)
    build_contexts: dict[str, str] = field(default_factory=dict)
    pushed: str = ""                 # NAME@DIGEST when the image was pushed
    builder: str = "buildctl"        # "buildctl", or "buildx:NAME" (repro.buildkit.buildx)
    driver: str = ""                 # buildctl: "ephemeral" (repro's own daemon) or "remote" (--addr);
                                     # buildx: the builder's driver (docker-container, kubernetes, remote)

    @property
    def image_digest(self) -> str:
        return str(self.metadata.get("containerimage.digest", ""))


# one build --------------------------------------------------------------------------

def build(spec: BuildSpec, out_tar: str | None, *, addr: str | None = None, progress: str = "auto",
          vary: Vary | None = None, tools: Tools | None = None, label: str = "",
          daemon: EphemeralDaemon | None = None, stderr: IO[str] | None = None,
          cancel: Cancel | None = None, push: Push | None = None) -> BuildResult:
    """Build `spec` once into the OCI tarball `out_tar` (written atomically), and/or push
    it (`push`; then `out_tar` may be None).

    Daemon: `daemon` if given, else `addr`, else $BUILDKIT_HOST, else a fresh
    EphemeralDaemon started for this build and torn down after it. `vary`: perturb the
    inputs first (see repro.buildkit.vary). Progress goes to `stderr` (default
    sys.stderr), prefixed with `label` if given. `cancel`: registers the buildctl process
    so that another thread can stop this build. Raises BuildError on failure."""
    if progress not in PROGRESS_MODES:
        raise InputError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, not {progress!r}")
    validate_spec(spec)
    if out_tar is None and push is None:
        raise InputError("nothing to do: give an output tarball or a reference to push to")
    out_tar = os.path.abspath(out_tar) if out_tar is not None else None
    if out_tar is not None and not os.path.isdir(os.path.dirname(out_tar)):
        raise InputError(f"cannot write {out_tar}: directory {os.path.dirname(out_tar)} does not exist")
    tools = tools or find_buildkit()
    if daemon is None and addr is None:
        addr = os.environ.get("BUILDKIT_HOST") or None
    if daemon is None and addr is None:
        with EphemeralDaemon(tools=tools) as own:
            return _build(spec, out_tar, own.addr, own, tools, progress, vary, label, stderr, cancel, push)
    if daemon is not None:
        return _build(spec, out_tar, daemon.addr, daemon, tools, progress, vary, label, stderr, cancel, push)
    assert addr is not None
    return _build(spec, out_tar, addr, None, tools, progress, vary, label, stderr, cancel, push)


def prepare_workspace(stack: contextlib.ExitStack, spec: BuildSpec, out_tar: str | None,
                      vary: Vary | None) -> tuple[str, str, str, str | None, str]:
    """What every build (buildctl or buildx) needs before it runs: a private temp dir, the
    context and Dockerfile (a perturbed copy with --vary), the `.part` file beside
    `out_tar` that becomes it on success, and the metadata file path.
    Returns (work dir, context, dockerfile, part or None, metadata path)."""
    work = stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-build-"))
    context, dockerfile = os.path.abspath(spec.context), os.path.abspath(spec.dockerfile_path())
    if vary is not None:
        context, dockerfile = perturbed_context(context, dockerfile, spec.source_date_epoch, vary, work)
    part = None
    if out_tar is not None:
        fd, part = tempfile.mkstemp(prefix=f".{os.path.basename(out_tar)}.", suffix=".part",
                                    dir=os.path.dirname(out_tar))
        os.close(fd)
        publish_mode(part)  # mkstemp makes it 0600; buildctl writes into it, keeping the mode
        stack.callback(_unlink_quietly, part)
    return work, context, dockerfile, part, os.path.join(work, "metadata.json")


def finish_output(meta_path: str, part: str | None, out_tar: str | None, tool: str) -> dict:
    """After a successful build: the metadata file's contents ({} if unreadable), and the
    `.part` tarball renamed to `out_tar` (an empty one is a BuildError, never published)."""
    try:
        with open(meta_path) as f:
            metadata = json.load(f)
    except (OSError, ValueError):
        metadata = {}
    if part is not None and out_tar is not None:
        if os.path.getsize(part) == 0:
            raise BuildError(f"{tool} reported success but wrote an empty {out_tar}")
        os.replace(part, out_tar)
    return metadata


def _build(spec: BuildSpec, out_tar: str | None, addr: str, daemon: EphemeralDaemon | None, tools: Tools,
           progress: str, vary: Vary | None, label: str, stderr: IO[str] | None,
           cancel: Cancel | None, push: Push | None = None) -> BuildResult:
    info = daemon.info if daemon is not None and daemon.info.worker_id else daemon_info(tools, addr)
    ctx = context_args(spec.build_contexts)
    exporter = spec.exporter_options()
    with contextlib.ExitStack() as stack:
        work, context, dockerfile, part, meta_path = prepare_workspace(stack, spec, out_tar, vary)
        sink = stderr or sys.stderr
        argv = _buildctl_argv(tools, addr, spec, context, dockerfile, ctx.args, exporter, part, meta_path,
                              progress_mode(progress, label, sink), push)
        env = _push_auth_env(push, work) if push is not None else {}
        if vary is not None and vary.delay > 0:
            time.sleep(vary.delay)  # a gap in wall-clock time before this build starts
        started = time.monotonic()
        if cancel is not None and cancel.fired:
            raise BuildError("build cancelled")
        code, lines = _run_buildctl(argv, progress, label, sink, cancel, env)
        duration = time.monotonic() - started
        if code != 0:
            raise _build_error(code, lines, addr, daemon)
        metadata = finish_output(meta_path, part, out_tar, "buildctl")
    digest = str(metadata.get("containerimage.digest", ""))
    if push is not None and not digest:
        raise BuildError(f"buildctl reported success but no digest for the image pushed to {push.name}")
    return BuildResult(
        path=out_tar or "", buildkit_version=info.buildkit_version, source_date_epoch=int(spec.source_date_epoch or 0),
        exporter=exporter, metadata=metadata, addr=addr,
        daemon=daemon.describe() if daemon is not None else f"buildkitd {info.buildkit_version} at {addr}",
        base_digests=dict(ctx.base_digests), duration=duration, snapshotter=info.snapshotter, vary=vary,
        context=context if vary is not None else os.path.abspath(spec.context),
        build_contexts=dict(ctx.sources), pushed=f"{push.name}@{digest}" if push is not None else "",
        driver="ephemeral" if daemon is not None else "remote")


def _push_auth_env(push: Push, work: str) -> dict[str, str]:
    """buildctl reads registry credentials from docker's config only ($DOCKER_CONFIG or
    ~/.docker). When repro finds the push registry's credentials in REGISTRY_AUTH_FILE,
    show buildctl that file through a symlink in the build's private temp dir: the same
    format, and the secret is never copied."""
    from repro.oci.registry_auth import credentials_file
    from repro.oci.reference import parse_reference

    host = parse_reference("docker://" + push.name).registry
    found = credentials_file(host)
    if found is None or found != os.environ.get("REGISTRY_AUTH_FILE"):
        return {}
    config_dir = os.path.join(work, "docker-config")
    os.mkdir(config_dir, 0o700)
    os.symlink(os.path.abspath(found), os.path.join(config_dir, "config.json"))
    return {"DOCKER_CONFIG": config_dir}


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _csv_field(value: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def progress_mode(progress: str, label: str, sink: IO[str]) -> str:
    """buildctl's --progress for ours: quiet is plain, captured and not shown; auto is a
    tty display on a terminal unless several builds share it (label), else plain."""
    if progress == "quiet" or (progress == "auto" and label):
        return "plain"
    if progress == "auto":
        with contextlib.suppress(AttributeError, ValueError):
            return "tty" if sink.isatty() else "plain"
        return "plain"
    return progress


def _buildctl_argv(tools: Tools, addr: str, spec: BuildSpec, context: str, dockerfile: str,
                   ctx_args: tuple[str, ...], exporter: dict[str, str], dest: str | None, meta_path: str,
                   mode: str, push: Push | None = None) -> list[str]:
    outputs = []
    if dest is not None:
        outputs.append([("type", "oci"), ("dest", dest), *exporter.items()])
    if push is not None:  # the image exporter takes the same reproducibility options
        outputs.append([("type", "image"), ("name", push.name), ("push", "true"), *exporter.items(),
                        *([("registry.insecure", "true")] if push.insecure else [])])
    argv = [tools.buildctl, "--addr", addr, "build", "--progress", mode, "--frontend", "dockerfile.v0",
            "--local", f"context={context}", "--local", f"dockerfile={os.path.dirname(dockerfile)}",
            "--opt", f"filename={os.path.basename(dockerfile)}",
            "--opt", f"build-arg:SOURCE_DATE_EPOCH={spec.source_date_epoch}"]
    for arg in spec.build_args:
        argv += ["--opt", f"build-arg:{arg}"]
    if spec.target:
        argv += ["--opt", f"target={spec.target}"]
    if spec.platforms:
        argv += ["--opt", "platform=" + ",".join(spec.platforms)]
    argv += list(ctx_args)
    for secret in spec.secrets:
        argv += ["--secret", secret]
    for ssh in spec.ssh:
        argv += ["--ssh", ssh]
    argv.append("--no-cache")
    for output in outputs:
        argv += ["--output", ",".join(_csv_field(f"{k}={v}") for k, v in output)]
    argv += ["--metadata-file", meta_path]
    return argv


def _run_buildctl(argv: list[str], progress: str, label: str, sink: IO[str],
                  cancel: Cancel | None = None, extra_env: dict[str, str] | None = None,
                  tool: str = "buildctl") -> tuple[int, list[str]]:
    """Run buildctl (or `tool`: docker buildx, which takes the same --progress modes);
    show its progress on `sink` unless quiet; return (exit code, last lines)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BUILDKIT_HOST", "SOURCE_DATE_EPOCH")}
    env.update(extra_env or {})
    tail: deque[str] = deque(maxlen=400)
    show = progress != "quiet"
    prefix = f"[{label}] " if label else ""
    use_pty = argv[argv.index("--progress") + 1] == "tty"
    if use_pty:
        master, slave = os.openpty()
        _copy_winsize(sink, slave)
        with contextlib.suppress(OSError):  # bytes pass through unchanged: our terminal adds its own \r
            import termios
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.ONLCR
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
        out_target: int = slave
    else:
        master = slave = -1
        out_target = subprocess.PIPE
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_target, stderr=subprocess.STDOUT
                                if not use_pty else slave, env=env)
    except OSError as e:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        raise BuildError(f"cannot run {tool}: {e}") from None
    if cancel is not None:
        cancel.add_process(proc)
    try:
        if use_pty:
            os.close(slave)
            _pump_pty(master, sink if show else None, tail)
        else:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                tail.append(_ANSI.sub("", line))
                if show:
                    sink.write(prefix + line + "\n")
                    sink.flush()
        return proc.wait(), list(tail)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if use_pty:
            with contextlib.suppress(OSError):
                os.close(master)


def _pump_pty(master: int, sink: IO[str] | None, tail: deque[str]) -> None:
    partial = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            data = b""
        if not data:
            break
        if sink is not None:
            with contextlib.suppress(AttributeError, ValueError):
                sink.buffer.write(data)  # type: ignore[attr-defined]
                sink.flush()
        partial += data
        *lines, partial = partial.split(b"\n")
        for line in lines:
            tail.append(_ANSI.sub("", line.decode(errors="replace")))
    if partial:
        tail.append(_ANSI.sub("", partial.decode(errors="replace")))


def _copy_winsize(sink: IO[str], fd: int) -> None:
    import fcntl
    import termios
    with contextlib.suppress(OSError, AttributeError, ValueError):
        size = fcntl.ioctl(sink.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def buildkit_error_lines(lines: list[str]) -> list[str]:
    """BuildKit's own error lines from buildctl's output: the final `error: ...` and the
    progress `ERROR:` lines, in order, without duplicates."""
    found: list[str] = []
    for line in lines:
        text = line.strip()
        text = re.sub(r"^#\d+\s+(\d+\.\d+\s+)?", "", text)
        if text.startswith("error:") or text.startswith("ERROR:") or " ERROR:" in text[:20]:
            text = text.split(":", 1)[1].strip() if text.lower().startswith("error:") else text
            if text and text not in found:
                found.append(text)
    return found


_TRANSPORT_ERRORS = ("code = Unavailable", "error reading from server", "connection refused", "broken pipe")


def _build_error_text(code: int, lines: list[str]) -> str:
    """BuildKit's own error lines from a failed build's output, else its last lines."""
    errors = buildkit_error_lines(lines) or [ln.strip() for ln in lines[-5:] if ln.strip()] or [f"exit status {code}"]
    return "; ".join(errors[-3:])


def _build_error(code: int, lines: list[str], addr: str, daemon: EphemeralDaemon | None) -> BuildError:
    message = _build_error_text(code, lines)
    if daemon is not None and daemon.proc is not None and any(m in message for m in _TRANSPORT_ERRORS):
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.proc.wait(timeout=5)  # the connection broke: give a dying daemon time to be seen dead
    if daemon is not None and not daemon.alive():
        status = daemon.proc.returncode if daemon.proc is not None else None
        err = BuildError(f"buildkitd at {addr} died during the build (status {status}): {message}; "
                         f"daemon log: {daemon.log_tail(6)}")
    else:
        err = BuildError(f"build failed: {message}")
    err.output_tail = lines  # type: ignore[attr-defined]
    return err


# N builds -------------------------------------------------------------------------

def build_many(spec: BuildSpec, n: int, out_dir: str, *, addrs: tuple[str, ...] | list[str] = (),
               vary: bool | Vary = False, progress: str = "auto", tools: Tools | None = None,
               stderr: IO[str] | None = None, daemon_factory: Callable[[], EphemeralDaemon] | None = None,
               builders: tuple[str, ...] | list[str] = (),
               on_done: Callable[[int, BuildResult], None] | None = None) -> list[BuildResult]:
    """N independent builds of `spec` into out_dir/build-1.tar ... build-N.tar.

    Default: each build on its own fresh EphemeralDaemon, all in parallel. With `addrs`,
    build i runs on addrs[i % len(addrs)] (builds sharing an address run one after the
    other, so the daemon's solver cannot merge them). `builders` ("buildctl", "buildx",
    "buildx:NAME"): build i runs on builders[i % len(builders)]; buildctl builds use
    `addrs` or ephemeral daemons as above, builds sharing a buildx builder run one after
    the other. `vary`: build 2..N see perturbed inputs (a Vary, or True for Vary()),
    build 1 the inputs as they are. `on_done(i, result)` is called as each build ends.
    """
    from repro.buildkit import buildx

    if n < 1:
        raise InputError(f"--builds must be at least 1, not {n}")
    validate_spec(spec)
    os.makedirs(out_dir, exist_ok=True)
    names = [buildx.parse_builder(b) for b in builders] or [None]
    kinds = [names[i % len(names)] for i in range(n)]  # None: buildctl; str: a buildx builder
    if any(k is None for k in kinds):
        tools = tools or find_buildkit()
    bx = buildx.find_buildx() if any(k is not None for k in kinds) else None
    resolved = {k: buildx.resolve_builder(bx, k) for k in dict.fromkeys(kinds) if k is not None and bx}
    ctl_index = [sum(1 for k in kinds[:i] if k is None) for i in range(n)]  # i-th buildctl build
    base_vary = Vary() if vary is True else (vary or None)
    procs.install_signal_handlers()  # SIGTERM unwinds the main thread, which closes the daemons below
    paths = [os.path.join(out_dir, f"build-{i + 1}.tar") for i in range(n)]
    varies = [None if i == 0 or base_vary is None else replace(base_vary, index=i) for i in range(n)]
    labels = [f"build {i + 1}" if n > 1 else "" for i in range(n)]
    sink: IO[str] = _LockedSink(stderr or sys.stderr, threading.Lock()) if n > 1 else (stderr or sys.stderr)
    cancel = Cancel()

    def one(i: int) -> BuildResult:
        result = _one(i)
        if on_done is not None:
            on_done(i, result)
        return result

    def _one(i: int) -> BuildResult:
        if kinds[i] is not None:
            return buildx.build_buildx(spec, paths[i], resolved[kinds[i]], bx=bx, progress=progress,
                                       vary=varies[i], label=labels[i], stderr=sink, cancel=cancel)
        if addrs:
            return build(spec, paths[i], addr=addrs[ctl_index[i] % len(addrs)], progress=progress, vary=varies[i],
                         tools=tools, label=labels[i], stderr=sink, cancel=cancel)
        d = daemon_factory() if daemon_factory else EphemeralDaemon(tools=tools)
        cancel.add_daemon(d)
        with d:
            return build(spec, paths[i], daemon=d, progress=progress, vary=varies[i], tools=tools,
                         label=labels[i], stderr=sink, cancel=cancel)

    # builds that share a daemon (an address, a buildx builder) run one after the other
    groups: dict[tuple[str, Any], list[int]] = {}
    for i in range(n):
        if kinds[i] is not None:
            key: tuple[str, Any] = ("buildx", resolved[kinds[i]].name)
        elif addrs:
            key = ("addr", addrs[ctl_index[i] % len(addrs)])
        else:
            key = ("ephemeral", i)
        groups.setdefault(key, []).append(i)
    tasks: list[Callable[[], list[tuple[int, BuildResult]]]] = [
        (lambda idx=idx: [(i, one(i)) for i in idx]) for idx in groups.values()]
    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="repro-build") as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C, SIGTERM: stop the builds before the pool waits for them
            cancel.fire()
            raise
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:  # stop the others and report the first failure (not the cancellations it caused)
            cancel.fire()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
    results: dict[int, BuildResult] = {}
    for future in futures:
        for i, result in future.result():
            results[i] = result
    return [results[i] for i in range(n)]


class Cancel:
    """Stops a batch of builds from another thread: kills their buildctl processes (the
    daemon then drops the solve), then closes their ephemeral daemons, in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._daemons: list[EphemeralDaemon] = []
        self.fired = False

    def add_process(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(proc)
            fired = self.fired
        if fired:
            proc.kill()

    def add_daemon(self, daemon: EphemeralDaemon) -> None:
        with self._lock:
            if self.fired:
                raise BuildError("build cancelled")
            self._daemons.append(daemon)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            running, daemons = list(self._procs), list(self._daemons)
        for proc in running:
            with contextlib.suppress(OSError):
                proc.kill()
        closers = [threading.Thread(target=d.close, name="repro-daemon-close") for d in daemons]
        for t in closers:
            t.start()
        for t in closers:
            t.join()


class _LockedSink:
    """A text stream several build threads write progress lines to."""

    def __init__(self, stream: IO[str], lock: threading.Lock) -> None:
        self._stream, self._lock = stream, lock

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()
