#!/usr/bin/env python3
"""Time `repro diff` next to a hashing floor, diffoci and diffoscope, in one run.

    python benchmarks/bench_diff.py [--size-mb 300] [--out DIR]

1. Generates (once; cached in OUT/images/ keyed by the parameters) two single-layer OCI
   archives of about SIZE MB of file content each, a few thousand files of varied sizes,
   half compressible text and half incompressible bytes, one gzip layer each. They
   differ in five files: the content of a text file and of a binary, the mtime of one,
   the mode of one, and one file added at the end of the layer.
2. Times, side by side on the same pair:
   - the floor: one thread, Python's hashlib + zlib: sha256 of every blob of both
     archives, gunzip of the layers and sha256 of the uncompressed streams (the least
     any verifying differ must do); run as a child so its RSS is measured the same way;
   - `repro diff A B --format json -o FILE`;
   - diffoci v0.1.8: `load` of each archive into a fresh local content store, then
     `diff --pull=never` (strict mode);
   - diffoscope, under a timeout;
   - `repro diff` on a pair that shares its layer (same blobs, one manifest annotation
     differs), at SIZE and at a small size, to show it does not depend on layer size.
3. Prints a table (median wall time, ratio to the floor, CPU time, peak RSS, exit code,
   what each tool found) and writes OUT/bench_diff.json.

Stdlib only. Peak RSS is the child's ru_maxrss from os.wait4 (for a tool that spawns
helpers, the largest single process among those it waited for). The peers come from
scripts/install-bench-tools.sh; a missing peer is skipped and said so.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GENERATOR_VERSION = 1
SOURCE_DATE_EPOCH = 1700000000
CHUNK = 1 << 20
TOOLS = Path(os.environ.get("REPRO_TOOLS_DIR")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repro" / "tools")
DEFAULT_DIFFOCI = TOOLS / "diffoci" / "v0.1.8" / "bin" / "diffoci"
DEFAULT_DIFFOSCOPE = TOOLS / "diffoscope" / "332" / "venv" / "bin" / "diffoscope"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


# --------------------------------------------------------------------------- generator

@dataclass(frozen=True)
class Entry:
    """One tar entry of the generated layer."""

    path: str
    kind: str  # "dir" | "file" | "symlink"
    mode: int
    mtime: int = SOURCE_DATE_EPOCH
    size: int = 0
    content: str = ""  # "text" | "binary"
    linkname: str = ""
    patch: bytes = b""  # for image B: bytes written over the middle of the content


@dataclass(frozen=True)
class Mutation:
    path: str
    field: str  # what differs, in repro's vocabulary: content | mtime | mode | presence
    note: str


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(n)]


def _line_pool(seed: int) -> list[bytes]:
    rng = random.Random(f"{seed}:lines")
    vocab = _words(rng, 2000) + ["def", "return", "self", "import", "the", "=", "{", "}", "if", "for"] * 20
    lines = []
    for _ in range(4096):
        indent = " " * (4 * rng.randint(0, 3))
        lines.append((indent + " ".join(rng.choices(vocab, k=rng.randint(3, 14))) + "\n").encode())
    return lines


def _content(entry: Entry, seed: int, pool: list[bytes]) -> bytes:
    rng = random.Random(f"{seed}:{entry.path}")
    if entry.content == "binary":
        return rng.randbytes(entry.size)
    n = entry.size // 50 + 1
    data = b"".join(rng.choices(pool, k=n))
    while len(data) < entry.size:
        data += b"".join(rng.choices(pool, k=n))
    return data[: entry.size]


def _patched(data: bytes, patch: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + patch + data[mid + len(patch):]


def plan_layer(size_mb: float, seed: int) -> tuple[list[Entry], list[Entry], list[Mutation]]:
    """The entries of image A and image B (sorted as BuildKit writes them) and what differs."""
    rng = random.Random(f"{seed}:plan")
    n_files = max(60, round(size_mb * 12))
    n_pkgs = max(3, n_files // 25)
    target = int(size_mb * (1 << 20))
    files: list[Entry] = []
    text_sizes, bin_sizes = [], []
    for i in range(n_files):
        pkg = f"pkg{i % n_pkgs:03d}"
        if rng.random() < 0.7:
            where = rng.choice([f"usr/share/doc/{pkg}", f"usr/lib/python3/dist-packages/{pkg}",
                                f"etc/{pkg}", f"usr/share/{pkg}/templates"])
            ext = rng.choice([".py", ".txt", ".conf", ".html", ".json", ".md"])
            files.append(Entry(f"{where}/f{i:05d}{ext}", "file", 0o644, content="text"))
            text_sizes.append(rng.lognormvariate(0, 1.2))
        else:
            where, mode, name = rng.choice([
                ("usr/lib/x86_64-linux-gnu", 0o644, f"lib{pkg}-{i:05d}.so.1"),
                ("usr/bin", 0o755, f"{pkg}-tool{i:05d}"),
                (f"usr/share/{pkg}/data", 0o644, f"blob{i:05d}.bin"),
                (f"opt/{pkg}/lib", 0o644, f"mod{i:05d}.so")])
            files.append(Entry(f"{where}/{name}", "file", mode, content="binary"))
            bin_sizes.append(rng.lognormvariate(0, 1.6))
    # Scale the log-normal shapes so that text and binary each make half of the target.
    ts, bs = iter(text_sizes), iter(bin_sizes)
    tscale = target / 2 / sum(text_sizes)
    bscale = target / 2 / sum(bin_sizes)
    files = [replace(f, size=max(1, int(next(ts) * tscale)) if f.content == "text"
                     else max(1, int(next(bs) * bscale))) for f in files]
    # A few symlinks, as packages ship them (libfoo.so -> libfoo.so.1).
    links = [Entry(f.path[: -len(".1")], "symlink", 0o777, linkname=f.path.rsplit("/", 1)[1])
             for f in files if f.path.endswith(".so.1")][:200]
    logs = [Entry("var/log/apt/history.log", "file", 0o644, size=4096, content="text"),
            Entry("var/log/dpkg.log", "file", 0o644, size=20000, content="text")]
    entries = files + links + logs
    dirs = {"/".join(e.path.split("/")[:k]) for e in entries for k in range(1, e.path.count("/") + 1)}
    entries += [Entry(d, "dir", 0o755) for d in dirs]
    entries.sort(key=lambda e: e.path)

    # Mutations for B, picked deterministically among the planned files.
    texts = [e for e in entries if e.kind == "file" and e.content == "text" and e.size > 200
             and e.path.startswith(("etc/", "usr/share/doc/"))]
    bins = sorted((e for e in entries if e.kind == "file" and e.content == "binary"), key=lambda e: -e.size)
    tools = [e for e in entries if e.path.startswith("usr/bin/") and e.kind == "file"]
    pick = random.Random(f"{seed}:mutations")
    text_c, text_m = pick.sample(texts, 2)
    bin_c = bins[len(bins) // 10]  # a large binary, not the largest
    tool_m = pick.choice(tools)
    added = Entry("var/log/zz-rebuild-stamp.txt", "file", 0o644, size=61, content="text")
    changed = {
        text_c.path: replace(text_c, patch=b"built 2024-05-02T10:11:12Z"),
        bin_c.path: replace(bin_c, patch=bytes(range(16))),
        text_m.path: replace(text_m, mtime=SOURCE_DATE_EPOCH + 3600),
        tool_m.path: replace(tool_m, mode=0o775),
    }
    entries_b = [changed.get(e.path, e) for e in entries] + [added]
    assert entries_b[-2].path < added.path, "the added file must sort last"
    mutations = [
        Mutation(text_c.path, "content", "text file: a build timestamp in the middle"),
        Mutation(bin_c.path, "content", f"binary of {bin_c.size} bytes: 16 bytes in the middle"),
        Mutation(text_m.path, "mtime", "mtime one hour later"),
        Mutation(tool_m.path, "mode", "0755 -> 0775"),
        Mutation(added.path, "presence", "only in B, last entry of the layer"),
    ]
    return entries, entries_b, mutations


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, b) -> int:
        self.sha.update(b)
        self.size += len(b)
        return self.raw.write(b)

    def flush(self) -> None:
        pass  # never pass a flush on to GzipFile: it would emit a sync-flush block

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _LayerWriter:
    def __init__(self, path: Path):
        self.file = open(path, "wb")
        self.compressed = _HashingWriter(self.file)
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.compressed, compresslevel=6, mtime=0)
        self.uncompressed = _HashingWriter(self.gz)
        self.tar = tarfile.open(fileobj=self.uncompressed, mode="w|", format=tarfile.PAX_FORMAT)

    def add(self, e: Entry, data: bytes = b"") -> None:
        ti = tarfile.TarInfo(e.path)
        ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = e.mode, e.mtime, 0, 0, "", ""
        if e.kind == "dir":
            ti.type = tarfile.DIRTYPE
            self.tar.addfile(ti)
        elif e.kind == "symlink":
            ti.type, ti.linkname = tarfile.SYMTYPE, e.linkname
            self.tar.addfile(ti)
        else:
            ti.size = len(data)
            self.tar.addfile(ti, io.BytesIO(data))

    def close(self) -> tuple[str, str, int]:
        self.tar.close()
        self.gz.close()
        self.file.close()
        return self.compressed.digest(), self.uncompressed.digest(), self.compressed.size


def _json_blob(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_oci_archive(path: Path, name: str, layer_blob: Path, layer_digest: str, diff_id: str,
                      layer_size: int, manifest_annotations: dict | None = None) -> str:
    """Write an OCI image archive around one gzip layer; return the manifest digest."""
    created = datetime.datetime.fromtimestamp(SOURCE_DATE_EPOCH, datetime.timezone.utc)
    created_s = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    config = _json_blob({
        "architecture": "amd64", "os": "linux", "created": created_s,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created_s, "created_by": "COPY rootfs/ / # buildkit",
                     "comment": "buildkit.dockerfile.v0"}],
    })
    manifest_obj = {
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": MT_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
    }
    if manifest_annotations:
        manifest_obj["annotations"] = manifest_annotations
    manifest = _json_blob(manifest_obj)
    # diffoci (containerd's importer) names the image from these annotations, and two
    # archives with the same name overwrite each other: give each a unique full name.
    index = _json_blob({
        "schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, "digest": _digest(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": f"docker.io/library/{name}:latest",
                                       "org.opencontainers.image.ref.name": "latest"}}],
    })
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(arcname: str, data: bytes) -> None:
            ti = tarfile.TarInfo(arcname)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, SOURCE_DATE_EPOCH
            tar.addfile(ti, io.BytesIO(data))

        def add_dir(arcname: str) -> None:
            ti = tarfile.TarInfo(arcname)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, SOURCE_DATE_EPOCH
            tar.addfile(ti)

        add_bytes("oci-layout", _json_blob({"imageLayoutVersion": "1.0.0"}))
        add_bytes("index.json", index)
        add_dir("blobs")
        add_dir("blobs/sha256")
        for blob in (config, manifest):
            add_bytes("blobs/sha256/" + _digest(blob).split(":")[1], blob)
        ti = tarfile.TarInfo("blobs/sha256/" + layer_digest.split(":")[1])
        ti.size, ti.mode, ti.mtime = layer_size, 0o644, SOURCE_DATE_EPOCH
        with open(layer_blob, "rb") as f:
            tar.addfile(ti, f)
    os.replace(tmp, path)
    return _digest(manifest)


@dataclass
class ImagePair:
    dir: Path
    a: Path
    b: Path
    a_shared: Path  # same blobs as a, one manifest annotation differs
    params: dict


def generate_pair(out: Path, size_mb: float, seed: int, log=print) -> ImagePair:
    key = f"g{GENERATOR_VERSION}-{size_mb:g}mb-seed{seed}"
    d = out / "images" / key
    a, b, a2 = d / "a.oci.tar", d / "b.oci.tar", d / "a-shared.oci.tar"
    params_path = d / "params.json"
    if params_path.exists() and a.exists() and b.exists() and a2.exists():
        return ImagePair(d, a, b, a2, json.loads(params_path.read_text()))
    log(f"generating {key} in {d} ...")
    t0 = time.perf_counter()
    d.mkdir(parents=True, exist_ok=True)
    entries_a, entries_b, mutations = plan_layer(size_mb, seed)
    pool = _line_pool(seed)
    by_path_b = {e.path: e for e in entries_b}
    wa, wb = _LayerWriter(d / "layer-a.tar.gz"), _LayerWriter(d / "layer-b.tar.gz")
    content_bytes = 0
    for e in entries_a:
        eb = by_path_b[e.path]
        data = _content(e, seed, pool) if e.kind == "file" else b""
        content_bytes += len(data)
        wa.add(e, data)
        wb.add(eb, _patched(data, eb.patch) if eb.patch else data)
    for e in entries_b[len(entries_a):]:
        wb.add(e, _content(e, seed, pool))
    la, lb = wa.close(), wb.close()
    man_a = write_oci_archive(a, "repro-bench-a", d / "layer-a.tar.gz", *la)
    man_b = write_oci_archive(b, "repro-bench-b", d / "layer-b.tar.gz", *lb)
    man_a2 = write_oci_archive(a2, "repro-bench-a-shared", d / "layer-a.tar.gz", *la,
                               manifest_annotations={"org.opencontainers.image.revision": "rebuild-2"})
    (d / "layer-a.tar.gz").unlink()
    (d / "layer-b.tar.gz").unlink()
    params = {
        "generator_version": GENERATOR_VERSION, "size_mb": size_mb, "seed": seed,
        "entries": len(entries_a), "files": sum(e.kind == "file" for e in entries_a),
        "content_bytes": content_bytes,
        "layer_a": {"digest": la[0], "diff_id": la[1], "compressed_bytes": la[2]},
        "layer_b": {"digest": lb[0], "diff_id": lb[1], "compressed_bytes": lb[2]},
        "manifests": {"a": man_a, "b": man_b, "a_shared": man_a2},
        "mutations": [m.__dict__ for m in mutations],
        "generate_seconds": round(time.perf_counter() - t0, 1),
    }
    params_path.write_text(json.dumps(params, indent=2) + "\n")
    log(f"generated {key} in {params['generate_seconds']} s")
    return ImagePair(d, a, b, a2, params)


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
               retries: int = 0, wait: float = 0, extra: tuple[str, ...] = ()) -> Run:
    report = work / f"{tag}-{i}.json"

    def once() -> Run:
        report.unlink(missing_ok=True)
        return run_measured(cmd + ["diff", str(a), str(b), "--format", "json", "-o", str(report), *extra],
                            work, f"{tag}-{i}")
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


def run_diffoci(diffoci: Path, a: Path, b: Path, work: Path) -> tuple[Row, Row]:
    cache = work / "diffoci-cache"
    shutil.rmtree(cache, ignore_errors=True)
    base = [str(diffoci), "--backend=local", f"--local-cache={cache}"]
    loads = [run_measured(base + ["load", f"--input={p}"], work, f"diffoci-load-{n}")
             for n, p in (("a", a), ("b", b))]
    bad = [r for r in loads if r.rc != 0]
    diff = run_measured(base + ["diff", "--pull=never", "docker.io/library/repro-bench-a:latest",
                                "docker.io/library/repro-bench-b:latest"], work, "diffoci-diff") \
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=300, help="file content per image (default 300)")
    ap.add_argument("--small-mb", type=float, default=10,
                    help="size of the small pair for the shared-layer case (default 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out", help="cache and results dir")
    ap.add_argument("--runs", type=int, default=3, help="runs of floor and repro (median; default 3)")
    ap.add_argument("--peer-runs", type=int, default=1, help="runs of diffoci (median; default 1)")
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
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pair = generate_pair(out, args.size_mb, args.seed)
    small = generate_pair(out, args.small_mb, args.seed) if args.small_mb != args.size_mb else pair
    if args.generate_only:
        print(json.dumps(pair.params, indent=2))
        return 0
    p = pair.params
    mutations = p["mutations"]
    expected = [m["path"] for m in mutations]
    info = machine_info()
    print(f"bench_diff  {info['date']}  {info['cpu']}  {info['cores']} cores  Python {info['python']}"
          f"  repro {info['repro_commit']}")
    print(f"images: {pair.dir}  {p['files']} files / {p['entries']} entries, "
          f"{p['content_bytes'] / 1e6:.0f} MB of content, layer "
          f"{p['layer_a']['compressed_bytes'] / 1e6:.0f} MB gzip (A) / "
          f"{p['layer_b']['compressed_bytes'] / 1e6:.0f} MB (B)")
    print("B differs from A in: " + "; ".join(f"{m['path']} ({m['field']})" for m in mutations))
    print(flush=True)
    _warm([pair.a, pair.b, pair.a_shared, small.a, small.a_shared])

    rows: list[Row] = []
    skipped: list[str] = []
    busy: list[float] = []
    repro = None if "repro" in args.skip else _repro_cmd(args.repro)
    if not repro:
        skipped.append("repro (--skip, or `repro diff --help` fails)")
    # Floor and repro alternate, round after round, so that a burst of load from other
    # processes on the machine hits both alike.
    floor_results: list = []
    repro_runs: dict[str, list[Run]] = {"repro": [], "repro-shared-big": [], "repro-shared-small": [],
                                        "repro-trust-big": [], "repro-trust-small": [], "repro-startup": []}
    for i in range(args.runs):
        busy.append(round(wait_idle(args.wait_idle), 3))
        print(f"round {i + 1}/{args.runs}: floor, repro diff (others' CPU use {busy[-1]:.0%}) ...",
              file=sys.stderr, flush=True)
        q = (args.retries, args.wait_idle)
        floor_results.append(floor_once(pair, work, i, *q))
        if repro:
            repro_runs["repro"].append(repro_once(repro, pair.a, pair.b, work, "repro", i, *q))
            repro_runs["repro-shared-big"].append(
                repro_once(repro, pair.a, pair.a_shared, work, "repro-shared-big", i, *q))
            repro_runs["repro-shared-small"].append(
                repro_once(repro, small.a, small.a_shared, work, "repro-shared-small", i, *q))
            # --trust-equal-digests: shared blobs are not hashed, so the time is independent of size
            trust = ("--trust-equal-digests",)
            repro_runs["repro-trust-big"].append(
                repro_once(repro, pair.a, pair.a_shared, work, "repro-trust-big", i, *q, extra=trust))
            repro_runs["repro-trust-small"].append(
                repro_once(repro, small.a, small.a_shared, work, "repro-trust-small", i, *q, extra=trust))
            repro_runs["repro-startup"].append(run_measured(repro + ["diff", "--help"], work, f"startup-{i}"))
    floor = floor_row(floor_results)
    rows.append(floor)
    shared_rows: list[Row] = []
    if repro:
        rows.append(repro_row("repro diff", repro_runs["repro"], work, "repro"))
        shared_rows.append(repro_row(f"repro diff, shared layer, {args.size_mb:g} MB",
                                     repro_runs["repro-shared-big"], work, "repro-shared-big"))
        shared_rows.append(repro_row(f"repro diff, shared layer, {args.small_mb:g} MB",
                                     repro_runs["repro-shared-small"], work, "repro-shared-small"))
        shared_rows.append(repro_row(f"... --trust-equal-digests, {args.size_mb:g} MB",
                                     repro_runs["repro-trust-big"], work, "repro-trust-big"))
        shared_rows.append(repro_row(f"... --trust-equal-digests, {args.small_mb:g} MB",
                                     repro_runs["repro-trust-small"], work, "repro-trust-small"))
        startup = _row_from_runs("repro diff --help (start-up only)", repro_runs["repro-startup"])
        startup.found = "interpreter + imports, for scale"
        shared_rows.append(startup)

    if "diffoci" in args.skip:
        skipped.append("diffoci (--skip)")
    elif args.diffoci.exists():
        results = []
        for i in range(max(1, args.peer_runs)):
            busy.append(round(wait_idle(args.wait_idle), 3))
            print(f"diffoci (others' CPU use {busy[-1]:.0%}) ...", file=sys.stderr, flush=True)
            results.append(run_diffoci(args.diffoci, pair.a, pair.b, work))
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
        print(f"diffoscope (others' CPU use {busy[-1]:.0%}) ...", file=sys.stderr, flush=True)
        rows.append(run_diffoscope(args.diffoscope, pair.a, pair.b, work, args.diffoscope_timeout, expected))
    else:
        skipped.append(f"diffoscope (not at {args.diffoscope}; run scripts/install-bench-tools.sh)")

    print()
    print_table(rows + shared_rows, floor.wall, mutations)
    for s in skipped:
        print(f"skipped: {s}")

    by_tool = {r.tool: r for r in rows}
    verdict = {}
    rr = by_tool.get("repro diff")
    if rr and rr.wall and rr.rc in (0, 1) and rr.paths:
        verdict["repro_over_floor"] = round(rr.wall / floor.wall, 3)
        verdict["repro_within_1.3x_floor"] = rr.wall <= 1.3 * floor.wall
        verdict["repro_cpu_over_floor_cpu"] = round(rr.cpu / floor.cpu, 3)
        verdict["repro_peak_rss_under_200mb"] = rr.maxrss_mb < 200
        dt = next((r for r in rows if r.tool.startswith("diffoci")), None)
        if dt and dt.wall:
            verdict["repro_faster_than_diffoci"] = rr.wall < dt.wall
            verdict["diffoci_over_repro"] = round(dt.wall / rr.wall, 2)
        shared = shared_rows[:4]
        if shared and all(r.rc in (0, 1) for r in shared):
            verdict["shared_layer_seconds"] = [round(r.wall, 3) for r in shared]
            verdict["shared_layer_under_1s"] = all(r.wall < 1.0 for r in shared)
    print()
    for k, v in verdict.items():
        print(f"  {k}: {v}")

    result = {
        "machine": info,
        "images": {"dir": str(pair.dir), **p},
        "small_images": {"dir": str(small.dir), "size_mb": small.params["size_mb"],
                         "compressed_bytes": small.params["layer_a"]["compressed_bytes"]},
        "runs": args.runs, "peer_runs": args.peer_runs,
        "others_cpu_busy_before_each_step": busy, "loadavg_at_end": os.getloadavg(),
        "rows": [{"tool": r.tool, "wall_s": r.wall, "walls_s": r.walls,
                  "ratio_to_floor": (r.wall / floor.wall) if r.wall else None, "cpu_s": r.cpu,
                  "peak_rss_mb": r.maxrss_mb, "exit": r.rc, "timed_out": r.timed_out,
                  "found": r.found, "paths": r.paths, "expected_found": recall(r, mutations),
                  "others_cpu_share": r.others, "note": r.note} for r in rows + shared_rows],
        "skipped": skipped,
        "verdict": verdict,
    }
    (out / "bench_diff.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out / 'bench_diff.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
