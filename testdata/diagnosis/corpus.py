#!/usr/bin/env python3
"""The diagnosis corpus: build each context twice, and say which files really differ.

Each directory of testdata/diagnosis (or of any corpus laid out the same way, such as a
held-out one) is a build context with an `expect` file (format in README.md). This script

  * builds each context twice with `repro build`, each time on a fresh ephemeral
    BuildKit daemon, with SOURCE_DATE_EPOCH=1700000000 and rewrite-timestamp, side B
    starting GAP seconds after side A finished, two contexts at a time; the pairs are
    cached under ~/.cache/repro/diagnosis/ by a hash of the context, its base image and
    the epoch, so a second run rebuilds nothing;
  * makes the base images the contexts name: `busybox` (testdata/make_base.py), `debian`
    (testdata/make_debian_base.py: debootstrap --variant=minbase bookworm), and the
    Debian bases with the tools some cases use (bases/NAME: `debian-python`,
    `debian-gcc`, `debian-tools`), each built once with BuildKit and cached like the pairs;
  * finds the ground truth with Python's tarfile alone, not with repro: both images'
    layers are read entry by entry and compared layer by layer (presence, type, mode,
    owner, mtime, link target, content digest), so a corpus check does not trust the
    program it checks.

    python3 testdata/diagnosis/corpus.py build [--corpus DIR] [--jobs 2] [NAME...]
    python3 testdata/diagnosis/corpus.py truth [--corpus DIR] NAME...   # what differs, by tarfile

The benchmark (benchmarks/bench_diagnosis.py) and the tests (tests/explain/test_corpus.py)
import this module.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EPOCH = 1700000000  # 2023-11-14T22:13:20Z, as every example context
GAP = 2.0  # seconds between the end of side A and the start of side B
BASES_DIR = os.path.join(HERE, "bases")  # one directory per derived base: bases/NAME/Dockerfile (FROM debian)
# where derived bases are looked up, first match wins: a corpus loaded with load(DIR) puts
# DIR/bases (when it has one) before this corpus's own
BASES_DIRS: list[str] = [BASES_DIR]


def base_dir(name: str) -> str | None:
    """The directory of the derived base `name` (holding its Dockerfile), if any."""
    for d in BASES_DIRS:
        if os.path.isfile(os.path.join(d, name, "Dockerfile")):
            return os.path.join(d, name)
    return None


def bases() -> tuple[str, ...]:
    """The base images a context may name: busybox, debian, and each of bases/."""
    derived = {n for d in BASES_DIRS if os.path.isdir(d) for n in os.listdir(d) if base_dir(n)}
    return ("busybox", "debian", *sorted(derived))
BUILD_TIMEOUT = 3600


def cache_dir() -> str:
    base = os.environ.get("REPRO_DIAGNOSIS_CACHE")
    if base:
        return base
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "repro", "diagnosis")


# --- contexts and their expect files ------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    pattern: str  # a path as in reports (no leading /), or a glob of them (`*`, `?`)
    cause: str
    optional: bool = False  # "?": may differ or not (a clock read twice in one second)

    def matches(self, path: str) -> bool:
        return path == self.pattern or (any(c in self.pattern for c in "*?[") and fnmatch.fnmatchcase(path, self.pattern))


@dataclass(frozen=True)
class Context:
    name: str
    dir: str
    base: str
    expect: tuple[Expected, ...]
    mtimes: tuple[tuple[str, int, int], ...] = ()  # context files' mtimes for side A and side B

    def expected_for(self, path: str) -> Expected | None:
        return next((e for e in self.expect if e.matches(path)), None)


def parse_expect(text: str, where: str) -> tuple[str, tuple[Expected, ...], tuple[tuple[str, int, int], ...]]:
    base, out, mtimes = "busybox", [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*(base|mtime):\s*(.*)$", line)
            if m and m.group(1) == "base":
                base = m.group(2).strip()
                if base not in bases():
                    raise ValueError(f"{where}:{n}: base {base!r} is not one of {', '.join(bases())}")
            elif m:
                parts = m.group(2).split()
                if len(parts) != 3:
                    raise ValueError(f"{where}:{n}: `# mtime: FILE A_SECONDS B_SECONDS`")
                mtimes.append((parts[0], int(parts[1]), int(parts[2])))
            continue
        parts = line.split("#", 1)[0].split()
        if len(parts) != 2:
            raise ValueError(f"{where}:{n}: want `PATH CAUSE` (or `?PATH CAUSE`), got {raw!r}")
        path, cause = parts
        optional = path.startswith("?")
        out.append(Expected(path.lstrip("?").lstrip("/"), cause, optional))
    return base, tuple(out), tuple(mtimes)


def load(corpus: str = HERE, names: list[str] | None = None) -> list[Context]:
    """Every context of a corpus (directories holding a Dockerfile and an expect file).
    A corpus may bring derived bases of its own in DIR/bases/NAME/Dockerfile."""
    own = os.path.join(corpus, "bases")
    if os.path.isdir(own) and os.path.abspath(own) not in map(os.path.abspath, BASES_DIRS):
        BASES_DIRS.insert(0, own)
    out = []
    for name in sorted(os.listdir(corpus)):
        d = os.path.join(corpus, name)
        if not (os.path.isfile(os.path.join(d, "Dockerfile")) and os.path.isfile(os.path.join(d, "expect"))):
            continue
        if names and name not in names:
            continue
        with open(os.path.join(d, "expect"), encoding="utf-8") as f:
            base, expect, mtimes = parse_expect(f.read(), os.path.join(d, "expect"))
        out.append(Context(name, d, base, expect, mtimes))
    missing = set(names or ()) - {c.name for c in out}
    if missing:
        raise SystemExit(f"no such context in {corpus}: {', '.join(sorted(missing))}")
    return out


# --- base images ------------------------------------------------------------------------


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "testdata", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(module)
    return module


_base_lock = threading.RLock()
_bases: dict[str, tuple[str, str]] = {}


def base_image(kind: str, log: Any = sys.stderr) -> tuple[str, str]:
    """(OCI layout dir, manifest digest) of a base image, made and cached on first use."""
    with _base_lock:
        if kind not in _bases:
            _bases[kind] = _make_base(kind, log)
        return _bases[kind]


def _make_base(kind: str, log: Any) -> tuple[str, str]:
    if kind == "busybox":
        out = os.path.join(cache_dir(), "base-busybox")
        return out, _load_script("make_base").make_base(out)
    if kind == "debian":
        make = _load_script("make_debian_base")
        out = make.default_dir()
        return out, make.make_debian_base(out)
    ctx = base_dir(kind)
    if ctx is not None:
        deb, deb_digest = base_image("debian", log)
        key = _hash_tree(ctx, deb_digest)
        out = os.path.join(cache_dir(), f"base-{kind}-{key[:16]}")
        os.makedirs(cache_dir(), exist_ok=True)
        with open(out + ".lock", "w") as lock:  # parallel runs: one builds, the others wait
            fcntl.flock(lock, fcntl.LOCK_EX)
            _make_derived_base(kind, ctx, deb, deb_digest, out, log)
        with open(os.path.join(out, "index.json"), encoding="utf-8") as f:
            return out, json.load(f)["manifests"][0]["digest"]
    raise ValueError(f"unknown base {kind!r}")


def _make_derived_base(kind: str, ctx: str, deb: str, deb_digest: str, out: str, log: Any) -> None:
    if os.path.isfile(os.path.join(out, "index.json")):
        return
    print(f"corpus: building base {kind} (once) from {ctx}", file=log, flush=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tar = os.path.join(tmp, "image.tar")
        _repro_build(ctx, tar, f"base=oci-layout://{deb}@{deb_digest}", log)
        layout = os.path.join(tmp, "layout")
        with tarfile.open(tar) as tf:
            tf.extractall(layout, filter="data")
        _tag_latest(layout)
        os.replace(layout, out)


def _tag_latest(layout: str) -> None:
    path = os.path.join(layout, "index.json")
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    for m in index["manifests"][:1]:
        m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "latest"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(index, f)


def _hash_tree(d: str, *extra: str) -> str:
    """A hash of the files that go into a build (the expect file does not)."""
    h = hashlib.sha256()
    for e in extra:
        h.update(e.encode() + b"\0")
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for name in sorted(files):
            if root == d and name == "expect":
                continue
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, d).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


# --- building pairs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    name: str
    a: str
    b: str
    started: tuple[float, float]  # when each build started (Unix seconds)
    seconds: tuple[float, float]  # how long each took
    cached: bool


def _repro_build(context: str, out: str, build_context: str, log: Any) -> None:
    cmd = [sys.executable, "-m", "repro", "build", context, "-o", out, "-q",
           "--source-date-epoch", str(EPOCH), "--build-context", build_context]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"repro build {context} failed ({r.returncode}):\n{r.stderr[-4000:]}")


def _side_context(ctx: Context, side: int, tmp: str) -> str:
    """The context as side A (0) or B (1) sees it: a copy with the `# mtime:` times set."""
    if not ctx.mtimes:
        return ctx.dir
    dst = os.path.join(tmp, f"ctx-{'ab'[side]}")
    shutil.copytree(ctx.dir, dst)
    for rel, ta, tb in ctx.mtimes:
        t = (ta, tb)[side]
        os.utime(os.path.join(dst, rel), (t, t))
    return dst


def pair_key(ctx: Context) -> str:
    _, digest = base_image(ctx.base)
    return _hash_tree(ctx.dir, ctx.base, digest, str(EPOCH), str(GAP))[:16]


def build_pair(ctx: Context, log: Any = sys.stderr, rebuild: bool = False) -> Pair:
    layout, digest = base_image(ctx.base, log)
    out = os.path.join(cache_dir(), "pairs", f"{ctx.name}-{pair_key(ctx)}")
    meta = os.path.join(out, "build.json")
    if not rebuild and os.path.isfile(meta):
        with open(meta, encoding="utf-8") as f:
            m = json.load(f)
        return Pair(ctx.name, os.path.join(out, "a.tar"), os.path.join(out, "b.tar"),
                    tuple(m["started"]), tuple(m["seconds"]), True)  # type: ignore[arg-type]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    started, seconds = [], []
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out), prefix=f".{ctx.name}-") as tmp:
        for side in (0, 1):
            if side == 1:
                time.sleep(GAP)
            t0 = time.time()
            _repro_build(_side_context(ctx, side, tmp), os.path.join(tmp, f"{'ab'[side]}.tar"),
                         f"base=oci-layout://{layout}@{digest}", log)
            started.append(t0)
            seconds.append(round(time.time() - t0, 1))
        with open(os.path.join(tmp, "build.json"), "w", encoding="utf-8") as f:
            json.dump({"context": ctx.name, "base": ctx.base, "base_digest": digest, "epoch": EPOCH,
                       "started": started, "seconds": seconds}, f)
        shutil.rmtree(out, ignore_errors=True)
        final = os.path.join(tmp, "pair")
        os.mkdir(final)
        for name in ("a.tar", "b.tar", "build.json"):
            os.replace(os.path.join(tmp, name), os.path.join(final, name))
        os.replace(final, out)
    print(f"corpus: built {ctx.name} ({ctx.base}) in {seconds[0]:.0f} s + {seconds[1]:.0f} s", file=log, flush=True)
    return Pair(ctx.name, os.path.join(out, "a.tar"), os.path.join(out, "b.tar"),
                (started[0], started[1]), (seconds[0], seconds[1]), False)


def build_all(contexts: list[Context], jobs: int = 2, log: Any = sys.stderr) -> dict[str, Pair]:
    """Every context's pair; `jobs` contexts at a time (each builds A, then B)."""
    for kind in dict.fromkeys(c.base for c in contexts):
        base_image(kind, log)  # once, before the workers race for it
    # the slow ones first, so the two workers end together
    order = sorted(contexts, key=lambda c: (c.base == "busybox", c.name))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pairs = list(pool.map(lambda c: build_pair(c, log), order))
    return {p.name: p for p in pairs}


# --- the ground truth, with tarfile -----------------------------------------------------


@dataclass(frozen=True)
class Entry:
    type: str
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str
    digest: str | None


@dataclass
class Side:
    layers: list[dict[str, Entry] | None] = field(default_factory=list)  # None: not read (see skip)
    instructions: list[str | None] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)  # sha256 of each layer blob, as read


def _member(tf: tarfile.TarFile, name: str) -> bytes:
    f = tf.extractfile(name)
    if f is None:
        raise ValueError(f"{name}: not a file")
    return f.read()


def _manifest(tf: tarfile.TarFile) -> dict[str, Any]:
    index = json.loads(_member(tf, "index.json"))
    desc = index["manifests"][0]
    doc = json.loads(_member(tf, "blobs/sha256/" + desc["digest"].split(":")[1]))
    if "manifests" in doc:  # an index: the first image manifest that is not an attestation
        desc = next(m for m in doc["manifests"]
                    if (m.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest")
        doc = json.loads(_member(tf, "blobs/sha256/" + desc["digest"].split(":")[1]))
    return doc


def layer_digests(path: str) -> list[str]:
    """sha256 of each layer blob of the first image manifest, hashed here (not trusted)."""
    with tarfile.open(path) as tf:
        return [hashlib.sha256(_member(tf, "blobs/sha256/" + layer["digest"].split(":")[1])).hexdigest()
                for layer in _manifest(tf)["layers"]]


def read_image(path: str, skip: tuple[str, ...] = ()) -> Side:
    """The layers of the first image manifest of an OCI archive, entry by entry; a layer
    whose blob (hashed here) is in `skip` is not unpacked (the other side has the same
    bytes: its entries are equal)."""
    side = Side()
    with tarfile.open(path) as tf:
        doc = _manifest(tf)
        config = json.loads(_member(tf, "blobs/sha256/" + doc["config"]["digest"].split(":")[1]))
        history = [h for h in config.get("history", []) if not h.get("empty_layer")]
        for i, layer in enumerate(doc["layers"]):
            blob = _member(tf, "blobs/sha256/" + layer["digest"].split(":")[1])
            side.blobs.append(hashlib.sha256(blob).hexdigest())
            side.instructions.append(history[i].get("created_by") if i < len(history) else None)
            if i < len(skip) and skip[i] == side.blobs[-1]:
                side.layers.append(None)
                continue
            if blob[:2] == b"\x1f\x8b":
                blob = gzip.decompress(blob)
            entries: dict[str, Entry] = {}
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as lt:
                for m in lt:
                    name = m.name.lstrip("/")
                    name = name[2:] if name.startswith("./") else name
                    name = name.rstrip("/") or "."
                    digest = hashlib.sha256(_member(lt, m.name)).hexdigest() if m.isreg() else None
                    kind = ("file" if m.isreg() else "dir" if m.isdir() else "symlink" if m.issym()
                            else "hardlink" if m.islnk() else "other")
                    entries[name] = Entry(kind, m.mode, m.uid, m.gid, m.mtime, m.linkname, digest)
            side.layers.append(entries)
    return side


@dataclass(frozen=True)
class Truth:
    path: str
    layer: int
    instruction: str | None  # the history entry that made the layer, as the image records it
    fields: tuple[str, ...]  # what differs: presence, type, content, mode, owner, mtime, linkname


def truth(a_path: str, b_path: str) -> dict[str, Truth]:
    """Every path whose entry differs between the two images, layer by layer."""
    b = read_image(b_path, skip=tuple(layer_digests(a_path)))
    a = read_image(a_path, skip=tuple(b.blobs))
    out: dict[str, Truth] = {}
    for i in range(max(len(a.layers), len(b.layers))):
        if (i < len(b.layers) and b.layers[i] is None) or (i < len(a.layers) and a.layers[i] is None):
            continue  # the same blob on both sides
        la = a.layers[i] if i < len(a.layers) else {}
        lb = b.layers[i] if i < len(b.layers) else {}
        la, lb = la or {}, lb or {}
        instr = (b.instructions[i] if i < len(b.instructions) else None) or (
            a.instructions[i] if i < len(a.instructions) else None)
        for path in sorted(set(la) | set(lb)):
            ea, eb = la.get(path), lb.get(path)
            if ea == eb:
                continue
            if ea is None or eb is None:
                fields: tuple[str, ...] = ("presence",)
            else:
                fields = tuple(n for n, x, y in (
                    ("type", ea.type, eb.type), ("content", ea.digest, eb.digest), ("mode", ea.mode, eb.mode),
                    ("owner", (ea.uid, ea.gid), (eb.uid, eb.gid)), ("mtime", ea.mtime, eb.mtime),
                    ("linkname", ea.linkname, eb.linkname)) if x != y)
            out[path] = Truth(path, i, instr, fields)
    return out


def check_expect(ctx: Context, found: dict[str, Truth]) -> list[str]:
    """What the ground truth and the expect file disagree on (empty when they agree)."""
    problems = []
    for e in ctx.expect:
        if not e.optional and not any(e.matches(p) for p in found):
            problems.append(f"{ctx.name}: {e.pattern} is expected to differ but does not")
    for p in found:
        if ctx.expected_for(p) is None:
            problems.append(f"{ctx.name}: {p} differs ({', '.join(found[p].fields)}) but is not in expect")
    return problems


def normalise_instruction(text: str | None) -> str:
    """An instruction as the image records it (`RUN /bin/sh -c date > /f # buildkit`) or as
    a report shows it (`RUN date > /f`), reduced to one comparable form."""
    t = (text or "").strip()
    if t.endswith("# buildkit"):
        t = t[: -len("# buildkit")]
    t = re.sub(r"^RUN\s+\|\d+(\s+\S+=\S*)*\s+", "RUN ", t)
    t = re.sub(r"^(RUN\s+)?/bin/(ba)?sh -c\s+", "RUN ", t)
    return " ".join(t.split())


# --- repro diff under a fixed clock -------------------------------------------------------

LATER_CLOCK = "2031-06-01 00:00:00"  # years after every build of the corpus
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1")


def clock_env(clock: str | None) -> dict[str, str]:
    """The environment that runs repro (this checkout) with its clock set to `clock`
    (libfaketime; the clock then ticks on from there)."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if not clock:
        return env
    lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if lib is None:
        raise RuntimeError("a fixed clock needs libfaketime (Debian package libfaketime; scripts/setup.sh installs it)")
    env.update(LD_PRELOAD=lib, FAKETIME=f"@{clock}", FAKETIME_DONT_FAKE_MONOTONIC="1")
    return env


def repro_diff(a: str, b: str, clock: str | None = LATER_CLOCK) -> tuple[dict[str, Any], float]:
    """`repro diff A B --format json` at `clock`: the report and the seconds it took."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "repro", "diff", a, b, "--format", "json"],
                       capture_output=True, text=True, env=clock_env(clock), timeout=1800)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"repro diff {a} {b}: exit {r.returncode}: {r.stderr[-2000:]}")
    return json.loads(r.stdout), time.monotonic() - t0


# --- scoring ----------------------------------------------------------------------------

PRIMARY = ("content", "presence", "linkname", "type", "mtime", "mode", "uid", "gid")


@dataclass
class Score:
    context: str
    path: str
    expected: str
    given: str | None  # the cause of the finding that came closest (or of the main finding)
    ok: bool
    wrong: list[str]  # what was wrong: cause, hint, instruction, or no finding at all


def score(name: str, ctx: Context, found: dict[str, Truth], report: dict[str, Any]) -> tuple[list[Score], list[str]]:
    """Score one pair's report (repro's JSON): every differing file the expect file names
    is right when one finding on its path has the expected cause, a non-empty hint and the
    instruction of the layer it differs in. Also returns the disagreements between the
    ground truth and the expect file (those files are not scored)."""
    by_path: dict[str, list[dict[str, Any]]] = {}
    for f in report.get("findings", []):
        if f.get("kind") == "file" and f.get("path"):
            by_path.setdefault(f["path"], []).append(f)
    out: list[Score] = []
    for path, t in sorted(found.items()):
        e = ctx.expected_for(path)
        if e is None:
            continue
        fs = by_path.get(path, [])
        if not fs:
            out.append(Score(name, path, e.cause, None, False, ["finding"]))
            continue
        want = normalise_instruction(t.instruction)

        def faults(f: dict[str, Any]) -> list[str]:
            bad = []
            if f.get("cause") != e.cause:
                bad.append("cause")
            if not str(f.get("hint") or "").strip():
                bad.append("hint")
            if normalise_instruction(f.get("instruction")) != want:
                bad.append("instruction")
            return bad

        rank = lambda f: PRIMARY.index(f["field"]) if f.get("field") in PRIMARY else len(PRIMARY)  # noqa: E731
        best = min(fs, key=lambda f: (len(faults(f)), rank(f)))
        wrong = faults(best)
        given = best.get("cause") if "cause" not in wrong else min(fs, key=rank).get("cause")
        out.append(Score(name, path, e.cause, given, not wrong, wrong))
    return out, check_expect(ctx, found)


# --- command line -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("build", "truth"))
    ap.add_argument("names", nargs="*")
    ap.add_argument("--corpus", default=HERE)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    contexts = load(args.corpus, args.names or None)
    t0 = time.time()
    pairs = build_all(contexts, args.jobs)
    if args.command == "build":
        built = [p for p in pairs.values() if not p.cached]
        print(f"corpus: {len(pairs)} pairs ({len(built)} built, {len(pairs) - len(built)} cached) "
              f"in {time.time() - t0:.0f} s; build time {sum(sum(p.seconds) for p in built):.0f} s")
        return 0
    bad = 0
    for c in contexts:
        found = truth(pairs[c.name].a, pairs[c.name].b)
        print(f"== {c.name}")
        for p, t in found.items():
            print(f"   {p}  [{', '.join(t.fields)}]  layer {t.layer}: {normalise_instruction(t.instruction)[:90]}")
        for problem in check_expect(c, found):
            print(f"   ! {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
