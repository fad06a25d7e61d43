"""Class rebalancing: per-class sampling weights and redundancy-first undersampling.

Weights are per-sample sampling weights for a weighted sampler (e.g. torch's
``WeightedRandomSampler``): a class's total sampling mass is ``count * weight``.

* ``none``              every sample weight 1;
* ``inverse``           weight ∝ 1 / n_k: every class gets the same mass (full balance);
* ``sqrt``              weight ∝ 1 / sqrt(n_k): halfway (Mahajan et al. 2018 style);
* ``effective-number``  weight ∝ (1 - beta) / (1 - beta^n_k) (Cui et al. 2019): like inverse for
                         small classes, saturating for large ones because their samples overlap;
* ``cap``               classes above ``cap`` are undersampled to ``cap`` (redundant samples
                         removed first, see :func:`undersample`), then the tail is oversampled by
                         weight to full balance (inverse weights on the capped counts).

Weights are scaled so that the mean weight over the weighted samples is 1, so "weight 2" means
"drawn twice as often as an average sample".
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("none", "inverse", "sqrt", "effective-number", "cap")


def class_weights(counts: np.ndarray, strategy: str, *, beta: float = 0.999) -> np.ndarray:
    """Per-sample weight of each class.

    counts: (K,) int64 samples per class. Returns (K,) float64, 0 for empty classes, scaled so
    that ``(counts * weights).sum() == counts.sum()``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    raw = np.zeros_like(counts)
    if strategy == "none":
        raw[present] = 1.0
    elif strategy in ("inverse", "cap"):
        raw[present] = 1.0 / counts[present]
    elif strategy == "sqrt":
        raw[present] = 1.0 / np.sqrt(counts[present])
    else:
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        raw[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    mass = (counts * raw).sum()
    return raw * (counts.sum() / mass) if mass > 0 else raw


def undersample(labels: np.ndarray, redundancy: np.ndarray, cap: int) -> np.ndarray:
    """Which rows to drop so that no class keeps more than ``cap`` rows.

    labels:     (N,) int64 class of each candidate row, -1 = not a candidate (kept as is)
    redundancy: (N,) float, higher = more redundant = dropped first (e.g. near-duplicate
                copies first, then the densest samples by mean neighbour similarity)
    Returns (N,) bool, True for rows to drop. Ties break by row order (deterministic).
    """
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    drop = np.zeros(len(labels), dtype=bool)
    for k in np.unique(labels[labels >= 0]):
        rows = np.flatnonzero(labels == k)
        excess = len(rows) - cap
        if excess > 0:
            worst_first = rows[np.argsort(-redundancy[rows], kind="stable")]
            drop[worst_first[:excess]] = True
    return drop
