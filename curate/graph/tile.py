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
        # A query's "no class" (-1) must not match an unlabelled candidate's -1; such candidates
        # are dropped by column instead. Comparisons run on int32 to halve the memory traffic.
        query_classes = torch.where(query_classes < 0, -2, query_classes).to(torch.int32)
        cand = cand_classes.to(torch.int32)
        excluded = None
        for a in range(query_classes.shape[1]):
            qa = query_classes[:, a : a + 1]
            for b in range(cand.shape[1]):
                hit = qa == cand[:, b].unsqueeze(0)
                excluded = hit if excluded is None else excluded.logical_or_(hit)
        sims.masked_fill_(excluded, -float("inf"))
        unlabelled = torch.nonzero(cand[:, 0] < 0).flatten()
        if unlabelled.numel():
            sims[:, unlabelled] = -float("inf")


def mask_sorted_classes(
    sims, query_keys: np.ndarray, col_keys: np.ndarray, extra_cols: np.ndarray, extra_keys: np.ndarray
) -> None:
    """The single-class filter on a tile whose rows and columns are sorted by class, in place.

    For queries that exclude one class each (``ClassFilter.query_classes`` of width 1), sorting
    turns "candidate j has query i's class" into rectangles: one slice fill per distinct query
    class instead of a comparison per tile entry. Candidates with further classes (a suggested
    label that differs from the given one) are few and compared column by column.

    query_keys: (m,) classes the tile's rows exclude, ascending (-1 excludes nothing)
    col_keys:   (c,) first class of each column, ascending (negative = unlabelled: always masked)
    extra_cols: (e,) columns with further classes; extra_keys: (e, b) those classes (-1 = none)
    ``sims`` is a numpy array or a torch tensor.
    """
    unlabelled = int(np.searchsorted(col_keys, 0, side="left"))
    if unlabelled:
        sims[:, :unlabelled] = -float("inf")
    values, starts = np.unique(query_keys, return_index=True)
    ends = np.append(starts[1:], len(query_keys))
    for value, r0, r1 in zip(values.tolist(), starts.tolist(), ends.tolist()):
        if value < 0:
            continue
        c0 = int(np.searchsorted(col_keys, value, side="left"))
        c1 = int(np.searchsorted(col_keys, value, side="right"))
        if c1 > c0:
            sims[r0:r1, c0:c1] = -float("inf")
    if len(extra_cols) and isinstance(sims, np.ndarray):
        keys_np = np.where(query_keys < 0, -2, query_keys)[:, None]
        sub_np = sims[:, extra_cols]
        for b in range(extra_keys.shape[1]):
            sub_np[keys_np == extra_keys[None, :, b]] = -np.inf
        sims[:, extra_cols] = sub_np
    elif len(extra_cols):
        import torch

        q = torch.from_numpy(np.where(query_keys < 0, -2, query_keys)).to(sims.device).unsqueeze(1)
        cols = torch.from_numpy(extra_cols).to(sims.device)
        keys = torch.from_numpy(extra_keys).to(sims.device)
        sub = sims.index_select(1, cols)
        for b in range(keys.shape[1]):
            sub.masked_fill_(q == keys[:, b].unsqueeze(0), -float("inf"))
        sims[:, cols] = sub


def topk_tile(sims, k: int):
    """Best ``min(k, columns)`` of each row: (values, positions), most similar first."""
    import torch

    return torch.topk(sims, min(k, sims.shape[1]), dim=1)


def mask_tile_numpy(sims: np.ndarray, query_classes: np.ndarray, cand_classes: np.ndarray) -> None:
    """The class filter of :func:`mask_tile` on a numpy (m, c) tile, in place.

    query_classes: (m, a) int64 classes each query excludes (-1: none);  cand_classes: (c, b)
    int64 classes of each candidate (a first column < 0: unlabelled, never a neighbour).
    """
    queries = np.where(query_classes < 0, -2, query_classes).astype(np.int32)
    cand = cand_classes.astype(np.int32)
    excluded = np.zeros(sims.shape, dtype=bool)
    for a in range(queries.shape[1]):
        for b in range(cand.shape[1]):
            excluded |= queries[:, a : a + 1] == cand[None, :, b]
    excluded[:, cand[:, 0] < 0] = True
    sims[excluded] = -np.inf


def topk_numpy(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``min(k, columns)`` of each row of a numpy tile: (values, positions), most similar
    first, equal values by position."""
    width = sims.shape[1]
    k = min(k, width)
    if k < width:
        at = np.argpartition(sims, width - k, axis=1)[:, width - k :]
    else:
        at = np.broadcast_to(np.arange(width), sims.shape)
    vals = np.take_along_axis(sims, at, axis=1)
    order = np.lexsort((at, -vals), axis=1)
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(at, order, axis=1)
