#!/usr/bin/env python3
"""Time `repro diff` next to a hashing floor, diffoci and diffoscope, shape by shape, in one run.

    python benchmarks/bench_diff.py [--shape mixed --shape small-files ...] [--out DIR]

1. Generates (once; cached in OUT/images/ keyed by the parameters) a pair of OCI
   archives per shape (benchmarks/imageshapes.py): `mixed` (the original: one layer, a
   few thousand files of log-normal sizes, 300 MB), `small-files` (one layer of 20,000
   files of 4-32 KiB), `many-layers` (24 layers, 3 rebuilt) and `debian` (a real
   debootstrap minbase rootfs from testdata/make_debian_base.py, rebuilt with the
   differences a second run leaves). Each pair differs in a few planted files.
2. Times, side by side on each pair:
   - the floor: one thread, Python's hashlib + zlib: sha256 of every blob of both
     archives, gunzip of the layers and sha256 of the uncompressed streams (the least
     any verifying differ must do); run as a child so its RSS is measured the same way;
   - `repro diff A B --format json -o FILE` (and, with --with-zlib, the same with the
     standard library's inflater instead of ISA-L);
   - diffoci v0.1.8: `load` of each archive into a fresh local content store, then
     `diff --pull=never` (strict mode);
   - diffoscope, under a timeout;
   - for `mixed`: `repro diff` on a pair that shares its layer (same blobs, one manifest
     annotation differs), at SIZE and at a small size, and `repro diff --help`;
   - for `small-files`: `repro inspect --files` against `tar tzvf` on the same layer.
3. Prints a table per shape (median wall time, ratio to the floor, CPU time, peak RSS,
   exit code, what each tool found), a summary against the targets of issue #12, and
   writes OUT/bench_diff.json.

Stdlib only. Peak RSS is the child's ru_maxrss from os.wait4 (for a tool that spawns
helpers, the largest single process among those it waited for). The peers come from
scripts/install-bench-tools.sh; a missing peer is skipped and said so.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from imageshapes import (  # noqa: E402,F401  (a sibling module; names kept for bench_check.py)
    GENERATOR_VERSION, SOURCE_DATE_EPOCH, Entry, ImagePair, Mutation, _content, _line_pool, generate,
    plan_layer, shape_debian, shape_many_layers, shape_mixed, shape_small_files,
)

CHUNK = 1 << 20
TOOLS = Path(os.environ.get("REPRO_TOOLS_DIR")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repro" / "tools")
DEFAULT_DIFFOCI = TOOLS / "diffoci" / "v0.1.8" / "bin" / "diffoci"
DEFAULT_DIFFOSCOPE = TOOLS / "diffoscope" / "332" / "venv" / "bin" / "diffoscope"
SHAPES = ("mixed", "small-files", "many-layers", "debian")


# --------------------------------------------------------------------------- floor

def floor_work(archives: list[str]) -> dict:
    """One thread: sha256 of every blob, gunzip + sha256 of every gzip blob. Returns timings."""
    t0 = time.perf_counter()
    blobs, compressed, uncompressed = 0, 0, 0
    for archive in archives:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if not member.isfile() or not member.name.startswith("blobs/"):
                    continue
                f = tar.extractfile(member)
                sha = hashlib.sha256()
                chunk = f.read(CHUNK)
                inflate = zlib.decompressobj(wbits=31) if chunk[:2] == b"\x1f\x8b" else None
                sha_u = hashlib.sha256()
                while chunk:
                    sha.update(chunk)
                    if inflate:
                        u = inflate.decompress(chunk)
                        sha_u.update(u)
                        uncompressed += len(u)
                    compressed += len(chunk)
                    chunk = f.read(CHUNK)
                if inflate:
                    u = inflate.flush()
                    sha_u.update(u)
                    uncompressed += len(u)
                expected = member.name.rsplit("/", 1)[1]
                if sha.hexdigest() != expected:
                    raise SystemExit(f"floor: digest mismatch for {member.name} in {archive}")
                blobs += 1
    return {"seconds": time.perf_counter() - t0, "blobs": blobs,
            "compressed_bytes": compressed, "uncompressed_bytes": uncompressed}


# --------------------------------------------------------------------------- processes

@dataclass
class Run:
    argv: list[str]
    rc: int | None
    wall: float
    cpu: float
    maxrss_mb: float
    timed_out: bool
    stdout: Path
    stderr: Path
    others: float = 0.0  # share of all cores that other processes used during the run


def _cpu_jiffies() -> tuple[int, int]:
    """(total, idle) jiffies of all cores, from /proc/stat."""
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    return sum(vals[:8]), vals[3] + (vals[4] if len(vals) > 4 else 0)


_RSS_WARNED: list[float] = []


def run_measured(argv: list[str], workdir: Path, tag: str, timeout: float | None = None,
                 env: dict | None = None) -> Run:
    """Run argv with stdout/stderr to files; wall time, CPU and peak RSS of this child alone.

    os.wait4 gives the rusage of exactly this child (and the descendants it reaped), so
    runs never mix, unlike RUSAGE_CHILDREN which accumulates the max over all children.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    out_p, err_p = workdir / f"{tag}.stdout", workdir / f"{tag}.stderr"
    box: dict = {}
    j0 = _cpu_jiffies()
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)

        def waiter() -> None:
            _, status, ru = os.wait4(proc.pid, 0)
            box.update(t=time.perf_counter(), status=status, ru=ru)

        th = threading.Thread(target=waiter, daemon=True)
        th.start()
        th.join(timeout)
        timed_out = th.is_alive()
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)
            th.join()
    j1 = _cpu_jiffies()
    rc = os.waitstatus_to_exitcode(box["status"])
    proc.returncode = rc  # reaped by wait4; keep Popen from waiting again
    ru = box["ru"]
    wall, cpu = box["t"] - t0, ru.ru_utime + ru.ru_stime
    # What the machine was busy with besides this child (the bench's own waiting is ~0).
    hz = os.sysconf("SC_CLK_TCK")
    busy = ((j1[0] - j0[0]) - (j1[1] - j0[1])) / hz
    others = max(0.0, busy - cpu) / max(1e-9, wall * (os.cpu_count() or 1))
    # Linux starts a forked child's ru_maxrss at the parent's peak (kept across exec): a
    # figure not above this process's own peak may be ours, not the tool's. Generating
    # shapes in this process grows it; a second run with the shapes cached does not.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if ru.ru_maxrss / 1024 <= own * 1.05 and not _RSS_WARNED:
        _RSS_WARNED.append(own)
        print(f"note: this bench process peaked at {own:.0f} MB, so peak RSS figures near it are upper "
              "bounds; rerun with the shapes cached for exact ones", file=sys.stderr)
    return Run(argv, None if timed_out else rc, wall, cpu, ru.ru_maxrss / 1024, timed_out,
               out_p, err_p, min(1.0, others))


def measure_quietly(run, retries: int, wait: float, threshold: float = 0.15) -> Run:
    """Call run() (which returns a Run) again, after waiting for idle CPUs, while other
    processes took more than `threshold` of the machine during it; at most `retries` times."""
    r = run()
    for _ in range(retries):
        if r.others <= threshold:
            break
        print(f"  (others used {r.others:.0%} of the CPUs during {Path(r.argv[0]).name}; again)",
              file=sys.stderr, flush=True)
        wait_idle(wait)
        r = run()
    return r


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


# --------------------------------------------------------------------------- tools

@dataclass
class Row:
    tool: str
    wall: float | None = None
    walls: list[float] = field(default_factory=list)
    cpu: float | None = None
    maxrss_mb: float | None = None
    rc: int | None = None
    found: str = ""
    paths: dict = field(default_factory=dict)  # path -> list of fields/notes
    note: str = ""
    timed_out: bool = False
    others: list[float] = field(default_factory=list)


def _row_from_runs(tool: str, runs: list[Run]) -> Row:
    m = _median_run(runs)
    return Row(tool, wall=m.wall, walls=[r.wall for r in runs], cpu=m.cpu,
               maxrss_mb=max(r.maxrss_mb for r in runs), rc=m.rc, timed_out=m.timed_out,
               others=[round(r.others, 3) for r in runs])


def floor_once(pair: ImagePair, work: Path, i: int, retries: int = 0, wait: float = 0) -> tuple[float, Run, dict]:
    r = measure_quietly(lambda: run_measured([sys.executable, str(Path(__file__).resolve()), "--floor-child",
                                              str(pair.a), str(pair.b)], work, f"floor-{i}"), retries, wait)
    if r.rc != 0:
        raise SystemExit(f"floor failed: {r.stderr.read_text()}")
    inner = json.loads(r.stdout.read_text())
    return inner["seconds"], r, inner


def floor_row(results: list[tuple[float, Run, dict]]) -> Row:
    """The floor's time is what the child measured around the work (no interpreter start)."""
    results = sorted(results, key=lambda t: t[0])
    seconds, run, inner = results[len(results) // 2]
    return Row("floor (sha256+gunzip+sha256, 1 thread)", wall=seconds, walls=[t[0] for t in results],
               cpu=run.cpu, maxrss_mb=max(t[1].maxrss_mb for t in results), rc=0,
               others=[round(t[1].others, 3) for t in results],
               found=f"{inner['blobs']} blobs, {inner['compressed_bytes'] / 1e6:.0f} MB read, "
                     f"{inner['uncompressed_bytes'] / 1e6:.0f} MB inflated")


def summarize_repro(report_path: Path) -> tuple[str, dict]:
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as e:
        return f"no report ({e})", {}
    findings = report.get("findings", [])
    by_kind: dict[str, int] = {}
    paths: dict[str, list[str]] = {}
    for f in findings:
        by_kind[f.get("kind", "?")] = by_kind.get(f.get("kind", "?"), 0) + 1
        if f.get("kind") == "file" and f.get("path"):
            paths.setdefault(f["path"], []).append(f.get("field", "?"))
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    files = "; ".join(f"{p} [{','.join(v)}]" for p, v in paths.items())
    return f"{len(findings)} findings ({kinds}){': ' + files if files else ''}", paths


def repro_once(cmd: list[str], a: Path, b: Path, work: Path, tag: str, i: int,
               retries: int = 0, wait: float = 0, extra: tuple[str, ...] = (), env: dict | None = None) -> Run:
    report = work / f"{tag}-{i}.json"

    def once() -> Run:
        report.unlink(missing_ok=True)
        return run_measured(cmd + ["diff", str(a), str(b), "--format", "json", "-o", str(report), *extra],
                            work, f"{tag}-{i}", env=env)
    return measure_quietly(once, retries, wait)


def repro_row(tool: str, runs: list[Run], work: Path, tag: str) -> Row:
    row = _row_from_runs(tool, runs)
    m = _median_run(runs)
    row.found, row.paths = summarize_repro(work / f"{tag}-{runs.index(m)}.json")
    if m.rc not in (0, 1):
        row.note = m.stderr.read_text(errors="replace").strip()[-300:]
    return row


def _cpu_busy(interval: float = 1.0) -> float:
    """Fraction of all cores busy over `interval` seconds, from /proc/stat."""
    def snap() -> tuple[int, int]:
        vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle
    try:
        t0, i0 = snap()
        time.sleep(interval)
        t1, i1 = snap()
    except OSError:
        return 0.0
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(limit: float, threshold: float = 0.1) -> float:
    """Wait up to `limit` seconds for other processes to leave the CPUs; return the busy fraction."""
    deadline = time.monotonic() + limit
    busy = _cpu_busy(0.5)
    while busy > threshold and time.monotonic() < deadline:
        busy = _cpu_busy(1.0)
    return busy


_DIFFOCI_TYPES = ("Desc", "Idx", "Mani", "Cfg", "Layer", "File")


def _diffoci_field(d0: str, d1: str) -> str:
    if "missing" in (d0, d1):
        return "presence"
    for prefix, name in (("Linkname", "linkname"), ("Mode", "mode"), ("Uid", "uid"), ("Gid", "gid"),
                         ("Uname", "uname"), ("Gname", "gname"), ("Dev", "devices"),
                         ("Atime", "atime"), ("Ctime", "ctime"), ("Index", "order"),
                         ("Format", "tar-format")):
        if d0.startswith(prefix):
            return name
    if re.fullmatch(r"[0-9a-f]{64}", d0):
        return "content"
    if re.match(r"\d{4}-\d\d-\d\d ", d0):
        return "mtime"
    return d0[:40] or "?"


def summarize_diffoci(stdout: str) -> tuple[str, dict]:
    """Parse diffoci's table: TYPE NAME INPUT-0 INPUT-1, columns padded with >= 2 spaces."""
    counts: dict[str, int] = {}
    paths: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) < 2 or cols[0] not in _DIFFOCI_TYPES:
            continue
        kind, name = cols[0], cols[1]
        d0, d1 = (cols[2:] + ["", ""])[:2]
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "File":
            paths.setdefault(name, []).append(_diffoci_field(d0, d1))
        elif m := re.match(r'name "(.+)" only appears in input (\d)', d0):
            paths.setdefault(m.group(1), []).append(f"presence (layer event, only in input {m.group(2)})")
    total = sum(counts.values())
    kinds = ", ".join(f"{k} {n}" for k, n in counts.items())
    files = "; ".join(f"{p} [{','.join(v)}]" for p, v in paths.items())
    return f"{total} lines ({kinds}){': ' + files if files else ''}", paths


def run_diffoci(diffoci: Path, a: Path, b: Path, work: Path, names: tuple[str, str]) -> tuple[Row, Row]:
    cache = work / "diffoci-cache"
    shutil.rmtree(cache, ignore_errors=True)
    base = [str(diffoci), "--backend=local", f"--local-cache={cache}"]
    loads = [run_measured(base + ["load", f"--input={p}"], work, f"diffoci-load-{n}")
             for n, p in (("a", a), ("b", b))]
    bad = [r for r in loads if r.rc != 0]
    diff = run_measured(base + ["diff", "--pull=never", f"docker.io/library/{names[0]}:latest",
                                f"docker.io/library/{names[1]}:latest"], work, "diffoci-diff") \
        if not bad else None
    shutil.rmtree(cache, ignore_errors=True)
    load_wall = sum(r.wall for r in loads)
    total = Row("diffoci v0.1.8 (load A + load B + diff)")
    total.wall = load_wall + (diff.wall if diff else 0)
    total.cpu = sum(r.cpu for r in loads) + (diff.cpu if diff else 0)
    total.maxrss_mb = max([r.maxrss_mb for r in loads] + ([diff.maxrss_mb] if diff else []))
    if bad:
        total.rc = bad[0].rc
        total.note = "load failed: " + bad[0].stderr.read_text(errors="replace").strip()[-300:]
        return total, Row("  of which diff")
    total.rc = diff.rc
    total.others = [round(max(r.others for r in loads + [diff]), 3)]
    total.found, total.paths = summarize_diffoci(diff.stdout.read_text(errors="replace"))
    total.note = f"load {load_wall:.2f} s + diff {diff.wall:.2f} s"
    if diff.rc not in (0, 1):
        total.note += "; " + diff.stderr.read_text(errors="replace").strip()[-300:]
    only = Row("  of which `diffoci diff --pull=never`", wall=diff.wall, cpu=diff.cpu,
               maxrss_mb=diff.maxrss_mb, rc=diff.rc, found="(same as above)",
               others=[round(diff.others, 3)])
    return total, only


def _walk_diffoscope(node: dict, chain: tuple[str, ...], leaves: list, file_list_lines: list) -> None:
    name = node.get("source1", "?")
    here = chain + (name,)
    details = node.get("details") or []
    if node.get("unified_diff") and name.startswith("file list"):
        file_list_lines.extend(node["unified_diff"].splitlines())
    if not details:
        leaves.append(here)
    for d in details:
        _walk_diffoscope(d, here, leaves, file_list_lines)


def summarize_diffoscope(json_path: Path, expected: list[str]) -> tuple[str, dict]:
    try:
        tree = json.loads(json_path.read_text())
    except (OSError, ValueError) as e:
        return f"no JSON report ({e})", {}
    leaves: list = []
    file_list: list[str] = []
    _walk_diffoscope(tree, (), leaves, file_list)
    paths: dict[str, list[str]] = {}
    # Member comparisons: a leaf whose chain contains an image path.
    for chain in leaves:
        for name in chain:
            n = name.lstrip("./")
            if n in expected:
                paths.setdefault(n, []).append("content" if chain[-1] == name else chain[-1][:30])
    # Metadata-only differences (mtime, mode, added file) show only in the inner tar's
    # "file list" diff: a -/+ line ending with the path.
    for line in file_list:
        if line[:1] in "+-" and not line.startswith(("+++", "---")):
            for p in expected:
                if line.rstrip().endswith(p):
                    tag = "file-list"
                    if p not in paths or tag not in paths[p]:
                        paths.setdefault(p, []).append(tag)
    changed_lines = sum(1 for line in file_list if line[:1] in "+-" and not line.startswith(("+++", "---")))
    def short(name: str) -> str:
        return re.sub(r"([0-9a-f]{12})[0-9a-f]{52}", r"\1…", name)
    shown = "; ".join(" > ".join(short(n) for n in c[1:]) for c in leaves[:8])
    files = "; ".join(f"{p} [{','.join(v)}]" for p, v in paths.items())
    return (f"{len(leaves)} differing leaves, file-list diff {changed_lines} +/- lines"
            f"{': ' + files if files else ''} | leaves: {shown}"), paths


def run_diffoscope(diffoscope: Path, a: Path, b: Path, work: Path, timeout: float,
                   expected: list[str]) -> Row:
    tmp = work / "diffoscope-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    report = work / "diffoscope.json"
    report.unlink(missing_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp))
    r = run_measured([str(diffoscope), "--json", str(report), str(a), str(b)], work, "diffoscope",
                     timeout=timeout, env=env)
    shutil.rmtree(tmp, ignore_errors=True)
    row = _row_from_runs("diffoscope 332", [r])
    if r.timed_out:
        row.found = f"TIMEOUT after {timeout:.0f} s (killed); no report"
        row.wall = None
        row.note = f"> {timeout:.0f} s"
        return row
    row.found, row.paths = summarize_diffoscope(report, expected)
    if r.rc not in (0, 1):
        row.note = r.stderr.read_text(errors="replace").strip()[-300:]
    return row


# --------------------------------------------------------------------------- report

def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def recall(row: Row, mutations: list[dict]) -> str:
    if not mutations:
        return ""
    hit = [m["path"] for m in mutations if m["path"] in row.paths]
    return f"{len(hit)}/{len(mutations)}"


def print_table(rows: list[Row], floor: float, mutations: list[dict]) -> None:
    head = (f"{'tool':<44} {'wall s':>8} {'x floor':>8} {'CPU s':>7} {'RSS MB':>7} {'exit':>4} "
            f"{'found':>6} {'others':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r.wall / floor if r.wall is not None and floor else None
        wall = _fmt(r.wall, ".2f", ">timeout" if r.timed_out else "-")
        print(f"{r.tool:<44} {wall:>8} {_fmt(ratio, '.2f'):>8} {_fmt(r.cpu, '.1f'):>7} "
              f"{_fmt(r.maxrss_mb, '.0f'):>7} {_fmt(r.rc, 'd'):>4} {recall(r, mutations) if r.paths else '':>6} "
              f"{_fmt(max(r.others) if r.others else None, '.0%'):>6}")
    print(f"(found = how many of the {len(mutations)} planted file differences the tool named; "
          "wall/CPU = median run; RSS = max over runs;\n others = largest share of the 2 cores "
          "that other processes used during a counted run: noise)")
    print()
    print("What each tool reported:")
    for r in rows:
        if r.found or r.note:
            print(f"  {r.tool.strip()}: {r.found}")
            if r.note:
                print(f"      note: {r.note}")


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "repro"],
                           capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "repro_commit": rev + ("+dirty" if dirty else "")}


def _warm(paths: list[Path]) -> None:
    """Read the archives once so that every tool starts with them in the page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(8 * CHUNK):
                pass


def _repro_cmd(arg: str | None) -> list[str] | None:
    if arg:
        return arg.split()
    exe = shutil.which("repro")
    cmd = [exe] if exe else [sys.executable, "-m", "repro"]
    probe = subprocess.run(cmd + ["diff", "--help"], capture_output=True, cwd=REPO)
    return cmd if probe.returncode == 0 else None



def make_pair(shape: str, args: argparse.Namespace, out: Path) -> ImagePair:
    """Generate (or find cached) the pair of one shape."""
    seed = args.seed
    if shape == "mixed":
        return generate(lambda: shape_mixed(args.size_mb, seed), out, seed,
                        f"g{GENERATOR_VERSION}-mixed-{args.size_mb:g}mb-seed{seed}", shared_pair=True)
    if shape == "small-files":
        return generate(lambda: shape_small_files(args.small_files, seed), out, seed,
                        f"g{GENERATOR_VERSION}-small-files-{args.small_files}-seed{seed}")
    if shape == "many-layers":
        return generate(lambda: shape_many_layers(args.layers, seed=seed), out, seed,
                        f"g{GENERATOR_VERSION}-many-layers-{args.layers}-seed{seed}")
    layout = args.debian_layout
    if layout is None:
        r = subprocess.run([sys.executable, str(REPO / "testdata" / "make_debian_base.py")], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"testdata/make_debian_base.py failed: {r.stderr.strip()[-500:]}")
        layout = Path.home() / ".cache" / "repro" / "base-debian-bookworm"
    stamp = json.loads((Path(layout) / "repro-debian-base.json").read_text()) if (Path(layout) / "repro-debian-base.json").exists() else {}
    key = f"g{GENERATOR_VERSION}-debian-{(stamp.get('digest') or 'layout').split(':')[-1][:12]}-seed{seed}"
    return generate(lambda: shape_debian(Path(layout), seed), out, seed, key)


def _names(pair: ImagePair) -> tuple[str, str]:
    return f"repro-bench-{pair.dir.name}-a", f"repro-bench-{pair.dir.name}-b"


def bench_shape(shape: str, pair: ImagePair, args: argparse.Namespace, repro: list[str] | None, out: Path,
                busy: list[float]) -> dict:
    """Every row of one shape; prints its table; returns its JSON record."""
    p = pair.params
    mutations = p["mutations"]
    expected = [m["path"] for m in mutations]
    work = out / "work" / shape
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"== {shape}: {p['description']}")
    print(f"   {pair.dir}  {p['files']} files / {p['entries']} entries in {p['layers']} layers "
          f"({p['layers_rebuilt']} rebuilt), {p['content_bytes'] / 1e6:.0f} MB of content, "
          f"{p['compressed_bytes_a'] / 1e6:.0f} MB gzip (A) / {p['compressed_bytes_b'] / 1e6:.0f} MB (B)")
    print("   B differs from A in: " + "; ".join(f"{m['path']} ({m['field']})" for m in mutations), flush=True)
    small = None
    if shape == "mixed" and args.small_mb != args.size_mb:
        small = generate(lambda: shape_mixed(args.small_mb, args.seed), out, args.seed,
                         f"g{GENERATOR_VERSION}-mixed-{args.small_mb:g}mb-seed{args.seed}", shared_pair=True)
    _warm([x for x in (pair.a, pair.b, pair.a_shared, small and small.a, small and small.a_shared) if x])

    runs: dict[str, list] = {k: [] for k in ("floor", "repro", "zlib", "shared-big", "shared-small",
                                             "trust-big", "trust-small", "startup", "inspect", "tar")}
    q = (args.retries, args.wait_idle)
    zlib_env = dict(os.environ, REPRO_INFLATER="zlib")
    for i in range(args.runs):
        busy.append(round(wait_idle(args.wait_idle), 3))
        print(f"   round {i + 1}/{args.runs} (others' CPU use {busy[-1]:.0%}) ...", file=sys.stderr, flush=True)
        runs["floor"].append(floor_once(pair, work, i, *q))
        if not repro:
            continue
        runs["repro"].append(repro_once(repro, pair.a, pair.b, work, "repro", i, *q))
        if args.with_zlib:
            runs["zlib"].append(repro_once(repro, pair.a, pair.b, work, "zlib", i, *q, env=zlib_env))
        if pair.a_shared is not None:
            trust = ("--trust-equal-digests",)
            runs["shared-big"].append(repro_once(repro, pair.a, pair.a_shared, work, "shared-big", i, *q))
            runs["trust-big"].append(repro_once(repro, pair.a, pair.a_shared, work, "trust-big", i, *q, extra=trust))
            if small is not None:
                runs["shared-small"].append(repro_once(repro, small.a, small.a_shared, work, "shared-small", i, *q))
                runs["trust-small"].append(repro_once(repro, small.a, small.a_shared, work, "trust-small", i, *q,
                                                      extra=trust))
            runs["startup"].append(run_measured(repro + ["diff", "--help"], work, f"startup-{i}"))
        if shape == "small-files" and pair.layer_a is not None:
            runs["inspect"].append(run_measured(repro + ["inspect", "--files", str(pair.a)], work, f"inspect-{i}"))
            runs["tar"].append(run_measured(["tar", "tzvf", str(pair.layer_a)], work, f"tar-{i}"))
    floor = floor_row(runs["floor"])
    rows = [floor]
    extra_rows: list[Row] = []
    if repro:
        rows.append(repro_row("repro diff", runs["repro"], work, "repro"))
        if runs["zlib"]:
            rows.append(repro_row("repro diff, stdlib zlib (REPRO_INFLATER=zlib)", runs["zlib"], work, "zlib"))
        if runs["shared-big"]:
            extra_rows.append(repro_row(f"repro diff, shared layer, {args.size_mb:g} MB", runs["shared-big"], work,
                                        "shared-big"))
            extra_rows.append(repro_row(f"... --trust-equal-digests, {args.size_mb:g} MB", runs["trust-big"], work,
                                        "trust-big"))
        if runs["shared-small"]:
            extra_rows.append(repro_row(f"repro diff, shared layer, {args.small_mb:g} MB", runs["shared-small"], work,
                                        "shared-small"))
            extra_rows.append(repro_row(f"... --trust-equal-digests, {args.small_mb:g} MB", runs["trust-small"],
                                        work, "trust-small"))
        if runs["startup"]:
            startup = _row_from_runs("repro diff --help (start-up only)", runs["startup"])
            startup.found = "interpreter + imports, for scale"
            extra_rows.append(startup)
        if runs["inspect"]:
            ins = _row_from_runs("repro inspect --files A", runs["inspect"])
            tar = _row_from_runs("tar tzvf (A's layer blob)", runs["tar"])
            ins.found = f"{ins.rc == 0 and 'ok' or 'failed'}; {ins.wall / tar.wall:.2f}x tar tzvf" if tar.wall else ""
            tar.found = f"{len(runs['tar'][0].stdout.read_bytes().splitlines())} lines"
            extra_rows += [ins, tar]
    skipped: list[str] = []
    if "diffoci" in args.skip:
        skipped.append("diffoci (--skip)")
    elif args.diffoci.exists():
        results = []
        for _ in range(max(1, args.peer_runs)):
            busy.append(round(wait_idle(args.wait_idle), 3))
            print(f"   diffoci (others' CPU use {busy[-1]:.0%}) ...", file=sys.stderr, flush=True)
            results.append(run_diffoci(args.diffoci, pair.a, pair.b, work, _names(pair)))
        results.sort(key=lambda t: t[0].wall or 0)
        total, only = results[len(results) // 2]
        total.walls = [t[0].wall for t in results]
        rows += [total, only]
    else:
        skipped.append(f"diffoci (not at {args.diffoci}; run scripts/install-bench-tools.sh)")
    if "diffoscope" in args.skip:
        skipped.append("diffoscope (--skip)")
    elif args.diffoscope.exists():
        busy.append(round(wait_idle(args.wait_idle), 3))
        print(f"   diffoscope (others' CPU use {busy[-1]:.0%}) ...", file=sys.stderr, flush=True)
        rows.append(run_diffoscope(args.diffoscope, pair.a, pair.b, work, args.diffoscope_timeout, expected))
    else:
        skipped.append(f"diffoscope (not at {args.diffoscope}; run scripts/install-bench-tools.sh)")
    print()
    print_table(rows + extra_rows, floor.wall, mutations)
    for s in skipped:
        print(f"skipped: {s}")
    print()
    verdict: dict = {}
    rr = next((r for r in rows if r.tool == "repro diff"), None)
    if rr and rr.wall and rr.rc in (0, 1):
        verdict["repro_over_floor"] = round(rr.wall / floor.wall, 3)
        verdict["wall_at_most_half_the_floor"] = rr.wall <= 0.5 * floor.wall
        verdict["repro_cpu_over_floor_cpu"] = round(rr.cpu / floor.cpu, 3)
        verdict["cpu_at_most_1.2x_the_floor"] = rr.cpu <= 1.2 * floor.cpu
        verdict["peak_rss_mb"] = round(rr.maxrss_mb)
        verdict["peak_rss_at_most_150mb"] = rr.maxrss_mb <= 150
        verdict["found"] = recall(rr, mutations)
        dt = next((r for r in rows if r.tool.startswith("diffoci")), None)
        if dt and dt.wall:
            verdict["diffoci_over_repro"] = round(dt.wall / rr.wall, 2)
            verdict["faster_than_diffoci"] = rr.wall < dt.wall
        shared = [r for r in extra_rows if "shared layer" in r.tool or "trust" in r.tool]
        if shared:
            verdict["shared_layer_seconds"] = [round(r.wall, 3) for r in shared]
    return {"shape": shape, "images": {"dir": str(pair.dir), **p}, "floor_s": floor.wall, "verdict": verdict,
            "rows": [{"tool": r.tool, "wall_s": r.wall, "walls_s": r.walls,
                      "ratio_to_floor": (r.wall / floor.wall) if r.wall else None, "cpu_s": r.cpu,
                      "peak_rss_mb": r.maxrss_mb, "exit": r.rc, "timed_out": r.timed_out,
                      "found": r.found, "paths": r.paths, "expected_found": recall(r, mutations),
                      "others_cpu_share": r.others, "note": r.note} for r in rows + extra_rows],
            "skipped": skipped}


def print_summary(results: list[dict]) -> None:
    head = (f"{'shape':<12} {'floor s':>8} {'repro s':>8} {'x floor':>8} {'CPU x':>6} {'RSS MB':>7} "
            f"{'diffoci x':>9} {'found':>6}  targets (wall<=0.5x, CPU<=1.2x, RSS<=150MB, < diffoci)")
    print(head)
    print("-" * len(head))
    for r in results:
        v = r["verdict"]
        if not v:
            print(f"{r['shape']:<12} {r['floor_s']:>8.2f}  (no repro run)")
            continue
        met = [v.get("wall_at_most_half_the_floor"), v.get("cpu_at_most_1.2x_the_floor"),
               v.get("peak_rss_at_most_150mb"), v.get("faster_than_diffoci")]
        marks = " ".join({True: "yes", False: "NO", None: "-"}[m] for m in met)
        print(f"{r['shape']:<12} {r['floor_s']:>8.2f} {v['repro_over_floor'] * r['floor_s']:>8.2f} "
              f"{v['repro_over_floor']:>8.2f} {v['repro_cpu_over_floor_cpu']:>6.2f} {v['peak_rss_mb']:>7} "
              f"{_fmt(v.get('diffoci_over_repro'), '.2f'):>9} {v['found']:>6}  {marks}")
    print("(x floor = repro's wall over the floor's; CPU x = repro's CPU over the floor's; "
          "diffoci x = diffoci's wall over repro's)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", choices=SHAPES,
                    help="a shape to run (repeatable; default: all of " + ", ".join(SHAPES) + ")")
    ap.add_argument("--size-mb", type=float, default=300, help="mixed: file content per image (default 300)")
    ap.add_argument("--small-mb", type=float, default=10,
                    help="mixed: size of the small pair for the shared-layer case (default 10)")
    ap.add_argument("--small-files", type=int, default=20000, help="small-files: files in the layer (default 20000)")
    ap.add_argument("--layers", type=int, default=24, help="many-layers: layers (default 24)")
    ap.add_argument("--debian-layout", type=Path,
                    help="debian: the OCI layout of testdata/make_debian_base.py (default: run it; cached)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out", help="cache and results dir")
    ap.add_argument("--runs", type=int, default=3, help="runs of floor and repro (median; default 3)")
    ap.add_argument("--peer-runs", type=int, default=1, help="runs of diffoci (median; default 1)")
    ap.add_argument("--with-zlib", action="store_true",
                    help="also time repro diff with the standard library's inflater (REPRO_INFLATER=zlib)")
    ap.add_argument("--repro", help="command that runs repro (default: `repro` on PATH)")
    ap.add_argument("--diffoci", type=Path, default=DEFAULT_DIFFOCI)
    ap.add_argument("--diffoscope", type=Path, default=DEFAULT_DIFFOSCOPE)
    ap.add_argument("--diffoscope-timeout", type=float, default=600)
    ap.add_argument("--skip", action="append", default=[], choices=["repro", "diffoci", "diffoscope"],
                    help="leave a tool out (repeatable)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each round wait up to SECONDS for the CPUs to be idle (other "
                         "processes under 10%%); the busy fraction seen is recorded")
    ap.add_argument("--retries", type=int, default=0,
                    help="run a floor/repro measurement again (up to N times) when other processes "
                         "took over 15%% of the CPUs during it")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--floor-child", nargs="+", metavar="ARCHIVE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.floor_child:
        print(json.dumps(floor_work(args.floor_child)))
        return 0

    out = args.out.resolve()
    shapes = args.shape or list(SHAPES)
    pairs = {shape: make_pair(shape, args, out) for shape in shapes}
    if args.generate_only:
        print(json.dumps({s: {k: v for k, v in p.params.items() if not k.startswith("layers_")}
                          for s, p in pairs.items()}, indent=2))
        return 0
    info = machine_info()
    print(f"bench_diff  {info['date']}  {info['cpu']}  {info['cores']} cores  Python {info['python']}"
          f"  repro {info['repro_commit']}")
    repro = None if "repro" in args.skip else _repro_cmd(args.repro)
    busy: list[float] = []
    results = [bench_shape(shape, pairs[shape], args, repro, out, busy) for shape in shapes]
    print("Summary")
    print_summary(results)
    result = {"machine": info, "runs": args.runs, "peer_runs": args.peer_runs,
              "others_cpu_busy_before_each_step": busy, "loadavg_at_end": os.getloadavg(), "shapes": results}
    (out / "bench_diff.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out / 'bench_diff.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
