"""One similarity tile -> top-k: the step every neighbour engine shares.

Both engines (:func:`curate.graph.neighbors.exact_knn` and :func:`curate.graph.ivf.ivf_knn`)
compute a (queries x candidates) cosine tile with a matrix product and keep each row's best k.
This module holds what happens to a tile in between: the query itself is masked out, and with a
:class:`ClassFilter` so is every candidate of an excluded class — how hard-negative mining asks
for "the nearest samples of another class" in one pass instead of searching deeper and deeper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassFilter:
    """Which candidates a query may not have as neighbours.

    query_classes: (M, a) int64, classes each query excludes (-1 = no class)
    row_classes:   (N, b) int64, classes each database row belongs to (-1 = none). A row whose
                   first column is negative (unlabelled) is never a neighbour.
    Candidate j is skipped for query i when any ``query_classes[i]`` equals any ``row_classes[j]``.
    """

    query_classes: np.ndarray
    row_classes: np.ndarray

    def __post_init__(self) -> None:
        if self.query_classes.ndim != 2 or self.row_classes.ndim != 2:
            raise ValueError("ClassFilter arrays must be 2-D (rows x classes)")


def mask_tile(sims, *, self_cols=None, query_classes=None, cand_classes=None) -> None:
    """Set excluded entries of a (m, c) similarity tile to -inf, in place.

    self_cols:     (m,) long tensor, the column of each query's own row, or None
    query_classes: (m, a) long tensor of classes each query excludes, or None
    cand_classes:  (c, b) long tensor of classes of each candidate (needed with query_classes)
    """
    import torch

    if self_cols is not None:
        sims[torch.arange(sims.shape[0], device=sims.device), self_cols] = -float("inf")
    if query_classes is not None:
        excluded = (cand_classes[:, 0] < 0).unsqueeze(0).expand_as(sims).clone()
        for a in range(query_classes.shape[1]):
            qa = query_classes[:, a:a + 1]
            for b in range(cand_classes.shape[1]):
                excluded |= (qa == cand_classes[:, b].unsqueeze(0)) & (qa >= 0)
        sims.masked_fill_(excluded, -float("inf"))


def topk_tile(sims, k: int):
    """Best ``min(k, columns)`` of each row: (values, positions), most similar first."""
    import torch

    return torch.topk(sims, min(k, sims.shape[1]), dim=1)
