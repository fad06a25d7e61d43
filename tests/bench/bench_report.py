"""Report size and time on a large synthetic workspace (array inputs, every artifact present).

    python tests/bench/bench_report.py --size 1000000 --classes 1000 --dim 128

There is no reference tool that writes this page; the table compares the two map projections
(PCA and PCA+t-SNE) in the same run, and reports page size against the 20 MB budget.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from curate.report.stage import run_report
from tests.fixtures.report_ws import build_synth_workspace

BUDGET_MB = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--anchors", type=int, default=2000, help="anchors with mined negatives in the fixture")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ws = build_synth_workspace(Path(tmp) / "ws", args.size, args.classes, dim=args.dim, num_anchors=args.anchors)
        build_s = time.perf_counter() - start
        rows = []
        for method in ("pca", "tsne"):
            start = time.perf_counter()
            summary = run_report(ws, map_method=method, overwrite=True)
            rows.append((method, time.perf_counter() - start, summary["bytes"] / 1e6))
    print(f"\n{args.size:,} samples, {args.classes} classes, D={args.dim} (fixture built in {build_s:.1f} s)\n")
    print("| map | report time (s) | page (MB) | page / 20 MB budget | time vs pca |")
    print("|---|---:|---:|---:|---:|")
    for method, seconds, mb in rows:
        print(f"| {method} | {seconds:.1f} | {mb:.2f} | {mb / BUDGET_MB:.2f} | {seconds / rows[0][1]:.1f}x |")


if __name__ == "__main__":
    main()
