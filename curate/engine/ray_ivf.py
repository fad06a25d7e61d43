"""The cluster-batched IVF search (:mod:`curate.graph.ivf`) as Ray tasks over the embedding shards.

:func:`curate.graph.ivf.ivf_knn` holds the whole (N, D) matrix in one process. Here no process
does: the vectors stay in ``embeddings/``'s shards (on storage every node reads) and

1. the driver trains the k-means centroids on the same random sample of rows ``ivf_knn`` takes,
   gathering just those rows from the shards (:class:`ShardedRows`);
2. a task per shard assigns its rows to their nearest centroid; the driver splits oversized
   lists exactly as ``ivf_knn`` does (gathering only their members) and picks each list's probes;
3. the lists are dealt to tasks in contiguous runs of about equal work (members x candidates);
   each task gathers the vectors of its lists and their probed lists from the shards, one shard
   at a time, and searches them tile by tile (:func:`curate.graph.tile.mask_tile`,
   :func:`~curate.graph.tile.topk_tile`), returning its rows' top-k;
4. the driver fills the (N, k) graph, the only N-sized thing it holds besides list numbers.

Every step reuses ``curate.graph.ivf``'s functions, so the graph is the one ``ivf_knn`` builds
on the same vectors (tested). Memory per task: its candidates' vectors, a few lists' worth.
Class filters (hard-negative search) are not offered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.engine.cluster import ray_module


class ShardedRows:
    """Rows of an embeddings folder's shards, read on demand: ``rows[idx]`` (sorted or not) is
    an (m, D) float32 array gathered shard by shard; ``np.asarray(rows)`` reads everything."""

    def __init__(self, folder: Path):
        from curate.embed import store
        from curate.storage import reading

        meta = store.read_run_meta(folder)
        if meta is None or not store.is_complete(folder):
            from curate.errors import DataError

            raise DataError(f"{folder} is incomplete; run `curate embed` (it resumes)")
        import pyarrow.parquet as pq

        self.paths = [store.shard_path(folder, i) for i in range(int(meta["num_shards"]))]
        counts = []
        for path in self.paths:
            with reading(path):
                counts.append(pq.ParquetFile(path).metadata.num_rows)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.shape = (int(self.offsets[-1]), int(meta["dim"]))
        self.dtype = np.dtype(np.float32)

    def sample_ids(self) -> list[str]:
        from curate.storage import read_parquet

        return [sid for path in self.paths for sid in read_parquet(path, columns=["sample_id"]).column(0).to_pylist()]

    def shard(self, i: int) -> np.ndarray:
        """Shard ``i``'s vectors (n_i, D) float32."""
        from curate.embed.store import fixed_list_to_numpy
        from curate.storage import read_parquet

        table = read_parquet(self.paths[i], columns=["embedding"])
        return fixed_list_to_numpy(table.column("embedding"), np.dtype(np.float32))

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        for i in np.unique(which):
            at = np.flatnonzero(which == i)
            out[at] = self.shard(int(i))[rows[at] - self.offsets[i]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[np.arange(self.shape[0])].astype(dtype or np.float32, copy=False)


def _assign_shard(folder: str, shard: int, centroids: np.ndarray) -> np.ndarray:
    """Task: the nearest centroid of every row of one shard (:func:`curate.graph.ivf.assign_lists`)."""
    import torch

    from curate.graph.ivf import assign_lists

    x = torch.from_numpy(ShardedRows(Path(folder)).shard(shard))
    return assign_lists(x, torch.from_numpy(np.array(centroids)))  # a writable copy of the shared object


def _search_lists(
    folder: str, lists: Sequence[np.ndarray], probed: Sequence[Sequence[np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Task: for each list (its member rows) against the members of its probed lists (its own
    first), ``ivf_knn``'s tile search. Returns ``(rows, indices (m, k), sims (m, k))``."""
    import torch

    from curate.graph.ivf import TILE_ELEMENTS
    from curate.graph.tile import mask_tile, topk_tile

    source = ShardedRows(Path(folder))
    wanted = np.unique(np.concatenate([np.concatenate(p) for p in probed]))
    vectors = source[wanted]
    out_rows, out_idx, out_sim = [], [], []
    with torch.inference_mode():
        for own, probes in zip(lists, probed):
            if len(own) == 0:
                continue
            cand = np.concatenate(probes)
            db = torch.from_numpy(vectors[np.searchsorted(wanted, cand)])
            idx = np.full((len(own), k), -1, dtype=np.int64)
            sim = np.full((len(own), k), -np.inf, dtype=np.float32)
            chunk = max(1, TILE_ELEMENTS // len(cand))
            for start in range(0, len(own), chunk):
                pos = np.arange(start, min(start + chunk, len(own)))
                pos_t = torch.from_numpy(pos)
                sims = db.index_select(0, pos_t) @ db.T
                mask_tile(sims, self_cols=pos_t)
                vals, at = topk_tile(sims, k)
                idx[pos, : vals.shape[1]] = cand[at.numpy()]
                sim[pos, : vals.shape[1]] = vals.numpy()
            out_rows.append(own)
            out_idx.append(idx)
            out_sim.append(sim)
    if not out_rows:
        return np.zeros(0, np.int64), np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    return np.concatenate(out_rows), np.concatenate(out_idx), np.concatenate(out_sim)


def deal_lists(cost: np.ndarray, tasks: int) -> list[range]:
    """Cut lists ``0..len(cost)`` into at most ``tasks`` contiguous runs of about equal total cost."""
    if len(cost) == 0:
        return []
    bounds = np.searchsorted(np.cumsum(cost), np.linspace(0, cost.sum(), tasks + 1)[1:-1], side="right")
    edges = [0, *sorted(set(int(b) for b in bounds) - {0, len(cost)}), len(cost)]
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:])]


def ray_ivf_knn(
    folder: str | Path,
    k: int,
    *,
    nlist: int | None = None,
    nprobe: int = 8,
    train_size: int | None = None,
    seed: int = 0,
    tasks: int | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Approximate cosine top-k of every row of the embeddings ``folder`` against all others,
    as Ray tasks on the connected cluster (:func:`curate.engine.cluster.ray_cluster`).

    folder:  a complete ``embeddings/`` folder (:mod:`curate.embed.store`), readable from every node
    nlist, nprobe, train_size, seed: as :func:`curate.graph.ivf.ivf_knn`, whose graph this is
    tasks:   search tasks the lists are dealt to (default: the cluster's CPUs)
    Returns ``(sample_ids, indices (N, k) int64, sims (N, k) float32)``, rows in shard order,
    self excluded, most similar first; slots beyond the candidates found hold -1 / -inf.
    """
    import torch

    from curate.graph.ivf import default_nlist, probe_lists, split_large_lists, train_centroids

    ray = ray_module()
    folder = Path(folder)
    x = ShardedRows(folder)
    n = x.shape[0]
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_sim = np.full((n, k), -np.inf, dtype=np.float32)
    ids = x.sample_ids()
    if n < 2 or k < 1:
        return ids, out_idx, out_sim
    nlist = default_nlist(n) if nlist is None else max(1, min(nlist, n))
    centroids = train_centroids(x, nlist, train_size=train_size, seed=seed)  # type: ignore[arg-type]
    assign_task = ray.remote(_assign_shard)
    centroids_ref = ray.put(centroids)
    assign = np.concatenate(ray.get([assign_task.remote(str(folder), i, centroids_ref) for i in range(len(x.paths))]))
    centroids, assign = split_large_lists(x, centroids, assign, seed=seed)  # type: ignore[arg-type]
    nlist = centroids.shape[0]
    probes = probe_lists(torch.from_numpy(centroids), nprobe)
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
    members = [order[bounds[c] : bounds[c + 1]] for c in range(nlist)]
    sizes = np.diff(bounds)
    cost = sizes * sizes[probes].sum(axis=1)
    tasks = tasks or max(1, int(ray.cluster_resources().get("CPU", 1)))
    search_task = ray.remote(_search_lists)
    pending = [
        search_task.remote(str(folder), [members[c] for c in run], [[members[p] for p in probes[c]] for c in run], k)
        for run in deal_lists(cost, tasks)
    ]
    for rows, idx, sim in ray.get(pending):
        out_idx[rows] = idx
        out_sim[rows] = sim
    missing = ~np.isfinite(out_sim)
    out_idx[missing] = -1
    out_sim[missing] = -np.inf
    return ids, out_idx, out_sim


def sharded_recall_at_k(folder: str | Path, idx: np.ndarray, *, num_queries: int = 1000, seed: int = 0) -> float:
    """:func:`curate.graph.neighbors.recall_at_k` of a graph whose vectors stay in the shards of
    ``folder``: the sampled queries' exact top-(k+1) is kept while the shards stream past (one
    shard's vectors in memory at a time), then the rows the tie rule needs are gathered once."""
    import torch

    from curate.graph.neighbors import recall_from_truth, recall_queries

    x = ShardedRows(Path(folder))
    n, k = idx.shape
    if n < 2 or k == 0:
        return 1.0
    rows = recall_queries(n, num_queries, seed)
    queries = torch.from_numpy(x[rows])
    best_sims = torch.full((len(rows), 0), -float("inf"))
    best_idx = torch.zeros((len(rows), 0), dtype=torch.int64)
    for i in range(len(x.paths)):
        sims = queries @ torch.from_numpy(np.array(x.shard(i))).T  # a writable copy for torch
        cand_idx = torch.arange(int(x.offsets[i]), int(x.offsets[i + 1])).expand(len(rows), -1)
        merged_sims = torch.cat([best_sims, sims], dim=1)
        merged_idx = torch.cat([best_idx, cand_idx], dim=1)
        top = torch.topk(merged_sims, min(k + 1, merged_sims.shape[1]), dim=1)
        best_sims, best_idx = top.values, torch.gather(merged_idx, 1, top.indices)
    true_idx = best_idx.numpy()
    needed = np.unique(np.concatenate([rows, true_idx.ravel(), idx[rows].ravel()]))
    needed = needed[needed >= 0]
    gathered = x[needed]

    def vectors(ids: np.ndarray) -> np.ndarray:
        return gathered[np.searchsorted(needed, ids)]

    return recall_from_truth(rows, true_idx, idx, vectors)
