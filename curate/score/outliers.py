"""Outliers: samples that sit far from everything else, and far from their own class.

Two distances per sample, each turned into a robust z-score against its reference
distribution: the median, and a scale measured on the upper half only (the median distance above
the median, x 1.4826), so the outliers being looked for do not inflate it and a right-skewed
distribution — the usual shape of neighbour distances, extreme in tight spaces such as a
metric-learning model's — is not read as a tail of outliers. Measured on the geometry benchmark
(tests/bench/bench_geometries.py): the symmetric MAD flagged 21.5 % of a metric-learning digits
space and 10.9 % of a tight synthetic one with 2.5 % planted; the upper-half scale 7.9 % / 8.2 %,
ranking as well (AUROC within 0.01 of cleanlab's on every geometry).

* **kNN distance**: mean cosine distance ``1 - sim`` to the sample's ``k`` nearest neighbours
  (10, as in cleanlab's outlier check: measured on digits pixels / PCA and wine / breast-cancer
  features with planted outliers, 10 ranks them as well as or better than the graph's 20),
  compared with the whole dataset. Redundant duplicate copies are not excluded: a pair of
  identical outliers still has k - 1 far neighbours each, which keeps the mean high.
* **class-centroid distance**: cosine distance to a class centroid, compared with the other
  samples measured against that centroid (with the whole dataset for classes with fewer than
  :data:`MIN_CLASS_SIZE` members). Two centroids are measured, the sample's given class and its
  nearest class, and the smaller z counts. The given class alone confuses a mislabelled sample
  with an outlier: in a tight space (a metric-learning model's) the wrong label puts it far from
  its given class's centroid, and a whole tail of them outranked the real outliers. The nearest
  class alone misses an outlier that happens to lie near some class. The smaller of the two is
  large only for a sample far from its own class *and* from every other. Unlabelled samples get
  the nearest-class z.

The combined z is ``(1 - centroid_weight) * z_knn + centroid_weight * z_centroid`` with
``centroid_weight = 0.1``. Outlier AUROC minus the kNN term's alone (which ranks as Datalab's
does), over 5 seeds of 7 geometries of tests/bench/bench_geometries.py:

=====================  =============  ===============  ======================================
class term, weight     worst          mean             where it helps most
=====================  =============  ===============  ======================================
given class, 0.2       -0.021         +0.020           digits PCA +0.07..+0.16
given class, 0.1       -0.014         +0.012           (the worst: metric-learning digits)
smaller of two, 0.2    -0.014         +0.015           (the worst: wine, 4 outliers in 142)
smaller of two, 0.1    -0.007         +0.008           digits PCA +0.02..+0.07, diffuse +0.01
=====================  =============  ===============  ======================================

``outlier_score = 1 / (1 + (g(z) / g(z_threshold)) ** 2)`` with ``g(z) = log(1 + e^(2z)) / 2``
(~z above the typical distance, towards 0 below it): 0.99 for the median sample, nearer 1 below, 0.5 exactly at the
threshold, towards 0 beyond it — slowly, so even far outliers keep distinct scores (a
Gaussian-shaped score underflowed to 0 in float32 and tied them with each other and with the
farthest inliers). It is strictly decreasing in z, so sorting by it ranks every sample, the
typical ones too (clipping z at 0 tied half the dataset at exactly 1, which cost the ranking
0.035 AUROC on the textile-pixels geometry, where the planted outliers sit closer than typical). ``is_outlier`` is
``z > z_threshold`` with ``z_threshold = 3.5``, the usual cut-off for modified z-scores
(Iglewicz & Hoaglin, 1993), i.e. ``outlier_score < 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.data import Embedded
from curate.errors import DataError

Z_THRESHOLD = 3.5
OUTLIER_K = 10
CENTROID_WEIGHT = 0.1
MIN_CLASS_SIZE = 5
_MAD_TO_SIGMA = 1.4826


@dataclass
class OutlierResult:
    """Per-sample outlier findings, row-aligned with the Embedded data.

    outlier_score: (N,) float32 in [0, 1], 1 = typical
    is_outlier:    (N,) bool, ``outlier_score < 0.5`` (robust z above ``z_threshold``)
    knn_distance:  (N,) float32 mean cosine distance to the k nearest neighbours
    centroid_distance: (N,) float32 cosine distance to the own class centroid (NaN if unlabelled)
    z:             (N,) float32 combined robust z-score
    """

    outlier_score: np.ndarray
    is_outlier: np.ndarray
    knn_distance: np.ndarray
    centroid_distance: np.ndarray
    z: np.ndarray

    def summary(self) -> dict[str, int | float]:
        n = len(self.is_outlier)
        return {"outliers": int(self.is_outlier.sum()), "outlier_rate": float(self.is_outlier.mean()) if n else 0.0}


def robust_z(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """(values - median) / (1.4826 * the median deviation above the median) of ``reference``
    (default: ``values`` themselves). A zero scale falls back to the mean deviation above the
    median (x 1.2533), then to 1."""
    ref = values if reference is None else reference
    med = np.median(ref)
    above = ref[ref > med] - med
    scale = _MAD_TO_SIGMA * np.median(above) if above.size else 0.0
    if not scale > 0:
        scale = above.mean() * 1.2533 if above.size and above.mean() > 0 else 1.0
    return (values - med) / scale


def class_centroids(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, block: int = 16384) -> np.ndarray:
    """(K, D) float32 L2-normalised mean embedding of each class (zeros for empty classes).

    embeddings: (N, D) float32, labels: (N,) int64 with -1 for unlabelled (ignored).
    Accumulated in blocks so no (N, D) float64 copy is made.
    """
    dim = embeddings.shape[1]
    sums = np.zeros((num_classes, dim), dtype=np.float64)
    for start in range(0, len(labels), block):
        lab = labels[start : start + block]
        ok = lab >= 0
        if ok.any():
            _accumulate(sums, lab[ok], embeddings[start : start + block][ok])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def cosine_to_centroids(
    embeddings: np.ndarray, centroids: np.ndarray, classes: np.ndarray, block: int = 16384
) -> np.ndarray:
    """(N,) float32 cosine of each row to ``centroids[classes[i]]``; NaN where ``classes`` is -1.

    Computed in blocks so no (N, D) gathered copy of the centroids is ever made.
    """
    out = np.full(len(classes), np.nan, dtype=np.float32)
    for start in range(0, len(classes), block):
        cls = classes[start : start + block]
        ok = cls >= 0
        out[start : start + block][ok] = np.einsum(
            "nd,nd->n", embeddings[start : start + block][ok], centroids[cls[ok]]
        )
    return out


def nearest_centroids(
    embeddings: np.ndarray, centroids: np.ndarray, present: np.ndarray, block: int = 16384
) -> tuple[np.ndarray, np.ndarray]:
    """``(class (N,) int64, cosine (N,) float32)`` of each row's most similar centroid among the
    ``present`` (K,) bool classes; blockwise, so at most a block x K tile is held."""
    classes = np.empty(len(embeddings), dtype=np.int64)
    cosines = np.empty(len(embeddings), dtype=np.float32)
    masked = np.where(present, 0.0, -np.inf).astype(np.float32)
    for start in range(0, len(embeddings), block):
        sims = embeddings[start : start + block] @ centroids.T + masked
        best = sims.argmax(axis=1)
        classes[start : start + block] = best
        cosines[start : start + block] = sims[np.arange(len(best)), best]
    return classes, cosines


def _z_within_classes(dist: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N,) robust z of ``dist`` within each class of ``classes`` (-1: not measured, z 0); classes
    with fewer than :data:`MIN_CLASS_SIZE` members are compared with every measured row."""
    z = np.zeros(len(dist), dtype=np.float64)
    rows = np.flatnonzero(classes >= 0)
    if rows.size == 0:
        return z
    order = rows[np.argsort(classes[rows], kind="stable")]
    small = []
    for members in np.split(order, np.flatnonzero(np.diff(classes[order])) + 1):
        if len(members) >= MIN_CLASS_SIZE:
            z[members] = robust_z(dist[members].astype(np.float64))
        else:
            small.append(members)
    if small:
        members = np.concatenate(small)
        z[members] = robust_z(dist[members].astype(np.float64), reference=dist[rows].astype(np.float64))
    return z


def _accumulate(sums: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
    # sort by label and reduce contiguous runs: much faster than np.add.at for many rows
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    starts = np.flatnonzero(np.concatenate([[True], lab[1:] != lab[:-1]]))
    sums[lab[starts]] += np.add.reduceat(rows[order].astype(np.float64), starts, axis=0)


def score_outliers(
    data: Embedded,
    neighbors: tuple[np.ndarray, np.ndarray],
    *,
    z_threshold: float = Z_THRESHOLD,
    centroid_weight: float = CENTROID_WEIGHT,
    k: int = OUTLIER_K,
) -> OutlierResult:
    """Score how atypical each sample is from its neighbour distances and class-centroid distance.

    data:      Embedded samples (embeddings (N, D) float32 L2-normalised, labels (N,) int64)
    neighbors: ``(idx (N, k) int64, sims (N, k) float32)``, self excluded, -1 / -inf for empty slots
    z_threshold: robust z above which a sample is an outlier (score 0.5 there)
    centroid_weight: weight of the class-centroid z in the combined z (0 = kNN only)
    k:         neighbours whose mean distance is the kNN term (the graph's first ``k`` columns)
    """
    n = len(data)
    idx, sims = neighbors[0][:, :k], neighbors[1][:, :k]
    if idx.shape[0] != n:
        raise DataError(f"neighbour arrays {idx.shape} do not match {n} samples; re-run `curate neighbors`")
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    if not 0.0 <= centroid_weight <= 1.0:
        raise DataError(f"centroid_weight must be in [0, 1], got {centroid_weight}")

    valid = idx >= 0
    counts = valid.sum(axis=1)
    knn_dist = np.where(valid, 1.0 - sims, 0.0).sum(axis=1) / np.maximum(counts, 1)
    knn_dist = np.where(counts > 0, knn_dist, np.nan).astype(np.float32)
    z_knn = np.zeros(n, dtype=np.float64)
    has = counts > 0
    if has.any():
        z_knn[has] = robust_z(knn_dist[has].astype(np.float64))

    labels = data.labels
    cent_dist = np.full(n, np.nan, dtype=np.float32)
    z_cent = np.zeros(n, dtype=np.float64)
    labelled = labels >= 0
    if centroid_weight > 0 and labelled.any():
        centroids = class_centroids(data.embeddings, labels, data.num_classes)
        present = np.bincount(labels[labelled], minlength=data.num_classes) > 0
        nearest, nearest_cos = nearest_centroids(data.embeddings, centroids, present)
        cent_dist = 1.0 - cosine_to_centroids(data.embeddings, centroids, labels)
        z_cent = _z_within_classes(1.0 - nearest_cos, nearest)
        z_given = _z_within_classes(cent_dist, labels)
        z_cent[labelled] = np.minimum(z_cent[labelled], z_given[labelled])
        weight = np.full(n, centroid_weight)
    else:
        weight = np.zeros(n)
    z = (1.0 - weight) * z_knn + weight * z_cent
    score = (1.0 / (1.0 + (np.logaddexp(0.0, 2.0 * z) / np.logaddexp(0.0, 2.0 * z_threshold)) ** 2)).astype(np.float32)
    return OutlierResult(
        outlier_score=score,
        is_outlier=z > z_threshold,
        knn_distance=knn_dist,
        centroid_distance=cent_dist,
        z=z.astype(np.float32),
    )
