"""The runc wrapper of repro's ephemeral daemons: applies a varied build's RUN-step
variations to the OCI runtime spec BuildKit hands runc, then execs runc.

buildkitd runs it as its `--oci-worker-binary` (through the shell script `runc` in the
daemon's dir, which calls it only for `runc run` / `runc create` while a plan exists):

    python3 -I -S runc_wrapper.py PLAN.json RUNC [RUNC-OPTIONS] -- RUNC-ARGS...

It is copied into each daemon's dir and must stay a standalone script: standard library
only, no import of repro (it runs once per RUN step, inside a rootless daemon's user
namespace too). PLAN.json, written by repro.buildkit.variations:

    {"log": "DIR/variations.log",
     "edits": [{"variation": "timezone", "op": "env", "name": "TZ", "value": "..."}, ...]}

Edits (each names its variation; the order is kept):
  env          NAME=VALUE in process.env, unless the build already sets NAME (or any
               name in `unless_set`)
  env_append   VALUE appended to an existing NAME (PATH)
  hostname     the UTS hostname;  domainname  the UTS domain name
  umask        process.user.umask
  mount        a read-only bind mount (source, destination)
  preload      a glibc LD_PRELOAD library (libfaketime): bind-mount `source_dir` at
               `destination`, add LD_PRELOAD and `env` — only when the rootfs has a glibc
               of this machine's architecture at least as new as `min_glibc`; otherwise
               skipped, with the reason
  cpus         CPU affinity of the container (inherited from this process), and
               read-only `files` over what else tells the CPU count (destination: source)
  personality  personality(2) flags (UNAME26: `uname -r` says 2.6.x), inherited likewise

Besides the edits, a plan may hold `sync` (not a variation: it edits nothing):
    {"dir": D, "me": NAME, "wait_for": [NAME...], "gap": SECONDS, "align": BOOL, "timeout": SECONDS}
Each RUN step claims the next step number k of its build (file D/NAME.k, holding the
time, and " shim" when the step waits inside its container), waits until every build in
`wait_for` has started its step k (or is done: D/NAME.done), then until the latest of those
start times plus `gap` (see sync()). With `align`, a shimmed step's start time is when its
shim runs inside the container (it creates D/ready/NAME.k first: creating a container can
take seconds on a busy machine, longer than the margin below), and the moment is rounded up to
just after the next whole second, over its own time too: builds that wait for each other
then read a second-resolution clock in the same second.
The varied build of a check waits for the control (gap = its stagger); the builds of a
--bisect round all wait for each other (align).

One JSON line per container goes to the log: {"container", "applied": [variation...],
"skipped": {variation: reason}}. repro reads it after the build to report what was applied.
Any failure here runs runc unchanged and logs the error: a variation must never be the
reason a build fails.
"""

import ctypes
import json
import math
import os
import re
import sys
import time

_GLIBC_DIRS = ("/lib/{triplet}", "/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
_GLIBC_VERSION = re.compile(rb"GNU C Library [^\n]*?version (\d+)\.(\d+)")
_ELF_MACHINE_OFFSET = 18


def main(argv):
    sep = argv.index("--")
    plan_path, runc, runc_args = argv[1], argv[2:sep], argv[sep + 1:]
    if _subcommand(runc_args) in ("run", "create"):
        plan = {}
        try:
            with open(plan_path) as f:
                plan = json.load(f)
            record = apply(plan, _bundle(runc_args))
        except Exception as e:  # never fail a build because of a variation
            record = {"container": os.path.basename(os.path.normpath(_bundle(runc_args))), "applied": [],
                      "skipped": {}, "error": f"{type(e).__name__}: {e}"}
        if record is not None:
            _log(plan.get("log"), record)
    os.execv(runc[0], runc + runc_args)


SHIM_DIR = "/dev/.repro-sync"
READY = "ready"  # D/ready/NAME.k: the shim of NAME's step k runs (D/ready is writable by any step's user)
READY_TIMEOUT = 60.0  # a shim that never says it runs (it could not write there): its mark's time stands
# `env -i` gives the step's command exactly its own environment again: the shim's shell
# exports SHLVL and PWD, which must not reach the command (nor an image that records it)
# (in a subshell: a failed redirection of `:`, a special builtin, would end the shell itself)
SHIM = ('(: >{ready}) 2>/dev/null; '
        'i=0; while [ ! -e {marks}/{go} ] && [ $i -lt {polls} ]; do usleep 10000; i=$((i+1)); done; '
        'exec {busybox} env -i "$@"')


def sync(plan, spec, rootfs):
    """Claim this RUN step's number and make it start when the plan's `sync` says (see
    the module docstring). The wait is best done inside the container, right before the
    step's command: with a static busybox from the host (`busybox`), the step's command
    runs under a shim that polls for a release file, which a helper process writes at
    the release time; the command then execs in place of the shim, with its own
    environment and arguments, as pid 1. Without one, this
    process waits before runc starts the container (less precise: container start-up
    takes a varying fraction of a second)."""
    directory, me = plan["dir"], plan["me"]
    k = 0
    while True:  # claim this build's next step number (RUN steps of parallel stages race here)
        try:
            fd = os.open(os.path.join(directory, f"{me}.{k}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            k += 1
            continue
        mine = time.time()
        break
    busybox = plan.get("busybox")
    timeout = float(plan.get("timeout", 600))
    process = spec.get("process", {})
    args, env = process.get("args") or [], process.get("env") or []
    # `env -i ENV... ARGS...` takes the first word without "=" for the command
    shim = bool((plan.get("wait_for") or plan.get("align")) and busybox and os.path.isfile(busybox) and args
                and "=" not in args[0] and all("=" in e for e in env))
    says_ready = shim and os.path.isdir(os.path.join(directory, READY))
    os.write(fd, (repr(mine) + (" shim" if says_ready else "")).encode())
    os.close(fd)
    if not plan.get("wait_for") and not plan.get("align"):
        return {"step": k}
    if shim:
        go = f"go.{k}.{me}"
        ready = os.path.join(directory, READY, f"{me}.{k}") if says_ready else None
        if _spawn(lambda: _release(plan, k, mine, timeout, os.path.join(directory, go), ready)):
            spec.setdefault("mounts", []).extend([
                {"destination": SHIM_DIR + "/busybox", "type": "bind", "source": busybox,
                 "options": ["rbind", "ro", "nosuid", "nodev"]},
                {"destination": SHIM_DIR + "/marks", "type": "bind", "source": directory,
                 "options": ["rbind", "ro", "nosuid", "nodev"]}])
            if says_ready:
                spec["mounts"].append({"destination": SHIM_DIR + "/" + READY, "type": "bind",
                                       "source": os.path.join(directory, READY),
                                       "options": ["rbind", "rw", "nosuid", "nodev", "noexec"]})
            script = SHIM.format(marks=SHIM_DIR + "/marks", go=go, polls=int(timeout * 100),
                                 busybox=SHIM_DIR + "/busybox", ready=f"{SHIM_DIR}/{READY}/{me}.{k}")
            if not any(e.startswith("HOME=") for e in env):  # what runc adds when the build sets no HOME
                env = [*env, "HOME=" + _home(spec, rootfs)]
            process["args"] = [SHIM_DIR + "/busybox", "sh", "-c", script, "repro-sync", *env, *args]
            return {"step": k, "shim": True}
    release = _release_time(plan, k, mine, timeout)
    if release is not None:
        time.sleep(max(0.0, release - time.time()))
    return {"step": k, "released": release}


def _home(spec, rootfs):
    """The HOME runc gives a process whose environment has none: the user's home in the
    rootfs's /etc/passwd, else "/" (runc's libcontainer/user defaults)."""
    uid = spec.get("process", {}).get("user", {}).get("uid", 0)
    passwd = resolve_in_root(rootfs, "/etc/passwd")
    try:
        with open(passwd or "", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2].isdigit() and int(fields[2]) == uid:
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _release_time(plan, k, mine, timeout, ready=None):
    """When step k may start: after every peer has started its step k (or is done), the
    latest of their start times (rounded up past the next whole second with `align`,
    over this build's own too) plus `gap`; None for no wait. With `align`, a shimmed
    step's start time is when its shim runs (its D/ready file; `ready`: this step's)."""
    directory = plan["dir"]
    deadline = time.monotonic() + timeout
    align = plan.get("align")
    times = []
    for peer in plan.get("wait_for", ()):
        mark, done = os.path.join(directory, f"{peer}.{k}"), os.path.join(directory, f"{peer}.done")
        while not os.path.exists(mark) and not os.path.exists(done) and time.monotonic() < deadline:
            time.sleep(0.01)
        when, shimmed = _read_mark(mark)
        if when is not None and align and shimmed:
            when = _ready_time(os.path.join(directory, READY, f"{peer}.{k}"), done, deadline) or when
        if when is not None:
            times.append(when)
    if align and ready is not None:
        mine = _ready_time(ready, None, deadline) or mine
    if align:
        base = math.floor(max(times + [mine])) + 1.05
    elif times:
        base = max(times)
    else:
        return None
    return base + float(plan.get("gap", 0))


def _ready_time(path, done, deadline):
    """When the shim that creates `path` ran (its mtime), waiting for it up to READY_TIMEOUT;
    None if it never came, or the build is done (`done` exists)."""
    give_up = min(deadline, time.monotonic() + READY_TIMEOUT)
    while time.monotonic() < give_up:
        try:
            return os.stat(path).st_mtime
        except OSError:
            if done is not None and os.path.exists(done):
                return None
            time.sleep(0.01)
    return None


def _release(plan, k, mine, timeout, go, ready=None):
    release = _release_time(plan, k, mine, timeout, ready)
    if release is not None:
        time.sleep(max(0.0, release - time.time()))
    with open(go + ".tmp", "w"):
        pass
    os.rename(go + ".tmp", go)


def _spawn(job):
    """Run `job` in a detached grandchild holding none of our file descriptors (buildkitd
    waits for the end of the step's output pipes); True when it started."""
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid:
        os.waitpid(pid, 0)
        return True
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        job()
    finally:
        os._exit(0)


def _read_mark(path):
    """A step mark's (time, shimmed); (None, False) when unreadable."""
    for _ in range(100):  # the mark exists; its writer may not have written the time yet
        try:
            with open(path) as f:
                words = f.read().split()
            return float(words[0]), words[1:] == ["shim"]
        except OSError:
            return None, False
        except (ValueError, IndexError):
            time.sleep(0.001)
    return None, False


def _subcommand(args):
    """runc's subcommand: the first argument that is not a global option or its value."""
    takes_value = {"--log", "--log-format", "--root", "--criu", "--rootless"}
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in takes_value:
            skip = True
        elif not a.startswith("-"):
            return a
    return ""


def _bundle(args):
    for i, a in enumerate(args):
        if a in ("--bundle", "-b") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--bundle="):
            return a.split("=", 1)[1]
    return os.getcwd()


def apply(plan, bundle):
    """Edit BUNDLE/config.json as the plan says; return the log record."""
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    rootfs = spec.get("root", {}).get("path", "rootfs")
    if not os.path.isabs(rootfs):
        rootfs = os.path.join(bundle, rootfs)
    applied, skipped = [], {}
    original = _env_names(spec)  # what the build set, before any edit of ours
    for edit in plan.get("edits", []):
        why = EDITS[edit["op"]](spec, {**edit, "build_env": original}, rootfs)
        name = edit["variation"]
        if why:
            skipped[name] = why
        elif name not in applied:
            applied.append(name)
    applied = [a for a in applied if a not in skipped]
    synced = sync(plan["sync"], spec, rootfs) if plan.get("sync") else None  # after the edits: the shim keeps the env
    tmp = path + ".repro"
    with open(tmp, "w") as f:
        json.dump(spec, f)
    os.replace(tmp, path)
    record = {"container": os.path.basename(os.path.normpath(bundle)), "applied": applied, "skipped": skipped}
    if synced is not None:
        record["sync"] = synced
    return record


# edits: each returns None when applied, else why it was not ---------------------------

def _env_names(spec):
    return {e.split("=", 1)[0] for e in spec.setdefault("process", {}).setdefault("env", [])}


def edit_env(spec, edit, rootfs):
    for name in edit.get("unless_set") or [edit["name"]]:
        if name in edit["build_env"]:
            return f"the build sets {name} itself"
    spec["process"]["env"].append(f"{edit['name']}={edit['value']}")
    return None


def edit_env_append(spec, edit, rootfs):
    env = spec.setdefault("process", {}).setdefault("env", [])
    for i, e in enumerate(env):
        if e.split("=", 1)[0] == edit["name"]:
            env[i] = e + edit["value"]
            return None
    return f"the build does not set {edit['name']}"


def edit_hostname(spec, edit, rootfs):
    spec["hostname"] = edit["value"]
    return None


def edit_domainname(spec, edit, rootfs):
    spec["domainname"] = edit["value"]
    return None


def edit_umask(spec, edit, rootfs):
    spec.setdefault("process", {}).setdefault("user", {})["umask"] = int(edit["value"])
    return None


# file systems of the container that are not the rootfs: a mount point made in one of
# them never reaches a layer (one made in the rootfs would: an empty file or directory)
_NOT_LAYERS = ("proc", "sysfs", "tmpfs", "devpts", "mqueue")


def edit_mount(spec, edit, rootfs):
    if not os.path.exists(edit["source"]):  # runc would fail the RUN step
        return f"{edit['source']} is missing"
    under = _mount_under(spec, edit["destination"])
    if under is None or under.get("type") not in _NOT_LAYERS:
        top = "/" + edit["destination"].strip("/").split("/")[0]
        return f"{top} is not a mounted file system here (its mount point would reach the layer)"
    spec.setdefault("mounts", []).append({"destination": edit["destination"], "type": "bind",
                                          "source": edit["source"], "options": ["rbind", "ro", "nosuid", "nodev"]})
    return None


def _mount_under(spec, destination):
    """The spec's mount whose destination holds `destination` most closely (None: the rootfs)."""
    best = None
    for m in spec.get("mounts", []):
        d = m.get("destination", "").rstrip("/") or "/"
        if (destination == d or destination.startswith(d + "/")) and (best is None or len(d) > len(best["destination"])):
            best = {**m, "destination": d}
    return best


def edit_preload(spec, edit, rootfs):
    if "LD_PRELOAD" in edit["build_env"]:
        return "the build sets LD_PRELOAD itself"
    why = glibc_problem(rootfs, edit["triplet"], edit["machine"], tuple(edit["min_glibc"]), edit.get("needs", ()))
    if why:
        return why
    why = edit_mount(spec, {"destination": edit["destination"], "source": edit["source_dir"]}, rootfs)
    if why:
        return why
    env = spec["process"]["env"]
    env.append(f"LD_PRELOAD={edit['destination']}/{edit['library']}")
    env.extend(f"{k}={v}" for k, v in edit["env"].items())
    return None


def edit_cpus(spec, edit, rootfs):
    cpus = set(edit["cpus"])
    if not cpus < os.sched_getaffinity(0):
        return "this machine has no more CPUs than that"
    os.sched_setaffinity(0, cpus)  # runc and the container's processes inherit it
    for destination, source in (edit.get("files") or {}).items():  # /sys/.../online, /proc/cpuinfo
        edit_mount(spec, {"destination": destination, "source": source}, rootfs)
    return None


def edit_personality(spec, edit, rootfs):
    libc = ctypes.CDLL(None, use_errno=True)
    current = libc.personality(0xFFFFFFFF)
    if current < 0 or libc.personality(current | int(edit["flags"])) < 0:
        return f"personality(2) refused: {os.strerror(ctypes.get_errno())}"
    return None


EDITS = {"env": edit_env, "env_append": edit_env_append, "hostname": edit_hostname, "domainname": edit_domainname,
         "umask": edit_umask, "mount": edit_mount, "preload": edit_preload, "cpus": edit_cpus,
         "personality": edit_personality}


# what a rootfs holds ---------------------------------------------------------------------

def resolve_in_root(root, path, depth=0):
    """`path` inside `root`, following symlinks as the container would see them (an
    absolute link target is relative to `root`). None when it does not exist."""
    if depth > 40:
        return None
    parts = [p for p in path.split("/") if p and p != "."]
    current = root
    for i, part in enumerate(parts):
        if part == "..":
            current = os.path.dirname(current) if current != root else root
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            rest = "/".join(parts[i + 1:])
            base = "/" if target.startswith("/") else "/" + os.path.relpath(current, root)
            return resolve_in_root(root, os.path.join(base, target, rest), depth + 1)
        if not os.path.lexists(candidate):
            return None
        current = candidate
    return current


def glibc_problem(rootfs, triplet, machine, min_version, needs=()):
    """None when the rootfs has a glibc that can load the preloaded library (of this
    machine's architecture, at least `min_version`, with the libraries it `needs` beside
    libc.so.6), else why not."""
    for d in _GLIBC_DIRS:
        libc = resolve_in_root(rootfs, d.format(triplet=triplet) + "/libc.so.6")
        if libc and os.path.isfile(libc):
            break
    else:
        musl = any(n.startswith("ld-musl-") for n in _listdir(resolve_in_root(rootfs, "/lib")))
        return ("the rootfs has musl, not glibc" if musl else
                "the rootfs has no glibc (static binaries)")
    with open(libc, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or int.from_bytes(data[_ELF_MACHINE_OFFSET:_ELF_MACHINE_OFFSET + 2], "little") != machine:
        return "the rootfs's glibc is for another architecture (an emulated platform)"
    m = _GLIBC_VERSION.search(data)
    found = (int(m.group(1)), int(m.group(2))) if m else None
    if found is None or found < min_version:
        have = "%d.%d" % found if found else "unknown"
        return f"the rootfs's glibc {have} is older than {min_version[0]}.{min_version[1]}, which libfaketime needs"
    missing = [n for n in needs if not os.path.exists(os.path.join(os.path.dirname(libc), n))]
    if missing:
        return f"the rootfs lacks {', '.join(missing)}, which libfaketime needs"
    return None


def _listdir(path):
    try:
        return os.listdir(path) if path else []
    except OSError:
        return []


def _log(path, record):
    if not path:
        return
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write with O_APPEND: lines of parallel RUN steps do not mix
        finally:
            os.close(fd)
    except OSError:
        pass


if __name__ == "__main__":
    main(sys.argv)
