"""Per-tag statistics of multi-label data: classes.parquet with one row per tag.

Each tag's frequency (``count``, ``share``; the imbalance ratio is over these), effective and
duplicate-adjusted counts, the tags it most often comes with (``co_occurs_with``,
``co_occurrence_counts``: how many rows carry both), how often the tag scorer names it missing
or spurious (``missing_count``, ``spurious_count``, ``label_issues`` their sum, ``noise_rate``
their share of the rows), and the tags it is most confused with (``confused_with``: in the rows
where this tag is named spurious, the tags named missing; a swap of one for the other).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from curate.schemas import CLASSES

#: partner tags listed per tag (co-occurrence and confusion), most frequent first
TOP_PARTNERS = 5


def _top(counts: np.ndarray, names: list[str], skip: int) -> tuple[list[str], list[int]]:
    order = [int(j) for j in np.argsort(-counts, kind="stable") if j != skip and counts[j] > 0][:TOP_PARTNERS]
    return [names[j] for j in order], [int(counts[j]) for j in order]


def tag_statistics(
    tags: np.ndarray,
    tag_names: list[str],
    scores: Any,
    *,
    duplicate_copies: np.ndarray | None = None,
    beta: float = 0.999,
) -> pa.Table:
    """classes.parquet (schema CLASSES) of multi-label data, one row per tag.

    tags:             (N, K) bool given tags
    scores:           :class:`curate.score.multilabel.TagScores` of the same rows
    duplicate_copies: (N,) bool redundant copies of duplicate groups (``dedup_count`` leaves
                      them out), or None
    The single-label separability columns stay null: a tag is not a partition of the space.
    """
    hot = np.asarray(tags, dtype=bool)
    n, k = hot.shape
    counts = hot.sum(axis=0).astype(np.int64)
    as_float = hot.astype(np.float32)  # BLAS products; counts stay exact below 2**24 rows
    co = np.rint(as_float.T @ as_float).astype(np.int64)  # (K, K) rows carrying both tags
    missing = np.zeros((n, k), dtype=bool)
    spurious = np.zeros((n, k), dtype=bool)
    for i, (m, s) in enumerate(zip(scores.missing, scores.spurious)):
        missing[i, list(m)] = True
        spurious[i, list(s)] = True
    # (K, K) rows where tag t is named spurious while tag u is named missing
    swaps = np.rint(spurious.astype(np.float32).T @ missing.astype(np.float32)).astype(np.int64)
    named = missing.sum(axis=0) + spurious.sum(axis=0)
    keep = ~np.asarray(duplicate_copies, dtype=bool) if duplicate_copies is not None else np.ones(n, dtype=bool)
    dedup = hot[keep].sum(axis=0)
    effective = np.where(counts > 0, (1.0 - np.power(beta, counts)) / (1.0 - beta), 0.0)
    co_with, co_counts, confused, confused_counts = [], [], [], []
    for t in range(k):
        names, values = _top(co[t], tag_names, t)
        co_with.append(names)
        co_counts.append(values)
        names, values = _top(swaps[t] + swaps[:, t], tag_names, t)
        confused.append(names)
        confused_counts.append(values)
    empty = [None] * k
    return pa.Table.from_pydict(
        {
            "class_name": list(tag_names),
            "count": counts.tolist(),
            "share": (counts / n if n else np.zeros(k)).tolist(),
            "effective_count": effective.tolist(),
            "dedup_count": dedup.astype(np.int64).tolist(),
            "spread": empty,
            "num_subclusters": empty,
            "nearest_class": empty,
            "separability": empty,
            "noise_rate": (named / n if n else np.zeros(k)).astype(float).tolist(),
            "label_issues": named.astype(np.int64).tolist(),
            "confused_with": confused,
            "confused_counts": confused_counts,
            "label_evidence": empty,
            "least_separable_class": empty,
            "least_separability": empty,
            "co_occurs_with": co_with,
            "co_occurrence_counts": co_counts,
            "missing_count": missing.sum(axis=0).astype(np.int64).tolist(),
            "spurious_count": spurious.sum(axis=0).astype(np.int64).tolist(),
        },
        schema=CLASSES,
    )
