"""Label votes over the neighbour graph: what do a sample's nearest neighbours say it is?"""

from __future__ import annotations

import numpy as np


def knn_vote(labels: np.ndarray, idx: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Majority label among each sample's neighbours (the sample itself is never in ``idx``).

    labels: (N,) int64, -1 = unlabelled (ignored as a voter)
    idx:    (N, k) int64 neighbour rows, -1 = missing
    Returns ``(majority (N,) int64, share (N,) float32)``: the most frequent label among the
    labelled neighbours and the fraction of labelled neighbours that carry it; -1 / 0.0 when a
    sample has no labelled neighbour. Ties go to the lower class index (deterministic).
    """
    n = len(idx)
    majority = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n, dtype=np.float32)
    if n == 0 or num_classes == 0 or idx.shape[1] == 0:
        return majority, share
    voters = np.where(idx >= 0, labels[np.maximum(idx, 0)], -1)
    step = max(1, (1 << 24) // max(num_classes, 1))  # bounds the (rows x K) count matrix
    for start in range(0, n, step):
        block = voters[start : start + step]
        counts = np.zeros((len(block), num_classes), dtype=np.int32)
        rows, cols = np.nonzero(block >= 0)
        np.add.at(counts, (rows, block[rows, cols]), 1)
        total = counts.sum(axis=1)
        top = counts.argmax(axis=1)
        has = total > 0
        majority[start : start + step] = np.where(has, top, -1)
        share[start : start + step] = np.where(has, counts[np.arange(len(block)), top] / np.maximum(total, 1), 0.0)
    return majority, share
