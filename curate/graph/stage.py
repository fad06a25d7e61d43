"""The ``neighbors`` stage: k nearest neighbours of every embedded sample -> neighbors.parquet.

Every later stage (duplicates, outliers, label noise, hard negatives) reuses this graph instead
of searching again. The file holds ``sample_id``, ``neighbor_ids`` and ``neighbor_sims`` (cosine,
most similar first, the sample itself never listed), written in row groups so a million rows
never become one giant in-memory table or Python list. Its metadata ``extra`` records the
engine used, the effective k and, for approximate search, recall@k against exact search on a
random sample of queries.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import progress
from curate.config import DEFAULT_K
from curate.data import list_columns_to_arrays
from curate.device import resolve_device
from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.graph.neighbors import DEFAULT_NPROBE, knn, recall_at_k, resolve_method
from curate.schemas import NEIGHBORS
from curate.stages import STAGES
from curate.timing import timed
from curate.workspace import Workspace, locked, parquet_writer_atomic

#: rows per Parquet row group of neighbors.parquet
ROW_GROUP = 65536
#: queries on which approximate search is checked against exact search
RECALL_QUERIES = 1000


@locked
@timed("neighbors")
def run_neighbors(
    ws: Workspace,
    *,
    k: int = DEFAULT_K,
    method: str = "auto",
    nprobe: int | None = None,
    device: str = "auto",
    engine: str = "local",
    address: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Find the ``k`` nearest neighbours (cosine) of every embedded sample; write neighbors.parquet.

    method: ``exact`` (blockwise torch), ``ivf`` (cluster-batched IVF, :mod:`curate.graph.ivf`),
            ``faiss`` (faiss IndexIVFFlat) or ``auto`` (exact on a GPU or for small data, ivf
            above :data:`curate.graph.neighbors.EXACT_MAX_CPU` rows).
    nprobe: lists searched per query by ivf / faiss (default
            :data:`curate.graph.neighbors.DEFAULT_NPROBE`); raise it when the reported recall is
            too low for you — time grows about linearly with it. Ignored by exact search.
    engine: ``local`` (this process) or ``ray``: the ivf search as Ray tasks over the embedding
            shards on the cluster at ``address`` (:func:`curate.engine.ray_ivf.ray_ivf_knn`), so
            no process holds the whole matrix; the same graph, so not part of the fingerprint.
            Exact search (small data, or a GPU) stays in this process.
    Returns a summary: ``num_samples``, ``k`` (as stored: at most N - 1), ``method``, ``engine``,
    ``recall_at_k`` (1.0 for exact search), ``seconds``, ``up_to_date`` (nothing to do; also as
    ``skipped``, its older name).
    """
    from curate.embed.store import read_embeddings, read_run_meta

    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if nprobe is not None and nprobe < 1:
        raise UsageError(f"nprobe must be at least 1, got {nprobe}")
    resolve_method(0, method)  # validate before touching the workspace
    from curate.engine import ENGINES

    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    params = {"k": k, "method": method}
    if nprobe is not None:  # only when given, so graphs built before the option stay up to date
        params["nprobe"] = nprobe
    fp, input_fps, up_to_date = ws.plan(
        "neighbors", "neighbors", params, STAGES["neighbors"].inputs, overwrite=overwrite
    )
    path = ws.path("neighbors")
    if up_to_date:
        extra = ws.record("neighbors").get("extra", {})
        return {**extra, "artifact": str(path), "up_to_date": True, "skipped": True}

    started = time.perf_counter()
    device = resolve_device(device)
    num_rows = int((read_run_meta(ws.path("embeddings")) or {}).get("num_rows", 0))
    chosen = resolve_method(num_rows, method, device)
    on_ray = engine == "ray" and chosen == "ivf" and num_rows > 1
    where = "on the Ray cluster" if on_ray else f"on {device}"
    progress.log(f"neighbours: {num_rows} samples, k={k}, {chosen} search {where}")
    if on_ray:
        idx, sims, ids, recall = _ray_search(ws, min(k, num_rows - 1), nprobe or DEFAULT_NPROBE, address)
        n, k_eff = len(ids), idx.shape[1]
    else:
        with ws.reading("embeddings"):
            ids, emb = read_embeddings(ws.path("embeddings"))
        n = len(ids)
        if n == 0:
            raise DataError(f"embeddings/ in {ws.root} is empty; nothing to search")
        k_eff = min(k, n - 1)
        if k_eff >= 1:
            idx, sims = knn(emb, k_eff, method=chosen, device=device, nprobe=nprobe or DEFAULT_NPROBE)
        else:  # a single sample has no neighbours
            idx, sims = np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float32)
        recall = 1.0
        if chosen in ("ivf", "faiss") and k_eff >= 1:
            recall = recall_at_k(emb, idx, num_queries=RECALL_QUERIES, device=device)
        del emb
    approximate = chosen in ("ivf", "faiss")
    seconds = time.perf_counter() - started
    summary = {
        "num_samples": n,
        "k": k_eff,
        "k_requested": k,
        "method": chosen,
        "engine": "ray" if on_ray else "local",
        "recall_at_k": round(float(recall), 4),
        "recall_queries": min(RECALL_QUERIES, n) if approximate else 0,
        "nprobe": (nprobe or DEFAULT_NPROBE) if approximate else None,
        "seconds": round(seconds, 2),
    }
    with parquet_writer_atomic(
        path, NEIGHBORS, fingerprint=fp, inputs=input_fps, params=params, extra=summary
    ) as writer:
        write_neighbor_rows(writer, pa.array(ids, type=pa.string()), idx, sims)
    return {**summary, "artifact": str(path), "up_to_date": False, "skipped": False}


def _ray_search(
    ws: Workspace, k: int, nprobe: int, address: str | None
) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """The ivf graph and its recall, computed on the Ray cluster over the embedding shards."""
    from curate.engine.cluster import ray_cluster
    from curate.engine.ray_ivf import ray_ivf_knn, sharded_recall_at_k

    folder = ws.path("embeddings")
    with ws.reading("embeddings"), ray_cluster(address):
        ids, idx, sims = ray_ivf_knn(folder, k, nprobe=nprobe)
        recall = sharded_recall_at_k(folder, idx, num_queries=RECALL_QUERIES)
    return idx, sims, ids, recall


def write_neighbor_rows(writer: pq.ParquetWriter, sample_ids: pa.Array, idx: np.ndarray, sims: np.ndarray) -> None:
    """Append neighbour lists to a ParquetWriter in :data:`ROW_GROUP`-row groups.

    sample_ids: (N,) string array; idx: (N, k) int64 (-1 = empty slot, only at the end of a row);
    sims: (N, k) float32. Lists are built from flat Arrow arrays and offsets, never Python lists.
    """
    n, width = idx.shape
    for start in range(0, n, ROW_GROUP):
        stop = min(start + ROW_GROUP, n)
        block_idx, block_sims = idx[start:stop], sims[start:stop]
        valid = block_idx >= 0
        lengths = valid.sum(axis=1)
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        flat_idx = block_idx[valid]
        neighbor_ids = pa.ListArray.from_arrays(offsets, pc.take(sample_ids, pa.array(flat_idx)))
        neighbor_sims = pa.ListArray.from_arrays(offsets, pa.array(block_sims[valid], type=pa.float32()))
        writer.write_table(
            pa.Table.from_arrays([sample_ids.slice(start, stop - start), neighbor_ids, neighbor_sims], schema=NEIGHBORS)
        )


def load_neighbors(
    ws: Workspace, sample_ids: np.ndarray | list[str], *, strict: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Read neighbors.parquet back into arrays aligned to ``sample_ids`` (the Embedded order).

    Returns ``(idx (N, k) int64, sims (N, k) float32)``: row ``i`` lists the neighbours of
    ``sample_ids[i]`` as positions in ``sample_ids``, most similar first; slots past a shorter
    list hold -1 / -inf. With ``strict`` the file must cover exactly these samples, else
    StaleWorkspaceError (re-run ``curate neighbors``); without it, ids the file lacks (e.g.
    unreadable samples) get empty rows.
    """
    table = ws.read_table("neighbors")
    if strict:
        ids = pa.array(np.asarray(sample_ids, dtype=object), type=pa.string())
        covered = pc.is_in(table.column("sample_id"), value_set=ids)
        if table.num_rows != len(ids) or not pc.all(covered).as_py():
            raise StaleWorkspaceError(
                f"{ws.path('neighbors')} does not match the embedded samples; re-run `curate neighbors --overwrite`"
            )
    return list_columns_to_arrays(table, sample_ids, "neighbor_ids", "neighbor_sims")
