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

:func:`sampling_weights` is propose's weighting step: near-duplicate groups downweighted, the
cap applied, then the class weights above.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

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


#: How much more redundant a near-duplicate copy counts than any density: undersampling removes
#: copies before unique samples (density, a mean cosine, is at most 1).
NEAR_COPY_REDUNDANCY = 2.0


def neighbour_density(idx: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """(N,) mean cosine to the valid neighbours (``idx >= 0``) of each row, 0 for a row without
    any: how crowded a sample's neighbourhood is, so undersampling can thin the crowd first."""
    valid = idx >= 0
    return np.where(valid, sims, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)


def sampling_weights(
    action: list[str],
    reasons: list[list[str]],
    labels: np.ndarray,
    *,
    near_duplicate_groups: Sequence[str | None],
    near_duplicate_copies: np.ndarray,
    density: np.ndarray | None,
    class_names: Sequence[str],
    strategy: str,
    cap: int | None,
    beta: float = 0.999,
    protected: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) float64 sampling weight of every sample, once the rules have decided its action.

    action, reasons:       per sample, as the rules left them; updated in place (undersampled
                           samples become drops, and every step below appends its reason)
    labels:                (N,) int64 final class of each sample, -1 unlabelled
    near_duplicate_groups: the near-duplicate group each sample belongs to (keeper included), or None
    near_duplicate_copies: (N,) bool, the redundant copies of those groups
    density:               (N,) :func:`neighbour_density`, or None without neighbours (then
                           undersampling goes by row order)
    protected:             (N,) bool, samples undersampling never removes (a person decided
                           them), or None

    In this order:

    1. every near-duplicate group is sampled like one image: each member not dropped is divided
       by the number of such members;
    2. with ``cap``, classes above it are undersampled (:func:`undersample`), near copies first,
       then the densest samples;
    3. the samples still kept get their class's weight (:func:`class_weights` over the final
       labels of the kept samples); unlabelled kept samples weigh 1, dropped ones 0.
    """
    alive = np.array([a != "drop" for a in action], dtype=bool)
    divisor = np.ones(len(action))
    kept_members = Counter(g for g, ok in zip(near_duplicate_groups, alive) if g is not None and ok)
    for i, g in enumerate(near_duplicate_groups):
        if g is not None and alive[i] and kept_members[g] > 1:
            divisor[i] = kept_members[g]
            reasons[i].append(f"near-duplicate group of {kept_members[g]}: weight / {kept_members[g]}")

    if cap is not None:
        redundancy = NEAR_COPY_REDUNDANCY * near_duplicate_copies
        if density is not None:
            redundancy = redundancy + density
        candidates = np.where(alive & (labels >= 0), labels, -1)
        if protected is not None:
            candidates = np.where(protected, -1, candidates)
        dropped = undersample(candidates, redundancy, cap)
        counts = np.bincount(labels[candidates >= 0], minlength=len(class_names))
        for i in np.flatnonzero(dropped):
            action[i] = "drop"
            reasons[i].append(f"undersampled: {class_names[labels[i]]} has {counts[labels[i]]} samples, cap {cap}")
        alive &= ~dropped

    labelled = alive & (labels >= 0)
    per_class = class_weights(np.bincount(labels[labelled], minlength=len(class_names)), strategy, beta=beta)
    # the appended 1.0 is what unlabelled rows (label -1) look up, also when there are no classes
    class_weight = np.append(per_class, 1.0)[labels]
    return np.where(labelled, class_weight, np.where(alive, 1.0, 0.0)) / divisor
