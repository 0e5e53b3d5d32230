"""Benchmark: composing a batch's grid (decode four tiles, scale, lay out, encode twice).

Run from the repository root::

    .venv/bin/python -m bench.grid

For each case a fresh child process draws the tiles (the local preview provider's pictures,
PNG, as a provider would send them), then composes the grid ``--runs`` times; it prints
the median and worst time and the peak RSS above the process's baseline (ru_maxrss after
the tiles were made, before the first grid). Target (printed, not asserted): at most
300 ms and 150 MB per grid.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from bench.common import ROOT, rusage

CASES = ((1312, 736), (1536, 640))
TARGET_MS = 300.0
TARGET_MB = 150.0


def _child(width: int, height: int, runs: int) -> None:
    from bot.grid import compose_grid
    from bot.localserver.images import render_generate

    tiles = [render_generate(f"tile {i}: a harbour at dawn", (width, height), seed=i)
             for i in range(4)]
    _, baseline_mb = rusage()
    times = []
    size = 0
    fmt = ""
    for _ in range(runs):
        started = time.perf_counter()
        grid = compose_grid(tiles, max_bytes=10 * 1024 * 1024)
        times.append((time.perf_counter() - started) * 1000)
        size, fmt = len(grid.data), f"{grid.format} {grid.width}x{grid.height}"
    _, peak_mb = rusage()
    print(json.dumps({"median_ms": statistics.median(times), "max_ms": max(times),
                      "peak_extra_mb": peak_mb - baseline_mb, "peak_mb": peak_mb,
                      "bytes": size, "grid": fmt, "tile_bytes": sum(map(len, tiles))}))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], args.runs)
        return
    print("| 4 tiles of | grid | bytes | median ms | worst ms | peak RSS above baseline MB "
          "| verdict |")
    print("|---|---|---|---|---|---|---|")
    for width, height in CASES:
        out = subprocess.run([sys.executable, "-m", "bench.grid", "--runs", str(args.runs),
                              "--child", str(width), str(height)], cwd=ROOT, check=True,
                             capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok = r["max_ms"] <= TARGET_MS and r["peak_extra_mb"] <= TARGET_MB
        print(f"| {width}×{height} | {r['grid']} | {r['bytes']:,} | {r['median_ms']:.0f} "
              f"| {r['max_ms']:.0f} | {r['peak_extra_mb']:.0f} | {'PASS' if ok else 'FAIL'} |")
    print(f"\nTarget: each grid within {TARGET_MS:.0f} ms and {TARGET_MB:.0f} MB.")


if __name__ == "__main__":
    main(sys.argv[1:])
