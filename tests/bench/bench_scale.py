"""Everything after embedding at scale: neighbours, duplicates, outliers, class statistics.

    PYTHONPATH=. python tests/bench/bench_scale.py --n 1000000

Generates synthetic CLIP-like embeddings (``curate.synth.make_dataset``), imports them into a
temporary workspace (``import_arrays``), then runs each step the way the score stage will:
``run_neighbors`` (writes neighbors.parquet), ``load_embedded`` + ``load_neighbors``,
``find_duplicates``, ``score_outliers``, ``class_statistics``. Prints a Markdown table of wall
time, CPU time (all threads) and peak RSS per step (kernel VmHWM, reset per step). Goal: 1M x 512 within 20 minutes
and 10 GB on a 2-core CPU. The label-noise scorer is not included here.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench._measure import step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--workspace", default=None, help="keep the workspace here (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from curate.data import load_embedded
    from curate.embed.importer import import_arrays
    from curate.graph.stage import load_neighbors, run_neighbors
    from curate.score.classes import class_statistics, imbalance_ratio
    from curate.score.duplicates import find_duplicates
    from curate.score.outliers import score_outliers
    from curate.synth import make_dataset
    from curate.workspace import Workspace

    root = Path(args.workspace) if args.workspace else Path(tempfile.mkdtemp(prefix="curate-scale-"))
    ws = Workspace(root / "ws")
    setup: list[dict] = []
    with step(setup, "synthesise"):
        synth = make_dataset(args.n, args.classes, dim=args.dim, seed=0)
    with step(setup, "import_arrays"):
        import_arrays(ws, synth.embeddings, synth.labels, class_names=synth.class_names, overwrite=True)
    truth_dup = synth.duplicate_group >= 0
    truth_out = synth.is_outlier
    del synth
    gc.collect()

    results: list[dict] = []
    total_start = time.perf_counter()
    with step(results, "neighbors (run_neighbors)") as rec:
        summary = run_neighbors(ws, k=args.k, method=args.method, overwrite=True)
        rec["note"] = f"{summary['method']}, recall@{summary['k']} {summary['recall_at_k']:.3f}"
    with step(results, "load embeddings + neighbours"):
        data = load_embedded(ws)
        neighbors = load_neighbors(ws, data.sample_ids)
    with step(results, "find_duplicates") as rec:
        dups = find_duplicates(data, neighbors)
        pred = np.array([g is not None for g in dups.group])
        f1 = 2 * (pred & truth_dup).sum() / (pred.sum() + truth_dup.sum())
        rec["note"] = f"{dups.num_groups} groups, member F1 {f1:.3f}"
    with step(results, "score_outliers") as rec:
        out = score_outliers(data, neighbors)
        rec["note"] = f"AUROC {roc_auc_score(truth_out, out.z):.3f}, {int(out.is_outlier.sum())} flagged"
    with step(results, "class_statistics") as rec:
        table = class_statistics(data, duplicates=dups)
        rec["note"] = f"{table.num_rows} classes, imbalance {imbalance_ratio(table.column('count').to_numpy()):.1f}"
    total = time.perf_counter() - total_start
    peak = max(r["peak_rss_gib"] for r in results)

    print(f"\n{args.n:,} x {args.dim} embeddings, {args.classes} classes, k={args.k}\n")
    cpu = sum(r["cpu_seconds"] for r in results)
    print("| step | wall time (s) | CPU time (s) | peak RSS (GiB) | note |")
    print("|---|---:|---:|---:|---|")
    for r in setup + results:
        print(f"| {r['step']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_gib']:.2f} | "
              f"{r.get('note', '')} |")
    print(f"| **after embedding, total** | **{total:.1f}** | **{cpu:.1f}** | **{peak:.2f}** | "
          "goal: <= 1200 s wall, <= 10 GB |")
    print(f"\nload average at the end: {open('/proc/loadavg').read().split()[0]} (other jobs share the cores)")
    if args.json:
        Path(args.json).write_text(json.dumps({"setup": setup, "steps": results, "total_seconds": total,
                                               "cpu_seconds": cpu, "peak_rss_gib": peak}, indent=2))


if __name__ == "__main__":
    main()
