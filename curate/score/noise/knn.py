"""Source (a): a similarity-weighted kNN vote that never counts the sample itself.

A sample's neighbours vote for their labels with weight ``exp((sim - 1) / temperature)``, so
closer neighbours count more. Near-duplicates (cosine above ``duplicate_threshold``) are dropped
from the vote: a scraped copy that inherited the same wrong caption would otherwise confirm it.
"""

from __future__ import annotations

import numpy as np

#: Cosine above which two embeddings count as (near-)duplicates of each other.
DUPLICATE_THRESHOLD = 0.95


def knn_vote_logits(
    labels: np.ndarray,
    neighbor_idx: np.ndarray,
    neighbor_sims: np.ndarray,
    num_classes: int,
    *,
    temperature: float = 0.05,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
    smoothing: float = 1e-3,
) -> np.ndarray:
    """Out-of-sample class scores from the neighbours' labels.

    labels:        (N,) int64, -1 for unlabelled (unlabelled neighbours do not vote)
    neighbor_idx:  (N, k) int64 neighbour rows, self excluded; -1 marks an empty slot
    neighbor_sims: (N, k) float32 cosine similarities, same order
    Returns (N, K) float32 log vote shares. ``smoothing`` mixes in a uniform share (relative to
    the total vote weight) so an unseen class has a finite score; a sample with no voting
    neighbour gets a flat row.
    """
    n, k = neighbor_idx.shape
    valid = neighbor_idx >= 0
    neighbor_labels = np.where(valid, labels[np.where(valid, neighbor_idx, 0)], -1)
    sims = np.where(valid, neighbor_sims, -np.inf).astype(np.float64)
    weight = np.exp((np.minimum(sims, 1.0) - 1.0) / temperature)
    weight[(neighbor_labels < 0) | (sims > duplicate_threshold) | ~valid] = 0.0

    # At most k of the K cells of a row hold votes: every other cell is the row's smoothing
    # share, so the (n, K) output is one fill plus a scatter of the voted cells.
    total = weight.sum(axis=1)
    share = smoothing / num_classes * np.where(total > 0, total, 1.0)  # added to every cell
    norm = total + num_classes * share
    out = np.empty((n, num_classes), dtype=np.float32)
    out[:] = np.log(share / norm)[:, None]
    voted = weight > 0
    cells, inverse = np.unique((np.arange(n)[:, None] * num_classes + neighbor_labels)[voted], return_inverse=True)
    votes = np.bincount(inverse, weights=weight[voted], minlength=len(cells))
    row = cells // num_classes
    out.ravel()[cells] = np.log((votes + share[row]) / norm[row])
    return out


def duplicate_groups(
    neighbor_idx: np.ndarray,
    neighbor_sims: np.ndarray,
    *,
    threshold: float = DUPLICATE_THRESHOLD,
    hashes: np.ndarray | None = None,
) -> np.ndarray:
    """Connected components of the near-duplicate graph (cosine > threshold, or equal hash).

    Returns (N,) int64 group ids; a sample without duplicates is its own group. Used to keep
    every copy in the same cross-validation fold, so a probe never sees a copy of a held-out row.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = neighbor_idx.shape[0]
    src, col = np.nonzero((neighbor_idx >= 0) & (neighbor_sims > threshold))
    dst = neighbor_idx[src, col]
    if hashes is not None:
        hashed = np.flatnonzero(np.array([h is not None for h in hashes], dtype=bool))
        _, code = np.unique(hashes[hashed].astype(str), return_inverse=True)
        order = np.argsort(code, kind="stable")
        same = code[order][1:] == code[order][:-1]
        src = np.concatenate([src, hashed[order[1:][same]]])
        dst = np.concatenate([dst, hashed[order[:-1][same]]])
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, groups = connected_components(graph, directed=False)
    return groups.astype(np.int64)
