"""Neighbours + duplicates + outliers (+ class stats) vs cleanlab Datalab, on synthetic data.

    PYTHONPATH=. python tests/bench/bench_graph.py --n 50000
    PYTHONPATH=. python tests/bench/bench_graph.py --crossover 10000,20000,50000

Each side runs in its own subprocess on the same synthetic dataset (``curate.synth``, seed 0),
so peak RSS (kernel VmHWM, reset after the data is generated) is measured per side:

* curate: ``knn`` (auto: exact below the CPU threshold, the ivf engine above) -> ``find_duplicates``
  -> ``score_outliers`` -> ``class_statistics``
* Datalab: ``Datalab.find_issues(features=X, issue_types={label, outlier, near_duplicate})``
  (its label check included, as curate's label-noise stage is benchmarked separately)

Quality against the planted ground truth: duplicate F1 (per sample: member of any duplicate
group vs ``synth.duplicate_group >= 0``) and outlier AUROC (``synth.is_outlier``).
``--crossover`` times exact search, curate's ivf engine and faiss's IndexIVFFlat at several sizes,
with recall@k against exact (how the CPU threshold ``EXACT_MAX_CPU`` was chosen).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench._measure import cpu_seconds, peak_gib, reset_peak  # noqa: E402


def _data(n: int, classes: int):
    from curate.synth import make_dataset

    return make_dataset(n, classes, dim=512, seed=0)


def _f1(pred, truth) -> float:
    return float(2 * (pred & truth).sum() / max(1, pred.sum() + truth.sum()))


def run_side(side: str, n: int, classes: int, k: int) -> dict:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    synth = _data(n, classes)
    truth_dup = synth.duplicate_group >= 0
    reset_peak()
    started = time.perf_counter()
    cpu = cpu_seconds()
    if side == "curate":
        from curate.data import Embedded
        from curate.graph.neighbors import knn, resolve_method
        from curate.score.classes import class_statistics
        from curate.score.duplicates import find_duplicates
        from curate.score.outliers import score_outliers

        data = Embedded(np.arange(n).astype(str).astype(object), synth.embeddings, synth.labels, synth.class_names)
        neighbors = knn(data.embeddings, k, device="cpu")
        dups = find_duplicates(data, neighbors)
        out = score_outliers(data, neighbors)
        class_statistics(data, duplicates=dups)
        seconds = time.perf_counter() - started
        dup_pred = np.array([g is not None for g in dups.group])
        outlier_rank = out.z
        method = resolve_method(n, "auto", "cpu")
    else:
        from cleanlab import Datalab

        lab = Datalab(data={"label": synth.labels}, label_name="label", verbosity=0)
        lab.find_issues(features=synth.embeddings, issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})
        seconds = time.perf_counter() - started
        issues = lab.get_issues()
        dup_pred = issues["is_near_duplicate_issue"].to_numpy(bool)
        outlier_rank = 1.0 - issues["outlier_score"].to_numpy(float)
        method = "Datalab (label+outlier+near_duplicate)"
    return {
        "side": side,
        "method": method,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "peak_rss_gib": peak_gib(),
        "duplicate_f1": _f1(dup_pred, truth_dup),
        "outlier_auroc": float(roc_auc_score(synth.is_outlier, outlier_rank)),
    }


def crossover(sizes: list[int], k: int, exact_max: int = 60_000) -> None:
    """Exact search vs the two approximate engines, same data, same run (exact only up to
    ``exact_max`` rows: it grows as N^2)."""
    from curate.graph.ivf import ivf_knn
    from curate.graph.neighbors import exact_knn, faiss_knn, recall_at_k

    print("| rows | exact (s) | ivf (s) | ivf recall@k | faiss IVF (s) | faiss recall@k | faiss / ivf time |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        x = _data(n, max(10, n // 1000)).embeddings
        t_exact = float("nan")
        if n <= exact_max:
            t = time.perf_counter()
            exact_knn(x, k)
            t_exact = time.perf_counter() - t
        t = time.perf_counter()
        ivf_idx, _ = ivf_knn(x, k)
        t_ivf = time.perf_counter() - t
        t = time.perf_counter()
        faiss_idx, _ = faiss_knn(x, k)
        t_faiss = time.perf_counter() - t
        print(
            f"| {n:,} | {t_exact:.1f} | {t_ivf:.1f} | {recall_at_k(x, ivf_idx, num_queries=500):.3f} | "
            f"{t_faiss:.1f} | {recall_at_k(x, faiss_idx, num_queries=500):.3f} | {t_faiss / t_ivf:.1f}x |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--side", choices=["curate", "datalab"], help=argparse.SUPPRESS)
    parser.add_argument("--crossover", default=None, help="comma-separated sizes: time exact vs ivf vs faiss search")
    args = parser.parse_args()
    if args.crossover:
        crossover([int(s) for s in args.crossover.split(",")], args.k)
        return
    if args.side:
        print(json.dumps(run_side(args.side, args.n, args.classes, args.k)))
        return

    rows = {}
    for side in ("curate", "datalab"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--side",
                side,
                "--n",
                str(args.n),
                "--classes",
                str(args.classes),
                "-k",
                str(args.k),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
        rows[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, ref = rows["curate"], rows["datalab"]
    print(f"\n{args.n:,} x 512 synthetic embeddings, {args.classes} classes, k={args.k}\n")
    print("| | wall time (s) | CPU time (s) | peak RSS (GiB) | duplicate F1 | outlier AUROC |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in (ours, ref):
        print(
            f"| {r['side']} ({r['method']}) | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['peak_rss_gib']:.2f} | {r['duplicate_f1']:.3f} | {r['outlier_auroc']:.3f} |"
        )
    print(
        f"| **ratio (Datalab / curate)** | **{ref['seconds'] / ours['seconds']:.1f}x** | "
        f"**{ref['cpu_seconds'] / ours['cpu_seconds']:.1f}x** | **{ref['peak_rss_gib'] / ours['peak_rss_gib']:.1f}x** | | |"
    )
    print(f"\nload average at the end: {open('/proc/loadavg').read().split()[0]} (other jobs share the cores)")


if __name__ == "__main__":
    main()
