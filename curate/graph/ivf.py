"""Cluster-batched inverted-file search: k nearest neighbours of every row as matrix products.

The neighbour graph is a self-join (the queries are the database), which lets the search be
organised by cluster instead of by query:

1. k-means (faiss's trainer, spherical) splits the rows into ``nlist`` lists;
2. every row joins the list of its nearest centroid;
3. the rows of each list are searched *together*, as one (members x candidates) matrix product,
   against the members of the ``nprobe`` lists whose centroids are nearest that list's centroid
   (its own list first), followed by a row-wise top-k.

It scans as many vectors as a classic IVF index with the same ``nprobe``, but in large dense
tiles that run at BLAS speed, where a per-query IVF scan computes one short dot product at a
time. On this project's 2-core CPU, at 200k x 512, faiss ``IndexIVFFlat.search_preassigned``
took 45.7 s for recall@20 0.984; this took 7.7 s for recall@20 0.986 (see docs/benchmarks.md,
``tests/bench/bench_graph.py --crossover``). Recall is measured against exact search by
:func:`curate.graph.neighbors.recall_at_k` and stored with the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from curate.graph.tile import ClassFilter, mask_sorted_classes, mask_tile, mask_tile_numpy, topk_numpy, topk_tile

#: similarity tile budget per matrix product (elements): 2^23 float32 = 32 MiB (measured at 50k:
#: as fast as 128 MiB tiles, 2.0 s vs 2.3 s)
TILE_ELEMENTS = 1 << 23
#: k-means iterations; the centroids only route rows, more did not raise recall
KMEANS_ITERATIONS = 10
#: training rows per centroid (faiss warns below 39)
TRAIN_PER_LIST = 39
#: lists larger than this many times the mean size are split (see :func:`split_large_lists`)
MAX_LIST_RATIO = 3.0


def default_nlist(n: int) -> int:
    """Lists for ``n`` rows: ``sqrt(n)``. Each row is compared with ``nprobe * sqrt(n)`` others,
    so the search costs ``n^1.5 * nprobe * D`` and k-means training stays a small share."""
    return int(max(1, min(n, round(math.sqrt(n)))))


def training_sample(x: np.ndarray, nlist: int, *, train_size: int | None = None, seed: int = 0) -> np.ndarray:
    """The rows a k-means of ``nlist`` centroids trains on: a random sample of ``train_size``
    rows (default ``39 * nlist``, the least faiss accepts without a warning), in row order."""
    n = x.shape[0]
    if train_size is None:
        train_size = TRAIN_PER_LIST * nlist
    train_size = min(n, max(train_size, nlist))
    if train_size >= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(n, train_size, replace=False))]


def train_centroids(x: np.ndarray, nlist: int, *, train_size: int | None = None, seed: int = 0) -> np.ndarray:
    """Spherical k-means centroids (nlist, D) float32 of the rows of ``x`` (faiss), trained on a
    random sample of ``train_size`` rows (default ``39 * nlist``)."""
    import faiss

    n, dim = x.shape
    nlist = max(1, min(nlist, n))
    train = training_sample(x, nlist, train_size=train_size, seed=seed)
    cp = faiss.ClusteringParameters()
    cp.niter = KMEANS_ITERATIONS
    cp.seed = seed
    cp.spherical = True
    cp.min_points_per_centroid = 1
    clustering = faiss.Clustering(dim, nlist, cp)
    clustering.train(np.ascontiguousarray(train, dtype=np.float32), faiss.IndexFlatIP(dim))
    return faiss.vector_to_array(clustering.centroids).reshape(nlist, dim)


def assign_lists(x, centroids, *, block: int = 16384):
    """Index (N,) int64 of each row's most similar centroid: numpy arrays (N, D) / (nlist, D)
    float32 in numpy (no torch import on a CPU), or torch tensors on their device; numpy out."""
    out = np.empty(x.shape[0], dtype=np.int64)
    if isinstance(x, np.ndarray):
        for start in range(0, x.shape[0], block):
            out[start : start + block] = np.argmax(x[start : start + block] @ centroids.T, axis=1)
        return out
    import torch

    with torch.inference_mode():
        for start in range(0, x.shape[0], block):
            out[start : start + block] = torch.argmax(x[start : start + block] @ centroids.T, dim=1).cpu().numpy()
    return out


def split_large_lists(
    x_np: np.ndarray, centroids: np.ndarray, assign: np.ndarray, *, max_ratio: float = MAX_LIST_RATIO, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split every list holding more than ``max_ratio`` times the mean list size with a k-means
    of its own members, into lists of about the mean size.

    The search costs the sum over lists of (members x candidates), so a few dense regions that
    k-means left as huge lists dominate it quadratically (seen on long-tailed synthetic data:
    lists up to 25x the mean, 4.8x the work of balanced lists). Returns the new
    ``(centroids, assign)``; the split lists' sub-centroids are appended.
    """
    nlist = centroids.shape[0]
    mean = len(assign) / nlist
    sizes = np.bincount(assign, minlength=nlist)
    centroids, assign = centroids.copy(), assign.copy()  # the caller's arrays stay as they were
    new_centroids = [centroids]
    next_list = nlist
    for c in np.flatnonzero(sizes > max_ratio * mean):
        rows = np.flatnonzero(assign == c)
        parts = int(math.ceil(len(rows) / mean))
        sub = train_centroids(x_np[rows], parts, seed=seed)
        local = np.argmax(x_np[rows] @ sub.T, axis=1)
        # part 0 keeps the list's number, the others become new lists
        ids = np.where(local == 0, c, next_list + local - 1)
        assign[rows] = ids
        centroids[c] = sub[0]
        new_centroids.append(sub[1:])
        next_list += parts - 1
    return np.concatenate(new_centroids).astype(np.float32), assign


def probe_lists(centroids, nprobe: int) -> np.ndarray:
    """(nlist, nprobe) int64: for each list, itself followed by the lists with the most similar
    centroids (a numpy (nlist, D) array in numpy, a torch tensor on its device)."""
    nlist = centroids.shape[0]
    nprobe = max(1, min(nprobe, nlist))
    if isinstance(centroids, np.ndarray):
        sims = centroids @ centroids.T
        np.fill_diagonal(sims, np.inf)  # own list first, whatever the centroid norms
        return topk_numpy(sims, nprobe)[1].astype(np.int64)
    import torch

    with torch.inference_mode():
        sims = centroids @ centroids.T
        sims.fill_diagonal_(float("inf"))  # own list first, whatever the centroid norms
        return torch.topk(sims, nprobe, dim=1).indices.cpu().numpy()


@dataclass(frozen=True)
class IVFLists:
    """The inverted lists of :func:`ivf_knn` over one matrix: ``centroids`` (nlist, D) float32
    and ``assign`` (N,) int64, each row's list (large lists already split). Built once, they
    serve every search of the same rows (:func:`build_lists`)."""

    centroids: np.ndarray
    assign: np.ndarray


def build_lists(
    embeddings: np.ndarray,
    *,
    nlist: int | None = None,
    train_size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> IVFLists:
    """k-means lists of (N, D) L2-normalised ``embeddings``, large lists split: what
    :func:`ivf_knn` builds with the same arguments (deterministic for a seed), for callers that
    search the same rows more than once (the hard negatives' passes)."""
    x_np = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = x_np.shape[0]
    nlist = default_nlist(n) if nlist is None else max(1, min(nlist, n))
    centroids = train_centroids(x_np, nlist, train_size=train_size, seed=seed)
    if device == "cpu":
        assign = assign_lists(x_np, centroids)
    else:
        import torch

        assign = assign_lists(torch.from_numpy(x_np).to(device), torch.from_numpy(centroids).to(device))
    return IVFLists(*split_large_lists(x_np, centroids, assign, seed=seed))


def ivf_knn(
    embeddings: np.ndarray,
    k: int,
    *,
    rows: np.ndarray | None = None,
    class_filter: ClassFilter | None = None,
    nlist: int | None = None,
    nprobe: int = 8,
    train_size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    lists: IVFLists | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate cosine top-k of rows against all other rows, cluster by cluster.

    embeddings:   (N, D) float16/float32, L2-normalised (the database and the queries)
    rows:         (M,) indices of the rows to search for (default: all, M = N)
    class_filter: skip candidates of classes a query excludes (see :class:`ClassFilter`;
                  ``query_classes`` aligned with ``rows``)
    nlist:        k-means lists (default :func:`default_nlist`, ``sqrt(N)``)
    nprobe:       lists searched for the rows of each list, its own included
    train_size:   rows k-means trains on (default ``39 * nlist``)
    device:       where the matrix products run: ``"cpu"`` in numpy, else a torch device
    lists:        the lists :func:`build_lists` made for these embeddings with the same
                  ``nlist``, ``train_size`` and ``seed`` (the same search, without training again)
    Returns ``(indices (M, k) int64, sims (M, k) float32)``, self excluded, most similar first;
    slots beyond the candidates found hold -1 / -inf.
    """
    from curate import progress

    x_np = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = x_np.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    m = len(rows)
    out_idx = np.full((m, k), -1, dtype=np.int64)
    out_sim = np.full((m, k), -np.inf, dtype=np.float32)
    if n < 2 or k < 1 or m == 0:
        return out_idx, out_sim
    out_pos = np.full(n, -1, dtype=np.int64)  # row -> its line in the output
    out_pos[rows] = np.arange(m)
    q_classes_np = r_classes_np = None
    # a one-class-per-query filter runs on class-sorted tiles (mask_sorted_classes)
    sorted_filter = class_filter is not None and class_filter.query_classes.shape[1] == 1
    if sorted_filter:
        q_key = np.full(n, -1, dtype=np.int64)
        q_key[rows] = class_filter.query_classes[:, 0]
        r_all = np.ascontiguousarray(class_filter.row_classes, dtype=np.int64)
        r_key, r_extra = r_all[:, 0], r_all[:, 1:]
        has_extra = ((r_extra >= 0) & (r_extra != r_key[:, None])).any(axis=1)
    elif class_filter is not None:
        q_classes_np = np.full((n, class_filter.query_classes.shape[1]), -1, dtype=np.int64)
        q_classes_np[rows] = class_filter.query_classes
        r_classes_np = np.ascontiguousarray(class_filter.row_classes, dtype=np.int64)

    if lists is None:
        lists = build_lists(x_np, nlist=nlist, train_size=train_size, seed=seed, device=device)
    if len(lists.assign) != n:
        raise ValueError(f"the lists cover {len(lists.assign)} rows, the embeddings {n}")
    centroids_np, assign = lists.centroids, lists.assign
    nlist = centroids_np.shape[0]
    # on a CPU every step is numpy (no torch import: seconds of start-up); torch elsewhere
    search = _NumpyTiles(x_np) if device == "cpu" else _TorchTiles(x_np, device)
    probes = search.probe_lists(centroids_np, nprobe)
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
    members = [order[bounds[c] : bounds[c + 1]] for c in range(nlist)]

    with search.context(), progress.bar(total=m, desc="neighbours (ivf)", unit="row") as pbar:
        for c in range(nlist):
            own = members[c]
            local = np.flatnonzero(out_pos[own] >= 0)  # this list's queries, as positions in it
            if len(local) == 0:
                continue
            cand = np.concatenate([members[p] for p in probes[c]])  # own members come first
            at_own = local  # where this list's queries sit among the candidates
            if sorted_filter:
                perm = np.argsort(r_key[cand], kind="stable")
                cand = cand[perm]
                inverse = np.empty_like(perm)
                inverse[perm] = np.arange(len(perm))
                at_own = inverse[local][np.argsort(q_key[own[local]], kind="stable")]
                extra_cols = np.flatnonzero(has_extra[cand])
                extra_keys = r_extra[cand[extra_cols]]
            db = search.gather(cand)
            chunk = max(1, TILE_ELEMENTS // len(cand))
            for start in range(0, len(at_own), chunk):
                pos = at_own[start : start + chunk]
                query_rows = cand[pos]
                sims = search.tile(db, pos)
                if sorted_filter:
                    mask_sorted_classes(sims, q_key[query_rows], r_key[cand], extra_cols, extra_keys)
                elif q_classes_np is not None and r_classes_np is not None:
                    search.mask_classes(sims, q_classes_np[query_rows], r_classes_np[cand])
                vals, at = search.topk(sims, k)
                lines = out_pos[query_rows]
                out_idx[lines, : vals.shape[1]] = cand[at]
                out_sim[lines, : vals.shape[1]] = vals
            pbar.update(len(local))
    missing = ~np.isfinite(out_sim)
    out_idx[missing] = -1
    out_sim[missing] = -np.inf
    return out_idx, out_sim


class _NumpyTiles:
    """The tile steps of :func:`ivf_knn` in numpy (a CPU search imports no torch)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def context(self):
        import contextlib

        return contextlib.nullcontext()

    def probe_lists(self, centroids: np.ndarray, nprobe: int) -> np.ndarray:
        return probe_lists(centroids, nprobe)

    def gather(self, cand: np.ndarray) -> np.ndarray:
        return self.x[cand]

    def tile(self, db: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """(len(pos), len(db)) float32 similarities, each query's own column at -inf."""
        sims = db[pos] @ db.T
        sims[np.arange(len(pos)), pos] = -np.inf
        return sims

    def mask_classes(self, sims: np.ndarray, query_classes: np.ndarray, cand_classes: np.ndarray) -> None:
        mask_tile_numpy(sims, query_classes, cand_classes)

    def topk(self, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return topk_numpy(sims, k)


class _TorchTiles:
    """The tile steps of :func:`ivf_knn` as torch operations on ``device`` (numpy out)."""

    def __init__(self, x: np.ndarray, device: str) -> None:
        import torch

        self.torch, self.device = torch, device
        self.x = torch.from_numpy(x).to(device)

    def context(self):
        return self.torch.inference_mode()

    def probe_lists(self, centroids: np.ndarray, nprobe: int) -> np.ndarray:
        return probe_lists(self.torch.from_numpy(centroids).to(self.device), nprobe)

    def gather(self, cand: np.ndarray):
        return self.x.index_select(0, self.torch.from_numpy(cand).to(self.device))

    def tile(self, db, pos: np.ndarray):
        pos_t = self.torch.from_numpy(pos).to(self.device)
        sims = db.index_select(0, pos_t) @ db.T
        mask_tile(sims, self_cols=pos_t)
        return sims

    def mask_classes(self, sims, query_classes: np.ndarray, cand_classes: np.ndarray) -> None:
        to = self.torch.from_numpy
        mask_tile(sims, query_classes=to(query_classes).to(self.device), cand_classes=to(cand_classes).to(self.device))

    def topk(self, sims, k: int) -> tuple[np.ndarray, np.ndarray]:
        vals, at = topk_tile(sims, k)
        return vals.cpu().numpy(), at.cpu().numpy()
