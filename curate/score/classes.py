"""Per-class statistics: imbalance, redundancy, spread, sub-structure, separability, noise.

One row per class (schema ``CLASSES``):

* ``count``, ``share``; the dataset's imbalance ratio is max/min count (:func:`curate.data.imbalance_ratio`).
* ``effective_count``: effective number of samples (Cui et al., "Class-Balanced Loss Based on
  Effective Number of Samples", CVPR 2019), ``(1 - beta^n) / (1 - beta)``. ``beta`` defaults to
  ``(N - 1) / N`` for N labelled samples (the paper's range 0.9-0.9999 scaled to dataset size:
  head classes saturate near N, small classes keep ~n).
* ``dedup_count``: members minus redundant duplicate copies (needs ``duplicates``).
* ``spread``: mean cosine distance of members to the class centroid.
* ``num_subclusters``: k-means for k = 2..``max_subclusters`` in the top 16 principal
  components of at most ``subcluster_sample`` members, k chosen by silhouette, 1 when no k
  reaches :data:`SUBCLUSTER_MIN_SILHOUETTE` (cheap; a head class that is really several
  sub-classes shows k > 1). Classes under 20 members get 1.
* ``nearest_class`` (highest centroid cosine) and ``separability``: share of the class's members
  closer to their own centroid than to the nearest class's centroid (1 = well separated).
* ``noise_rate``, ``label_issues``, ``confused_with``/``confused_counts`` come from the label-noise
  result when given (``noise_rate (K,)``, ``is_label_issue (N,)``, ``confident_joint (K, K)``,
  rows = given label, columns = true label); the most confused classes are ranked by
  ``cj[i, j] + cj[j, i]``, worst first, at most ``max_confused``.
* ``label_evidence``, ``least_separable_class``, ``least_separability`` come from the label
  evidence when given (:class:`curate.score.noise.evidence.LabelEvidence`): the class's
  chance-corrected recall, and among the confused pairs it is in, the one separated least.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from curate.data import Embedded
from curate.errors import DataError
from curate.schemas import CLASSES
from curate.score.duplicates import DuplicateResult
from curate.score.outliers import class_centroids, cosine_to_centroids

if TYPE_CHECKING:
    from curate.score.noise.evidence import LabelEvidence

#: best silhouette below which a class counts as one cluster (noise-only blobs score ~0.04)
SUBCLUSTER_MIN_SILHOUETTE = 0.1


def effective_number(counts: np.ndarray, beta: float) -> np.ndarray:
    """(K,) float64 ``(1 - beta^n) / (1 - beta)`` (Cui et al. 2019); equals n when beta = 0 -> 1 ... n."""
    counts = np.asarray(counts, dtype=np.float64)
    if beta <= 0:
        return np.minimum(counts, 1.0)
    return -np.expm1(counts * np.log(beta)) / (1.0 - beta)


def count_subclusters(
    x: np.ndarray,
    *,
    max_k: int = 6,
    min_cluster_size: int = 10,
    pca_dims: int = 16,
    min_silhouette: float = SUBCLUSTER_MIN_SILHOUETTE,
    seed: int = 0,
) -> int:
    """Number of sub-clusters in (n, D) L2-normalised ``x``.

    k-means for k = 2..max_k on the top ``pca_dims`` principal components; the k with the best
    silhouette wins, unless no k reaches ``min_silhouette`` (then 1). Sub-cluster structure
    lives in a few directions, and in the full 512-d space isotropic noise would drown it (a
    single Gaussian blob scores ~0.04 here, two CLIP-like sub-classes ~0.2-0.4).
    """
    n = x.shape[0]
    top = min(max_k, n // max(1, min_cluster_size))
    if top < 2:
        return 1
    x = _principal_components(x.astype(np.float64) - x.mean(axis=0), pca_dims)
    dist = _euclidean_distances(x)  # once for every k (sklearn's silhouette_score recomputes it per k)
    best_k, best = 1, min_silhouette
    for k in range(2, top + 1):
        assign = kmeans_labels(x, k, n_init=3, max_iter=100, seed=seed)
        if len(np.unique(assign)) < 2:
            continue
        score = silhouette(dist, assign)
        if score > best:
            best_k, best = k, score
    return best_k


def kmeans_labels(
    x: np.ndarray, k: int, *, n_init: int = 3, max_iter: int = 100, tol: float = 1e-4, seed: int = 0
) -> np.ndarray:
    """(n,) int64 cluster of each row of (n, d) float64 ``x``: Lloyd's k-means from ``n_init``
    greedy k-means++ starts run side by side (one batched matrix product per iteration, where a
    fit per start paid Python and thread start-up ~15 times per class), the start of least
    inertia kept. Stops when the centres move less than ``tol`` times the data's mean variance
    (sklearn's ``KMeans`` rule and defaults)."""
    n = x.shape[0]
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    sq = np.einsum("ij,ij->i", x, x)
    centres = np.stack([_kmeans_plus_plus(x, sq, k, rng) for _ in range(n_init)])  # (r, k, d)
    limit = tol * float(np.mean(np.var(x, axis=0)))
    starts = np.arange(n_init)[:, None]
    for _ in range(max_iter):
        dist = _sq_distances(x, sq, centres)
        assign = dist.argmin(axis=2)  # (r, n)
        one_hot = np.zeros((n_init, n, k))
        one_hot[starts, np.arange(n)[None, :], assign] = 1.0
        sizes = one_hot.sum(axis=1)  # (r, k)
        sums = one_hot.transpose(0, 2, 1) @ x  # (r, k, d) per-cluster sums as matrix products
        moved = np.where(sizes[:, :, None] > 0, sums / np.maximum(sizes, 1.0)[:, :, None], centres)  # empty: stays
        shift = float(((moved - centres) ** 2).sum(axis=(1, 2)).max())
        centres = moved
        if shift <= limit:
            break
    dist = _sq_distances(x, sq, centres)
    assign = dist.argmin(axis=2)
    inertia = np.take_along_axis(dist, assign[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    return assign[int(np.argmin(inertia))].astype(np.int64)


def _sq_distances(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(r, n, k) squared distances of the rows of ``x`` (squared norms ``sq``) to each start's
    (r, k, d) ``centres`` (matmul, several times faster than einsum on these small shapes)."""
    return sq[None, :, None] - 2.0 * (x @ centres.transpose(0, 2, 1)) + (centres**2).sum(axis=2)[:, None, :]


def _kmeans_plus_plus(x: np.ndarray, sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k, d) greedy k-means++ centres of ``x`` (rows' squared norms ``sq``): each next centre
    the best of ``2 + log k`` draws proportional to the squared distance to the centres so far."""
    n = x.shape[0]
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]
    closest = np.maximum(sq - 2.0 * x @ x[chosen[0]] + sq[chosen[0]], 0.0)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct rows than k: repeat one
            chosen.append(int(rng.integers(n)))
            continue
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total).clip(max=n - 1)
        dist = np.maximum(sq[None, :] - 2.0 * x[cand] @ x.T + sq[cand][:, None], 0.0)
        updated = np.minimum(closest[None, :], dist)
        best = int(np.argmin(updated.sum(axis=1)))
        chosen.append(int(cand[best]))
        closest = updated[best]
    return x[chosen].copy()


def _euclidean_distances(x: np.ndarray) -> np.ndarray:
    """(n, n) float64 Euclidean distances between the rows of ``x`` (zero diagonal)."""
    sq = np.einsum("ij,ij->i", x, x)
    dist = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    return np.sqrt(dist, out=dist)


def silhouette(dist: np.ndarray, assign: np.ndarray) -> float:
    """Mean silhouette of the labelling ``assign`` (n,) given the (n, n) distances: per row
    ``(b - a) / max(a, b)`` with ``a`` its mean distance to the rest of its cluster and ``b`` the
    least mean distance to another cluster; rows alone in their cluster score 0 (the definition
    of sklearn's ``silhouette_score``, from distances computed once for every k)."""
    clusters, labels = np.unique(assign, return_inverse=True)
    sizes = np.bincount(labels, minlength=len(clusters)).astype(np.float64)
    one_hot = np.zeros((len(labels), len(clusters)))
    one_hot[np.arange(len(labels)), labels] = 1.0
    sums = dist @ one_hot  # (n, k): each row's summed distance to every cluster
    own = sizes[labels]
    a = sums[np.arange(len(labels)), labels] / np.maximum(own - 1, 1)
    means = sums / sizes[None, :]
    means[np.arange(len(labels)), labels] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.nan_to_num((b - a) / np.maximum(a, b))
    score[own <= 1] = 0.0
    return float(score.mean())


def _principal_components(x: np.ndarray, dims: int) -> np.ndarray:
    """(n, dims) coordinates of centred (n, D) ``x`` on its top principal axes.

    Only the top eigenpairs of the smaller of the Gram (n x n) and covariance (D x D) matrices
    are computed (LAPACK ``evx``): exact, and ~4x faster than a full SVD of 500 x 512 — it ran
    once per class, 58 s of the score stage at 1000 classes.
    """
    from scipy.linalg import eigh

    n, d = x.shape
    dims = min(dims, n, d)
    small = x @ x.T if n <= d else x.T @ x
    size = len(small)
    values, vectors = eigh(small, subset_by_index=[size - dims, size - 1], driver="evx")
    values, vectors = values[::-1], vectors[:, ::-1]
    if n <= d:
        return vectors * np.sqrt(np.maximum(values, 0.0))
    return x @ vectors


def class_statistics(
    data: Embedded,
    *,
    duplicates: DuplicateResult | None = None,
    noise_rate: np.ndarray | None = None,
    is_label_issue: np.ndarray | None = None,
    confident_joint: np.ndarray | None = None,
    evidence: LabelEvidence | None = None,
    beta: float | None = None,
    max_subclusters: int = 6,
    subcluster_sample: int = 500,
    max_confused: int = 3,
    seed: int = 0,
) -> pa.Table:
    """Per-class statistics table (schema ``CLASSES``), one row per entry of ``data.class_names``.

    data: Embedded samples; unlabelled rows (label -1) are ignored.
    duplicates: result of :func:`curate.score.duplicates.find_duplicates` (for ``dedup_count``)
    noise_rate: (K,) float estimated share of wrong labels per class
    is_label_issue: (N,) bool per-sample label-issue flags (for ``label_issues``)
    confident_joint: (K, K) counts, rows = given label, columns = estimated true label
    beta: effective-number beta; None -> (N - 1) / N
    """
    k_classes = data.num_classes
    labels = data.labels
    n = len(data)
    for name, arr, shape in (
        ("noise_rate", noise_rate, (k_classes,)),
        ("is_label_issue", is_label_issue, (n,)),
        ("confident_joint", confident_joint, (k_classes, k_classes)),
    ):
        if arr is not None and np.shape(arr) != shape:
            raise DataError(f"{name} has shape {np.shape(arr)}, expected {shape}")
    if k_classes == 0:  # unlabelled data: no class has statistics
        return CLASSES.empty_table()
    labelled = labels >= 0
    counts = np.bincount(labels[labelled], minlength=k_classes).astype(np.int64)
    total = int(counts.sum())
    if beta is None:
        beta = (total - 1) / total if total > 1 else 0.0
    effective = effective_number(counts, beta)
    dedup = None
    if duplicates is not None:
        redundant = np.bincount(labels[labelled & duplicates.is_duplicate], minlength=k_classes)
        dedup = counts - redundant

    centroids = class_centroids(data.embeddings, labels, k_classes)
    rows = np.flatnonzero(labelled)
    cos_own = cosine_to_centroids(data.embeddings, centroids, labels)

    present = counts > 0
    centroid_sims = centroids @ centroids.T
    centroid_sims[:, ~present] = -np.inf
    np.fill_diagonal(centroid_sims, -np.inf)
    nearest = np.argmax(centroid_sims, axis=1)
    has_nearest = present & (present.sum() > 1)
    cos_near = cosine_to_centroids(data.embeddings, centroids, np.where(labelled, nearest[labels], -1))

    order = rows[np.argsort(labels[rows], kind="stable")]
    members_of = (
        dict(zip(np.unique(labels[order]).tolist(), np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)))
        if order.size
        else {}
    )

    from threadpoolctl import threadpool_limits

    # many tiny k-means problems: thread start-up costs more than it saves (measured ~10x)
    with threadpool_limits(1):
        stats = _per_class(
            data.embeddings, members_of, cos_own, cos_near, has_nearest, subcluster_sample, max_subclusters, seed
        )
    spread, separability, subclusters = stats

    issues = None
    if is_label_issue is not None:
        issues = np.bincount(labels[labelled & np.asarray(is_label_issue, dtype=bool)], minlength=k_classes)
    confused_with: list[list[str] | None] = [None] * k_classes
    confused_counts: list[list[int] | None] = [None] * k_classes
    if confident_joint is not None:
        cj = np.asarray(confident_joint, dtype=np.float64)
        sym = cj + cj.T
        np.fill_diagonal(sym, 0)
        for c in range(k_classes):
            top = [j for j in np.argsort(-sym[c], kind="stable")[:max_confused] if sym[c, j] > 0]
            confused_with[c] = [data.class_names[j] for j in top]
            confused_counts[c] = [int(round(sym[c, j])) for j in top]

    least_class: list[str | None] = [None] * k_classes
    least_sep: list[float | None] = [None] * k_classes
    if evidence is not None:
        for a, b, sep, _ in evidence.pairs:  # weakest first: the first pair a class is in is its least separable
            for c, other in ((a, b), (b, a)):
                if least_class[c] is None:
                    least_class[c], least_sep[c] = data.class_names[other], float(sep)

    def opt(values, cast):
        return [
            None if values is None or (isinstance(values[c], float) and np.isnan(values[c])) else cast(values[c])
            for c in range(k_classes)
        ]

    return pa.Table.from_pydict(
        {
            "class_name": list(data.class_names),
            "count": counts.tolist(),
            "share": (counts / total if total else np.zeros(k_classes)).tolist(),
            "effective_count": effective.tolist(),
            "dedup_count": opt(dedup, int),
            "spread": opt(spread.tolist(), float),
            "num_subclusters": [int(s) if counts[c] else None for c, s in enumerate(subclusters)],
            "nearest_class": [data.class_names[nearest[c]] if has_nearest[c] else None for c in range(k_classes)],
            "separability": opt(separability.tolist(), float),
            "noise_rate": opt(None if noise_rate is None else np.asarray(noise_rate, dtype=float).tolist(), float),
            "label_issues": opt(issues, int),
            "confused_with": confused_with,
            "confused_counts": confused_counts,
            "label_evidence": opt(None if evidence is None else evidence.class_strength.tolist(), float),
            "least_separable_class": least_class,
            "least_separability": least_sep,
            **{
                name: [None] * k_classes
                for name in ("co_occurs_with", "co_occurrence_counts", "missing_count", "spurious_count")
            },
        },
        schema=CLASSES,
    )


def _per_class(embeddings, members_of, cos_own, cos_near, has_nearest, subcluster_sample, max_subclusters, seed):
    """Spread, separability and sub-cluster count of every class with members."""
    k_classes = len(has_nearest)
    rng = np.random.default_rng(seed)
    spread = np.full(k_classes, np.nan)
    separability = np.full(k_classes, np.nan)
    subclusters = np.zeros(k_classes, dtype=np.int32)
    for c, members in members_of.items():
        spread[c] = float(np.mean(1.0 - cos_own[members]))
        if has_nearest[c]:
            separability[c] = float(np.mean(cos_own[members] > cos_near[members]))
        sample = members if len(members) <= subcluster_sample else rng.choice(members, subcluster_sample, replace=False)
        subclusters[c] = count_subclusters(embeddings[np.sort(sample)], max_k=max_subclusters, seed=seed)
    return spread, separability, subclusters
