#!/usr/bin/env python3
"""Check that a change of repro's code changes none of its output.

Renders every testdata pair repro can make offline in every report format, and compares
two such renders byte for byte. Made for refactoring ("no behaviour change"): render the
code before, render the code after, compare.

    python3 scripts/compare-outputs.py data DATA [--buildkit]   # write the pairs into DATA
    python3 scripts/compare-outputs.py render DATA OUT [--rev REV] [--only TEXT]
    python3 scripts/compare-outputs.py compare OUT_A OUT_B      # exit 0 same, 1 differs
    python3 scripts/compare-outputs.py check REV [--buildkit] [--keep DIR]
                                                # data, render REV and this checkout, compare

The pairs (all generated, nothing committed as a blob):
- imagegen: pairs written with tests/imagegen.py, one per kind of difference the differ
  knows (every entry field, config and manifest fields, compression only, layer counts
  that differ, duplicate entries, several platforms, attestations, docker-archive against
  OCI) and files the explainer looks inside (pyc, gzip, zip, nested tar, ELF, text);
- corpus: every case of testdata/make_corpus.py, the odd-but-valid pairs and the broken
  images (whose one-line errors and exit codes must not move either);
- inspect: `repro inspect` of some of those images, with and without --files;
- buildkit (with --buildkit, when BuildKit is installed): each context of
  testdata/contexts that builds with the offline base image alone, built twice
  (`check --vary --keep`) and diffed (the others, which need secrets, an ssh agent or
  emulation, are skipped with a note), and `repro check` itself on the `deterministic`
  context, alone and `--against` another context's build.

For each pair and format (text, json, markdown, html) the render keeps stdout, stderr and
the exit code; the JSON run also lists the `--report-dir` tree (paths and sha256 of every
file, and report.json). Timing fields (`duration`) are dropped from JSON and masked in
HTML, and the random part of an ephemeral daemon's temp dir (named in
`build.builds[].daemon`) is masked. The pairs are
written once into DATA and both renders read the same files, so paths in the output
match; `check` builds with BuildKit only once, at data time, except for the `check` runs
of the deterministic context, whose builds are reproducible by design.

`--rev REV` renders the code of a git revision (extracted with `git archive` into a temp
dir) with the pairs and driver of this checkout, so a baseline needs nothing of this
script at REV. The repro package is imported from that tree, never from the installed one.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("text", "json", "markdown", "html")
TIMING_KEYS = frozenset({"duration"})
# temp names that differ from run to run: an ephemeral daemon's state dir (in `daemon`)
TEMP_NAMES = re.compile(rb"(/repro-buildkitd-|/repro-check-)[A-Za-z0-9_]{8}")
# a build's duration as the HTML report shows it
HTML_DURATION = re.compile(rb"(<span class=muted>)\d+(?:\.\d+)?s(</span>)")
EPOCH = 1700000000


# -- data --------------------------------------------------------------------------------------


def _imports() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def imagegen_pairs(out: Path) -> list[dict[str, Any]]:
    """Pairs written with tests/imagegen.py; returns case records (refs relative to DATA)."""
    _imports()
    from tests import imagegen as g

    d = out / "imagegen"
    d.mkdir(parents=True, exist_ok=True)
    cases: list[dict[str, Any]] = []

    def pair(name: str, a: Any, b: Any, *flags: str, fmt_a: str = "oci-archive", fmt_b: str = "oci-archive") -> None:
        ext = {"oci-archive": ".tar", "oci": "", "docker-archive": ".tar"}
        pa, pb = d / f"{name}-a{ext[fmt_a]}", d / f"{name}-b{ext[fmt_b]}"
        g.write_image(a, pa, format=fmt_a)
        g.write_image(b, pb, format=fmt_b)
        ref = lambda p, f: ("oci:" if f == "oci" else "") + "@/" + str(p.relative_to(out))  # noqa: E731
        cases.append({"name": f"imagegen/{name}", "argv": ["diff", ref(pa, fmt_a), ref(pb, fmt_b), *flags]})

    base = g.simple_image()
    pair("identical", base, base)
    pair("content", base, g.vary(base, 0, "etc/hostname", content=b"other\n"))
    pair("mode", base, g.vary(base, 1, "app/run", mode=0o755))
    pair("owner", base, g.vary(base, 0, "etc/passwd", uid=1000, gid=1000, uname="u", gname="u"))
    pair("mtime", base, g.vary(base, 0, "etc/hostname", mtime="1700000001.5"))
    pair("old-mtime", base, g.vary(base, 0, "etc/hostname", mtime=1600000000))
    pair("xattrs", base, g.vary(base, 1, "app/run", xattrs={"user.x": b"\xff\x00"}))
    pair("linkname", base, g.vary(base, 0, "etc/localtime", linkname="/usr/share/zoneinfo/Europe/Paris"))
    pair("removed", base, g.vary(base, 0, "etc/passwd", remove=True))
    renamed = g.vary(base, 0, "etc/passwd")
    renamed.layers[0].files[2].path = "etc/passwd-"
    pair("renamed", base, renamed)
    pair("type", base, g.vary(base, 1, "app/run2", type="file", linkname="", content=b"copy\n"))
    pair("pax", base, g.vary(base, 0, "etc/hostname", pax={"atime": "1700000000.5"}))
    pair("labels", base, g.vary_image(base, labels={"v": "2"}))
    pair("created", base, g.vary_image(base, created="2024-01-01T00:00:00Z"))
    pair("env-cmd", base, g.vary_image(base, env=["A=1"], cmd=["sh"], entrypoint=["/bin/x"], user="1000"))
    pair("annotations", base, g.vary_image(base, annotations={"org.opencontainers.image.revision": "abc"}))
    pair("no-history", base, g.vary_image(base, history=False))
    compressed = g.simple_image()
    compressed.layers[0].gzip_level = 1
    pair("compression-only", base, compressed)
    zstd = g.simple_image()
    zstd.layers[0].compression = "zstd"
    pair("compression-zstd", base, zstd)
    pair("gnu-tar", base, _with(g, base, tar_format="gnu"))
    pair("docker-vs-oci", base, base, fmt_b="docker-archive")
    pair("layout-vs-archive", base, g.vary(base, 0, "etc/hostname", content=b"x\n"), fmt_a="oci")
    pair("docker-media-types", base, g.vary_image(base, docker_media_types=True))
    pair("ignore-glob", base, g.vary(base, 0, "etc/hostname", content=b"other\n"), "--ignore", "etc/*")
    pair("semantic", base, g.vary_image(g.vary(base, 0, "etc/hostname", mtime=1700000999),
                                        created="2024-01-01T00:00:00Z"), "--semantic")

    # layer counts differ: merged filesystems, content looked up per side's last writer
    two = g.ImageSpec([g.LayerSpec([g.dir("etc"), g.file("etc/a.conf", b"a=1\n"), g.file("etc/stamp", b"Mon Jan  1 00:00:00 UTC 2024\n")]),
                       g.LayerSpec([g.file("etc/b.conf", b"b=1\n"), g.file("etc/a.conf", b"a=2\n")])])
    three = g.ImageSpec([g.LayerSpec([g.dir("etc"), g.file("etc/a.conf", b"a=1\n")]),
                         g.LayerSpec([g.file("etc/stamp", b"Tue Jan  2 00:00:00 UTC 2024\n")]),
                         g.LayerSpec([g.file("etc/b.conf", b"b=2\n"), g.file("etc/a.conf", b"a=3\n"),
                                      g.whiteout("etc/gone")])])
    pair("merged", two, three)
    pair("no-layers-vs-one", g.ImageSpec([]), g.ImageSpec([g.LayerSpec([g.file("x", b"x")])]))

    # the same path several times in one layer
    dup_a = g.ImageSpec([g.LayerSpec([g.file("p", b"1"), g.file("p", b"2"), g.file("p", b"3\n")])])
    dup_b = g.ImageSpec([g.LayerSpec([g.file("p", b"1"), g.file("p", b"X"), g.file("p", b"4\n")])])
    pair("duplicates", dup_a, dup_b)

    # several platforms, one of them differing; and the same compared for one platform
    amd = g.simple_image(platform="linux/amd64")
    arm = g.simple_image(platform="linux/arm64")
    idx_a = g.IndexSpec([amd, arm], annotations={"org.opencontainers.image.created": "2023"})
    idx_b = g.IndexSpec([amd, g.vary(arm, 0, "etc/hostname", content=b"arm\n")],
                        annotations={"org.opencontainers.image.created": "2024"})
    pair("platforms", idx_a, idx_b)
    pair("platforms-one", idx_a, idx_b, "--platform", "linux/arm64")
    pair("platform-missing", idx_a, g.IndexSpec([amd]))
    pair("attestation", g.simple_image(attestation=True),
         g.vary_image(g.simple_image(attestation=True), created="2024-01-01T00:00:00Z"))

    # files the explainer looks inside
    a_files, b_files = _explain_files(d)
    pair("explain", g.ImageSpec([g.LayerSpec([g.dir("etc")] + [g.file(p, c) for p, c in a_files])]),
         g.ImageSpec([g.LayerSpec([g.dir("etc")] + [g.file(p, c) for p, c in b_files])]))
    if _diffoscope():
        cases.append({"name": "imagegen/explain-diffoscope", "argv": [*cases[-1]["argv"], "--diffoscope"]})
    # `repro inspect` (text and json; with --files, every entry)
    for name in ("platforms-b.tar", "attestation-a.tar", "docker-vs-oci-b.tar", "duplicates-b.tar"):
        for files in ((), ("--files",)):
            cases.append({"name": f"inspect/{name}{''.join(files)}", "argv": ["inspect", f"@/imagegen/{name}", *files],
                          "formats": ("text", "json"), "report_dir": False})
    for name in ("odd-non-utf8-names", "odd-control-characters", "odd-device-nodes"):  # names from corpus_pairs
        cases.append({"name": f"inspect/{name}--files", "argv": ["inspect", f"@/corpus/{name}/b.tar", "--files"],
                      "formats": ("text", "json"), "report_dir": False})
    big = bytes(range(256)) * (5 << 12)  # 5 MiB: over the explainer's capture limit
    pair("large-file", g.ImageSpec([g.LayerSpec([g.file("big", big + b"a")])]),
         g.ImageSpec([g.LayerSpec([g.file("big", big + b"b")])]))
    return cases


def _with(g: Any, spec: Any, **layer_changes: Any) -> Any:
    import copy

    out = copy.deepcopy(spec)
    for layer in out.layers:
        for k, v in layer_changes.items():
            setattr(layer, k, v)
    return out


def _diffoscope() -> bool:
    _imports()
    try:
        from repro.explain.diffoscope import find_diffoscope

        find_diffoscope()
        return True
    except Exception:  # noqa: BLE001 - only whether it is there
        return False


def _explain_files(d: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Both sides of files with typical nondeterminism, for the explainer's looks."""
    import gzip
    import py_compile
    import tarfile
    import zipfile

    def jar(n: int) -> bytes:
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w") as zf:
            zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", (2023, 11, 14, 22, 13, n * 2)), b"Manifest-Version: 1.0\n")
        return bio.getvalue()

    def tar(mtime: int) -> bytes:
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as tf:
            info = tarfile.TarInfo("payload.txt")
            info.size, info.mtime = 8, mtime
            tf.addfile(info, io.BytesIO(b"payload\n"))
        return bio.getvalue()

    def pyc(mtime: int) -> bytes:
        src = d / "mod.py"
        src.write_text("X = 1\n")
        os.utime(src, (mtime, mtime))
        out = d / "mod.pyc"
        py_compile.compile(str(src), cfile=str(out), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        return out.read_bytes()

    def elf(build_id: str) -> bytes | None:
        if not shutil.which("cc"):
            return None
        c = d / "hello.c"
        c.write_text("int main(void) { return 42; }\n")
        exe = d / f"hello-{build_id}"
        subprocess.run(["cc", "-O1", f"-Wl,--build-id={build_id}", "-o", str(exe), str(c)], check=True)
        return exe.read_bytes()

    sides: tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]] = ([], [])
    for n, side in enumerate(sides):
        t = EPOCH + n * 77
        side += [
            ("etc/machine-id", [b"0" * 32, b"f" * 32][n] + b"\n"),
            ("var/log/dpkg.log", b"2023-11-14 install x %d\n" % n),
            ("usr/share/doc/x/changelog.gz", gzip.compress(b"changes\n" * 50, mtime=t)),
            ("opt/app.jar", jar(n)),
            ("opt/bundle.tar", tar(t)),
            ("usr/lib/python3/mod.pyc", pyc(t)),
            ("etc/stamp", [b"Tue Nov 14 22:13:20 UTC 2023\n", b"Wed Nov 15 08:00:00 UTC 2023\n"][n]),
            ("etc/app.conf", b"level=%d\n" % n),
            ("etc/rand", hashlib.sha256(b"%d" % n).digest()),
        ]
        exe = elf(["0x0102030405", "0xa0b0c0d0e0"][n])
        if exe is not None:
            side.append(("usr/bin/hello", exe))
    return sides


def corpus_pairs(out: Path) -> list[dict[str, Any]]:
    """Every case of testdata/make_corpus.py (odd pairs and broken images)."""
    _imports()
    sys.path.insert(0, str(ROOT / "testdata"))
    import make_corpus

    root = out / "corpus"
    shutil.rmtree(root, ignore_errors=True)
    cases = make_corpus.generate(root)
    made = []
    for c in cases:
        argv = c.argv("@/corpus")
        made.append({"name": f"corpus/{c.name}", "argv": argv, "formats": FORMATS if c.level == "odd" else ("text",)})
    return made


def buildkit_pairs(out: Path) -> list[dict[str, Any]]:
    """Each context built twice (--vary) and kept; `check` cases on the deterministic one."""
    _imports()
    from tests.buildkit_fixtures import load_make_base  # noqa: F401 - same recipe as the tests

    base = out / "buildkit" / "base"
    digest = load_make_base().make_base(str(base))
    contexts = out / "buildkit" / "contexts"
    if contexts.exists():
        shutil.rmtree(contexts)
    shutil.copytree(ROOT / "testdata" / "contexts", contexts)
    old = EPOCH - 86400 * 365
    for name in ("data.txt",):
        p = contexts / "old-mtime" / name
        os.utime(p, (old, old))
    bc = f"base=oci-layout://{base}@{digest}"
    cases = []
    built = out / "buildkit" / "built"
    for ctx in sorted(p.name for p in contexts.iterdir() if p.is_dir()):
        keep = built / ctx
        if not (keep / "build-2.tar").exists():
            shutil.rmtree(keep, ignore_errors=True)
            problem = _run_repro(["check", str(contexts / ctx), "--vary", "--keep", str(keep), "--build-context", bc,
                                  "--source-date-epoch", str(EPOCH), "--progress", "quiet", "-q", "--format", "json",
                                  "-o", str(keep / "report.json")], allowed=(0, 1))
            if problem:  # a context that needs more than the base image (secrets, an ssh agent, qemu, ...)
                print(f"buildkit/{ctx}: skipped, it does not build with the base image alone: {problem}",
                      file=sys.stderr)
                shutil.rmtree(keep, ignore_errors=True)
                continue
        cases.append({"name": f"buildkit/{ctx}", "argv": ["diff", f"@/buildkit/built/{ctx}/build-1.tar",
                                                          f"@/buildkit/built/{ctx}/build-2.tar"]})
    det = ["check", "@/buildkit/contexts/deterministic", "--build-context", f"base=oci-layout://@/buildkit/base@{digest}",
           "--source-date-epoch", str(EPOCH), "--progress", "quiet"]
    cases.append({"name": "check/deterministic", "argv": det, "check": True})
    cases.append({"name": "check/against-other", "check": True,
                  "argv": [*det, "--against", "@/buildkit/built/old-mtime/build-1.tar", "--builds", "2"]})
    return cases


def _run_repro(argv: list[str], allowed: tuple[int, ...]) -> str:
    """Run repro; "" if it exited with one of `allowed`, else its last error line."""
    proc = subprocess.run([sys.executable, "-m", "repro", *argv], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode in allowed:
        return ""
    return (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]


def buildkit_ready() -> bool:
    _imports()
    from repro.buildkit import find_buildkit
    from repro.errors import ReproError

    try:
        find_buildkit()
        return True
    except ReproError:
        return False


def make_data(data: Path, buildkit: bool) -> list[dict[str, Any]]:
    data.mkdir(parents=True, exist_ok=True)
    cases = imagegen_pairs(data) + corpus_pairs(data)
    if buildkit:
        if not buildkit_ready():
            raise SystemExit("--buildkit: BuildKit is not installed (scripts/setup.sh)")
        cases += buildkit_pairs(data)
    (data / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"{len(cases)} pairs in {data}", file=sys.stderr)
    return cases


# -- render ------------------------------------------------------------------------------------


def render(data: Path, out: Path, rev: str | None, only: str = "") -> None:
    """Run the driver with the repro of this checkout, or of `rev`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="repro-compare-code-") as tmp:
        code = ROOT
        if rev is not None:
            code = Path(tmp)
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "BUILDKIT_HOST")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "_drive", str(code), str(data), str(out), only],
                       check=True, env=env, cwd=str(data))


def drive(code: Path, data: Path, out: Path, only: str = "") -> None:
    """Inside the render process: import repro from `code`, run every case in-process."""
    sys.path.insert(0, str(code))
    import repro
    from repro.cli import main

    where = Path(repro.__file__).resolve()
    if code.resolve() not in where.parents:
        raise SystemExit(f"imported repro from {where}, not from {code}")
    cases = json.loads((data / "cases.json").read_text())
    scratch = data / "report-dirs"
    for case in cases:
        if only not in case["name"]:
            continue
        argv = [a.replace("@/", f"{data}/") for a in case["argv"]]
        target = out / case["name"]
        target.mkdir(parents=True, exist_ok=True)
        for fmt in case.get("formats", FORMATS):
            extra = ["--format", fmt]
            report_dir = scratch / case["name"]
            if fmt == "json" and case.get("report_dir", True):
                shutil.rmtree(report_dir, ignore_errors=True)
                report_dir.parent.mkdir(parents=True, exist_ok=True)
                extra += ["--report-dir", str(report_dir)]
            code_, stdout, stderr = _call(main, argv + extra)
            if fmt == "json" and code_ in (0, 1):
                stdout = _drop_timing(stdout)
            stdout, stderr = _mask(stdout), _mask(stderr)
            if fmt == "html":
                stdout = HTML_DURATION.sub(rb"\1(duration)\2", stdout)
            (target / f"{fmt}.out").write_bytes(stdout)
            (target / f"{fmt}.err").write_bytes(stderr)
            (target / f"{fmt}.rc").write_text(f"{code_}\n")
            if fmt == "json" and case.get("report_dir", True):
                (target / "report-dir.txt").write_text(_tree(report_dir))
        print(case["name"], file=sys.stderr)


def _call(main: Any, argv: list[str]) -> tuple[int, bytes, bytes]:
    out, err = io.BytesIO(), io.BytesIO()
    old = sys.stdout, sys.stderr
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", newline="", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", newline="", write_through=True)
    try:
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue(), err.getvalue()
    finally:
        sys.stdout, sys.stderr = old


def _mask(data: bytes) -> bytes:
    return TEMP_NAMES.sub(rb"\1XXXXXXXX", data)


def _drop_timing(data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return data

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in TIMING_KEYS}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return (json.dumps(strip(doc), indent=2, ensure_ascii=False) + "\n").encode()


def _tree(root: Path) -> str:
    """Every file under a --report-dir: path, size and sha256 (report.json: timing dropped)."""
    if not root.exists():
        return "(no report dir)\n"
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = os.fsencode(p.relative_to(root)).decode("utf-8", "backslashreplace")
            data = p.read_bytes()
            if rel == "report.json":
                data = _mask(_drop_timing(data))
            lines.append(f"{rel}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}")
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            if not os.listdir(Path(dirpath) / name):
                lines.append(os.fsencode((Path(dirpath) / name).relative_to(root)).decode("utf-8", "backslashreplace") + "/")
    return "\n".join(sorted(lines)) + "\n"


# -- compare -----------------------------------------------------------------------------------


def compare(a: Path, b: Path) -> int:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    problems = 0
    for rel in sorted(files_a ^ files_b):
        print(f"only in {'A' if rel in files_a else 'B'}: {rel}")
        problems += 1
    for rel in sorted(files_a & files_b):
        da, db = (a / rel).read_bytes(), (b / rel).read_bytes()
        if da != db:
            problems += 1
            print(f"differs: {rel}")
            lines = difflib.unified_diff(da.decode("utf-8", "replace").splitlines(),
                                         db.decode("utf-8", "replace").splitlines(), "A", "B", lineterm="", n=1)
            for i, line in enumerate(lines):
                if i == 40:
                    print("    ...")
                    break
                print("    " + line[:200])
    n = len(files_a | files_b)
    print(f"{n} files compared, {problems} differ" if problems else f"{n} files compared: byte-identical")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["_drive"]:
        drive(Path(argv[1]), Path(argv[2]), Path(argv[3]), argv[4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("data", help="write the pairs")
    p.add_argument("data", type=Path)
    p.add_argument("--buildkit", action="store_true", help="also build testdata/contexts (needs BuildKit)")
    p = sub.add_parser("render", help="render every pair in every format")
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--rev", help="render the code of this git revision instead of this checkout")
    p.add_argument("--only", default="", help="only the pairs whose name contains this")
    p = sub.add_parser("compare", help="compare two renders")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p = sub.add_parser("check", help="render REV and this checkout, and compare")
    p.add_argument("rev")
    p.add_argument("--buildkit", action="store_true")
    p.add_argument("--keep", type=Path, help="keep data and renders here (reused: DIR/data is not rewritten)")
    p.add_argument("--only", default="", help="only the pairs whose name contains this")
    args = ap.parse_args(argv)
    if args.cmd == "data":
        make_data(args.data.resolve(), args.buildkit)
        return 0
    if args.cmd == "render":
        render(args.data.resolve(), args.out.resolve(), args.rev, args.only)
        return 0
    if args.cmd == "compare":
        return compare(args.a, args.b)
    with tempfile.TemporaryDirectory(prefix="repro-compare-") as tmp:
        work = (args.keep or Path(tmp)).resolve()
        data = work / "data"
        if not (data / "cases.json").exists():
            make_data(data, args.buildkit)
        render(data, work / "before", args.rev, args.only)
        render(data, work / "after", None, args.only)
        return compare(work / "before", work / "after")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
