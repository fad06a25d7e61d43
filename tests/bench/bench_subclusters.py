"""Sub-cluster counts of the class table: curate's batched numpy k-means vs sklearn's KMeans.

    PYTHONPATH=. python tests/bench/bench_subclusters.py [--size 44000] [--classes 100] [--sample 500]

``curate.score.classes.count_subclusters`` picks k = 2..6 by silhouette on the top 16 principal
components of at most ``--sample`` members of each class. This runs it as it is (numpy
``kmeans_labels``: 3 k-means++ starts side by side) and with sklearn's ``KMeans(k, n_init=3,
max_iter=100)`` in its place, on the same samples, PCA and silhouettes, in one process with
one BLAS thread (as the score stage runs it). Prints both times and how many classes get the
same count, on ``curate.synth`` data and on the same data with every other class split into
``1 + class % 3`` planted sub-classes (where the right count is known).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def sklearn_count(x: np.ndarray, *, max_k: int = 6, min_cluster_size: int = 10, seed: int = 0) -> int:
    """``count_subclusters`` with sklearn's KMeans (the code before issue 26's third pass)."""
    from sklearn.cluster import KMeans

    from curate.score import classes

    top = min(max_k, x.shape[0] // min_cluster_size)
    if top < 2:
        return 1
    z = classes._principal_components(x.astype(np.float64) - x.mean(axis=0), 16)
    dist = classes._euclidean_distances(z)
    best_k, best = 1, classes.SUBCLUSTER_MIN_SILHOUETTE
    for k in range(2, top + 1):
        assign = KMeans(k, n_init=3, max_iter=100, random_state=seed).fit_predict(z)
        if len(np.unique(assign)) < 2:
            continue
        score = classes.silhouette(dist, assign)
        if score > best:
            best_k, best = k, score
    return best_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=44000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from curate.score.classes import count_subclusters
    from curate.synth import make_dataset

    ds = make_dataset(args.size, args.classes, dim=512, seed=1)
    rng = np.random.default_rng(0)
    plain, planted, truth = [], [], []
    for c in range(args.classes):
        members = np.flatnonzero(ds.labels == c)
        if len(members) > args.sample:
            members = np.sort(rng.choice(members, args.sample, replace=False))
        x = ds.embeddings[members].astype(np.float32)
        plain.append(x)
        parts = 1 + c % 3 if c % 2 == 0 else 1
        offsets = rng.standard_normal((parts, x.shape[1])).astype(np.float32)
        offsets /= np.linalg.norm(offsets, axis=1, keepdims=True)
        y = x + 0.5 * offsets[rng.integers(0, parts, len(x))]
        planted.append(y / np.linalg.norm(y, axis=1, keepdims=True))
        truth.append(parts)
    print("| data | sklearn KMeans (s) | numpy kmeans_labels (s) | same count | sklearn right | numpy right |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, xs in (("synth classes", plain), ("planted 1-3 sub-classes", planted)):
        with threadpool_limits(1):
            started = time.perf_counter()
            old = np.array([sklearn_count(x) for x in xs])
            t_old = time.perf_counter() - started
            started = time.perf_counter()
            new = np.array([count_subclusters(x) for x in xs])
            t_new = time.perf_counter() - started
        right = ""
        if name.startswith("planted"):
            t = np.array(truth)
            right = f" {int((old == t).sum())}/{len(t)} | {int((new == t).sum())}/{len(t)} |"
        else:
            right = " | |"
        print(f"| {name} | {t_old:.2f} | {t_new:.2f} | {int((old == new).sum())}/{len(xs)} |{right}")


if __name__ == "__main__":
    main()
