#!/usr/bin/env python3
"""Inflate the same gzip layers with the standard library's zlib, ISA-L (`isal`) and
zlib-ng (`zlib-ng`), in one process, and print CPU seconds and MB/s for each: the
figures behind repro's choice of inflater (repro/oci/compression.py).

    python benchmarks/bench_inflate.py [BLOB.tar.gz ...] [--runs 3]

Without arguments it takes the largest layer blob of every pair bench_diff.py has
generated (benchmarks/out/images/*/largest-layer-a.tar.gz). Each inflater reads 1 MiB of
compressed input at a time with at most 1 MiB of output per call, as repro does; the
figure is the best of --runs (CPU time of this process, so other processes on the
machine disturb it less than wall time). An inflater that is not installed is skipped
(`pip install isal zlib-ng`). Also printed: sha256 over the same uncompressed bytes, for
scale.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHUNK = 1 << 20
INFLATERS = (("zlib (stdlib)", "zlib"), ("isal", "isal.isal_zlib"), ("zlib-ng", "zlib_ng.zlib_ng"))


def inflate(module, data: bytes) -> int:
    d = module.decompressobj(31)
    view = memoryview(data)
    total = 0
    for i in range(0, len(data), CHUNK):
        piece = view[i : i + CHUNK]
        while piece:
            total += len(d.decompress(piece, CHUNK))
            piece = d.unconsumed_tail
    return total


def best_cpu(fn, runs: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        t = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("blobs", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    blobs = args.blobs or sorted((HERE / "out" / "images").glob("*/largest-layer-a.tar.gz"))
    if not blobs:
        ap.error("no blobs given and none generated (run benchmarks/bench_diff.py --generate-only)")
    modules = []
    for name, mod in INFLATERS:
        try:
            modules.append((name, importlib.import_module(mod)))
        except ImportError:
            print(f"skipped: {name} (not installed)")
    for blob in blobs:
        data = blob.read_bytes()
        plain = zlib.decompress(data, 31)
        sha, _ = best_cpu(lambda: hashlib.sha256(plain).digest(), args.runs)
        print(f"\n{blob.parent.name}/{blob.name}: {len(data) / 1e6:.0f} MB gzip -> {len(plain) / 1e6:.0f} MB"
              f"  (sha256 of the output: {sha:.3f} s, {len(plain) / sha / 1e6:.0f} MB/s)")
        base = None
        for name, module in modules:
            seconds, n = best_cpu(lambda: inflate(module, data), args.runs)
            assert n == len(plain), name
            base = base or seconds
            print(f"  {name:<14} {seconds:7.3f} s CPU  {len(plain) / seconds / 1e6:6.0f} MB/s out  "
                  f"{base / seconds:5.2f}x zlib")
    return 0


if __name__ == "__main__":
    sys.exit(main())
