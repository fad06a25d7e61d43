"""Time a whole multi-label `curate scan --embeddings E.npy --labels Y.npy` (issue 24's Done-when:
100k x 512 embeddings with 500 tags under 10 minutes on this 2-core machine).

Synthetic clustered embeddings (timing only, no quality claim): each row carries 1-3 tags drawn
from a Zipf-like long tail over ``--tags`` tags; its embedding is the normalised sum of its tags'
centres plus noise. The scan runs through the CLI (a subprocess, as a user runs it), and the
per-stage wall times come from its ``--json`` summary.

    OMP_NUM_THREADS=1 PYTHONPATH=. /work/venv/bin/python tests/bench/bench_multilabel_scan.py
    ... --rows 20000 --tags 100          # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(rows: int, dim: int, tags: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, dim) float32 embeddings and (rows, tags) int8 multi-hot tags, long-tailed."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, tags + 1) ** 0.8
    freq /= freq.sum()
    per_row = rng.integers(1, 4, size=rows)
    hot = np.zeros((rows, tags), dtype=np.int8)
    for count in (1, 2, 3):
        at = np.flatnonzero(per_row >= count)
        hot[at, rng.choice(tags, size=at.size, p=freq)] = 1
    centres = rng.standard_normal((tags, dim)).astype(np.float32)
    emb = np.zeros((rows, dim), dtype=np.float32)
    for start in range(0, rows, 10_000):
        stop = min(start + 10_000, rows)
        emb[start:stop] = hot[start:stop].astype(np.float32) @ centres
    emb += (
        0.6
        * rng.standard_normal(emb.shape).astype(np.float32)
        * np.linalg.norm(emb, axis=1, keepdims=True)
        / np.sqrt(dim)
    )
    return emb, hot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=600.0, help="seconds the scan must finish within")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        emb, hot = make_data(args.rows, args.dim, args.tags, args.seed)
        np.save(root / "E.npy", emb)
        np.save(root / "Y.npy", hot)
        print(
            f"{args.rows:,} x {args.dim} embeddings, {args.tags} tags, {hot.sum() / args.rows:.2f} tags per row",
            flush=True,
        )
        command = [sys.executable, "-m", "curate", "scan", "--embeddings", str(root / "E.npy"),
                   "--labels", str(root / "Y.npy"), "-o", str(root / "ws"), "--json", "-q"]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"scan failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        summary = json.loads(done.stdout)
        import pyarrow.parquet as pq

        negatives = pq.read_table(root / "ws" / "negatives.parquet", columns=["negative_ids"]).column(0).to_pylist()
        found = np.array([len(ids) for ids in negatives])
    stages = {k: v["seconds"] for k, v in summary["timings"].items() if isinstance(v, dict) and "seconds" in v}
    print(f"whole scan: {wall:.1f} s wall (limit {args.limit:.0f} s: {'PASS' if wall < args.limit else 'FAIL'})")
    print("| stage | seconds |\n|---|---:|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.1f} |")
    print(
        f"hard negatives (sharing no tag): {found.mean():.2f} per anchor, {int((found == 0).sum()):,} anchors without any"
    )
    print(f"multi_label {summary['multi_label']}, num_classes {summary['num_classes']}, "
          f"label_issue_rate {summary['label_issue_rate']:.4f}, imbalance_ratio {summary['imbalance_ratio']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
