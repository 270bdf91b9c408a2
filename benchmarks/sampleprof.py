#!/usr/bin/env python3
"""A stdlib-only sampling profiler that sees every thread (cProfile sees only the main one).

    python benchmarks/sampleprof.py [--interval-ms 5] [--top 25] -- repro diff A B --format json -o r.json
    python benchmarks/sampleprof.py -- -m repro diff A B

Runs the module or console script in this process (`-m MOD` or `NAME`, looked up as the
`repro` console entry point's module `repro.cli:main`), samples the stack of every
thread every few milliseconds, and prints, per thread kind, where the samples landed:
"self" (the innermost Python frame; time in C code such as zlib or hashlib is charged to
the Python line that called it) and "total" (any frame on the stack).
Samples are wall-clock: a thread blocked on a lock is counted where it waits.
"""
from __future__ import annotations

import argparse
import collections
import runpy
import sys
import threading
import time


def _where(frame) -> str:
    code = frame.f_code
    name = code.co_filename
    for marker in ("/site-packages/", "/lib/python3", "/work/main/"):
        if marker in name:
            name = name.split(marker, 1)[1]
            break
    return f"{name}:{frame.f_lineno} {code.co_name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give a command after --")

    self_counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total_counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    samples: collections.Counter = collections.Counter()
    stop = threading.Event()
    def sampler() -> None:
        me = threading.get_ident()
        while not stop.wait(args.interval_ms / 1000):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                kind = names.get(ident, "?").rstrip("0123456789_-")
                samples[kind] += 1
                self_counts[kind][_where(frame)] += 1
                seen = set()
                f = frame
                while f is not None:
                    w = _where(f).split(" ", 1)[1] + "  (" + f.f_code.co_filename.rsplit("/", 1)[-1] + ")"
                    if w not in seen:
                        seen.add(w)
                        total_counts[kind][w] += 1
                    f = f.f_back

    th = threading.Thread(target=sampler, name="sampler", daemon=True)
    th.start()
    t0 = time.perf_counter()
    rc = 0
    try:
        if cmd[0] == "-m":
            sys.argv = [cmd[1]] + cmd[2:]
            runpy.run_module(cmd[1], run_name="__main__", alter_sys=True)
        else:
            from importlib.metadata import entry_points
            ep = next(e for e in entry_points(group="console_scripts") if e.name == cmd[0])
            sys.argv = cmd
            ep.load()()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        stop.set()
        th.join()
    wall = time.perf_counter() - t0
    out = sys.stderr
    print(f"\nsampleprof: {wall:.2f} s wall, every {args.interval_ms:g} ms, exit {rc}", file=out)
    for kind, n in samples.most_common():
        print(f"\n== thread kind {kind!r}: {n} samples ({n * args.interval_ms / 1000:.2f} s)", file=out)
        print("   self:", file=out)
        for where, c in self_counts[kind].most_common(args.top):
            print(f"   {100 * c / n:5.1f}%  {where}", file=out)
        print("   total:", file=out)
        for where, c in total_counts[kind].most_common(args.top):
            print(f"   {100 * c / n:5.1f}%  {where}", file=out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
