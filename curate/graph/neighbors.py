"""k-nearest-neighbour search on L2-normalised embeddings (cosine = dot product).

Engines behind one entry point, :func:`knn`:

* **exact** — blockwise: a (query block x database) similarity tile at a time, never N x N;
  numpy on the CPU (so small data never waits for torch's import), torch on a GPU, where the
  tiles are half-precision matmuls and the k similarities kept are recomputed in float32, so
  fp16 rounding only affects which candidates win ties.
* **ivf** — cluster-batched inverted-file search (:mod:`curate.graph.ivf`): faiss k-means
  lists, each list's rows searched together against its nearest lists as one matrix product.
  Used on CPU above :data:`EXACT_MAX_CPU` rows, where exact search costs N^2 D (1M x 512 is
  ~5e14 flops: hours on two cores).
* **faiss** — faiss's own ``IndexIVFFlat`` (per-query scan). Kept as the reference the ivf
  engine is benchmarked against; it answers the same question 6x slower here.

Approximate results carry their recall against exact search, measured on a random sample of
queries by :func:`recall_at_k`. Engine timings and the exact/ivf crossover on this project's
2-core CPU are in docs/benchmarks.md (``tests/bench/bench_graph.py --crossover``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from curate.device import resolve_device
from curate.errors import UsageError
from curate.graph.tile import ClassFilter, mask_tile, mask_tile_numpy, topk_numpy, topk_tile

if TYPE_CHECKING:
    from curate.graph.ivf import IVFLists

#: Above this many rows, ``method="auto"`` on CPU uses the ivf engine instead of exact search.
EXACT_MAX_CPU = 30_000

#: Similarity tile budget (elements) per block on CPU: 2^25 float32 = 128 MiB.
_TILE_ELEMENTS_CPU = 1 << 25
_TILE_ELEMENTS_GPU = 1 << 28

METHODS = ("auto", "exact", "ivf", "faiss")

#: Inverted lists searched per query by the approximate engines: recall@20 0.96-0.98 from 50k to
#: 1M rows with 100-1000 classes, 0.89 at 1M with 100 classes (docs/benchmarks.md).
DEFAULT_NPROBE = 8


def resolve_method(n: int, method: str = "auto", device: str = "cpu") -> str:
    """Which engine ``knn`` uses for ``n`` rows: ``exact`` on a GPU or up to
    :data:`EXACT_MAX_CPU` rows on CPU, ``ivf`` above it."""
    if method not in METHODS:
        raise UsageError(f"unknown neighbour method {method!r}; use {', '.join(METHODS)}")
    if method != "auto":
        return method
    return "exact" if device != "cpu" or n <= EXACT_MAX_CPU else "ivf"


def exact_knn(
    embeddings: np.ndarray,
    k: int,
    *,
    queries: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    class_filter: ClassFilter | None = None,
    exclude_self: bool = True,
    block_size: int | None = None,
    device: str = "cpu",
    half: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k.

    embeddings: (N, D) float16/float32, L2-normalised (the database)
    queries:    (M, D) query vectors, or None for the database itself
    rows:       (M,) indices of database rows to use as the queries (instead of ``queries``);
                each is excluded from its own list like with ``queries=None``
    class_filter: skip candidates of classes a query excludes (:class:`ClassFilter`,
                ``query_classes`` aligned with the queries)
    block_size: queries per tile; default keeps a tile under 128 MiB on CPU (1 GiB on GPU)
    Returns ``(indices (M, k) int64, sims (M, k) float32)``, most similar first. With
    ``exclude_self`` (queries is None), row i never lists itself. When fewer than k other
    rows exist, missing slots hold index -1 and similarity -inf. With ``half`` (default: on
    cuda) the similarity tiles are float16 and the kept similarities are recomputed in float32.
    """
    if rows is not None and queries is not None:
        raise UsageError("exact_knn takes queries= or rows=, not both")
    if device == "cpu" and not half:
        return _exact_knn_numpy(embeddings, k, queries, rows, class_filter, exclude_self, block_size)
    import torch

    if half is None:
        half = device.startswith("cuda")
    dtype = torch.float16 if half else torch.float32
    db = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)).to(device)
    db_tile = db.to(dtype) if half else db
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        q_np = embeddings[rows]
    else:
        q_np = embeddings if queries is None else queries
    n_db = db.shape[0]
    m = q_np.shape[0]
    q_classes = r_classes = None
    if class_filter is not None:
        q_classes = torch.from_numpy(np.ascontiguousarray(class_filter.query_classes, dtype=np.int64)).to(device)
        r_classes = torch.from_numpy(np.ascontiguousarray(class_filter.row_classes, dtype=np.int64)).to(device)
    if block_size is None:
        budget = _TILE_ELEMENTS_GPU if half else _TILE_ELEMENTS_CPU
        block_size = int(max(16, min(8192, budget // max(1, n_db))))
    self_excl = rows is not None or (exclude_self and queries is None)
    kk = min(k + (1 if self_excl else 0), n_db)
    out_idx = np.full((m, k), -1, dtype=np.int64)
    out_sim = np.full((m, k), -np.inf, dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, m, block_size):
            stop = min(start + block_size, m)
            q = torch.from_numpy(np.ascontiguousarray(q_np[start:stop], dtype=np.float32)).to(device)
            sims = q.to(dtype) @ db_tile.T
            self_cols = None
            if self_excl:
                self_cols = (
                    torch.from_numpy(rows[start:stop]).to(device)
                    if rows is not None
                    else torch.arange(start, stop, device=device)
                )
            mask_tile(
                sims,
                self_cols=self_cols,
                query_classes=None if q_classes is None else q_classes[start:stop],
                cand_classes=r_classes,
            )
            vals, idx = topk_tile(sims, kk)
            vals, idx = vals[:, :k], idx[:, :k]
            if half:  # exact float32 similarities for the winners
                exact = torch.einsum("md,mkd->mk", q, db[idx])
                vals = torch.where(torch.isfinite(vals), exact, vals.float())
                order = torch.argsort(vals, dim=1, descending=True)
                vals, idx = torch.gather(vals, 1, order), torch.gather(idx, 1, order)
            vals, idx = vals.float().cpu().numpy(), idx.cpu().numpy()
            valid = np.isfinite(vals)
            out_idx[start:stop, : idx.shape[1]] = np.where(valid, idx, -1)
            out_sim[start:stop, : vals.shape[1]] = vals
    return out_idx, out_sim


def _exact_knn_numpy(
    embeddings: np.ndarray,
    k: int,
    queries: np.ndarray | None,
    rows: np.ndarray | None,
    class_filter: ClassFilter | None,
    exclude_self: bool,
    block_size: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_knn` on the CPU in numpy (no torch import: seconds of start-up on small data):
    the same float32 tiles and masks, top-k by ``argpartition``. Equal similarities are ordered
    by row number (torch's order among exact ties is its own)."""
    db = np.ascontiguousarray(embeddings, dtype=np.float32)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        q_np = db[rows]
    else:
        q_np = db if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    n_db, m = db.shape[0], q_np.shape[0]
    self_excl = rows is not None or (exclude_self and queries is None)
    kk = min(k + (1 if self_excl else 0), n_db)
    if block_size is None:  # the tile and its argpartition's int64 positions: ~3 x 64 MiB
        block_size = int(max(16, min(8192, (_TILE_ELEMENTS_CPU // 2) // max(1, n_db))))
    out_idx = np.full((m, k), -1, dtype=np.int64)
    out_sim = np.full((m, k), -np.inf, dtype=np.float32)
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        sims = q_np[start:stop] @ db.T
        if self_excl:
            own = rows[start:stop] if rows is not None else np.arange(start, stop)
            sims[np.arange(stop - start), own] = -np.inf
        if class_filter is not None:
            mask_tile_numpy(sims, class_filter.query_classes[start:stop], class_filter.row_classes)
        vals, idx = topk_numpy(sims, kk)
        vals, idx = vals[:, :k], idx[:, :k]
        valid = np.isfinite(vals)
        out_idx[start:stop, : idx.shape[1]] = np.where(valid, idx, -1)
        out_sim[start:stop, : vals.shape[1]] = vals
    return out_idx, out_sim


def faiss_nlist(n: int) -> int:
    """Inverted lists of a faiss IVF index over ``n`` rows: ``N^(2/3) / 4``, and at least 39 rows
    a list (the fewest faiss trains on without a warning); see :func:`faiss_knn`."""
    return int(max(1, min(n // 39, n ** (2 / 3) / 4)))


def faiss_knn(
    embeddings: np.ndarray,
    k: int,
    *,
    nlist: int | None = None,
    nprobe: int = 8,
    train_size: int | None = None,
    batch_size: int = 16384,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate cosine top-k of every row against all others with a faiss IVF index.

    embeddings: (N, D) float32/float16, L2-normalised
    nlist:      inverted lists; default ``N^(2/3) / 4`` (340 at 50k, 2500 at 1M rows). Training
                costs ~nlist^2 and scanning ~N^2 / nlist; this balances the two (measured:
                at 50k, ``4 sqrt(N)`` lists spent 13 of 19 CPU-seconds in k-means training)
    nprobe:     lists visited per query (recall/speed trade-off; 8 gave recall@20 ~0.93 on
                512-d synthetic CLIP-like data at 200k rows)
    train_size: rows the coarse k-means is trained on; default ``39 * nlist``, the least faiss
                accepts without a warning
    Returns ``(indices (N, k) int64, sims (N, k) float32)`` with self excluded, most similar
    first; unfilled slots hold -1 / -inf.
    """
    import faiss

    from curate import progress
    from curate.graph.ivf import training_sample

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n, dim = x.shape
    if nlist is None:
        nlist = faiss_nlist(n)
    nlist = max(1, min(nlist, n))
    train = training_sample(x, nlist, train_size=train_size, seed=seed)
    rng = np.random.default_rng(seed)

    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # coarse centroids only route queries; more iterations did not raise recall
    index.cp.seed = seed
    index.train(train)
    del train
    nprobe = min(nprobe, nlist)
    index.nprobe = nprobe
    # search_preassigned (used below) parallelises over queries only in parallel_mode 3; in the
    # default mode 0 the threading lives in search(), which we bypass, so it ran on one core
    # (measured at 60k x 128: wall 3.10 s -> 1.63 s on 2 cores, same results).
    index.parallel_mode = 3

    # The queries are the database: route every row once and reuse it for both adding (its
    # nearest list) and searching (its nprobe nearest lists), saving a full N x nlist pass.
    probe_sims = np.empty((n, nprobe), dtype=np.float32)
    probe_lists = np.empty((n, nprobe), dtype=np.int64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        probe_sims[start:stop], probe_lists[start:stop] = quantizer.search(x[start:stop], nprobe)
    assign = np.ascontiguousarray(probe_lists[:, 0])
    index.add_core(n, faiss.swig_ptr(x), None, faiss.swig_ptr(assign))

    kk = min(k + 1, n)
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_sim = np.full((n, k), -np.inf, dtype=np.float32)
    # Queries in random order: faiss splits a batch between threads by position, and rows
    # sorted by class (as datasets often are) gave one thread all the head-class lists while
    # the other sat idle (seen at 1M rows: one busy thread for most of the search).
    order = rng.permutation(n)
    with progress.bar(total=n, desc="neighbours (faiss)", unit="row") as pbar:
        for start in range(0, n, batch_size):
            rows = np.sort(order[start : start + batch_size])
            sims, idx = index.search_preassigned(x[rows], kk, probe_lists[rows], probe_sims[rows])
            idx, sims = _drop_self(idx, sims, rows, k)
            out_idx[rows, : idx.shape[1]] = idx
            out_sim[rows, : sims.shape[1]] = sims
            pbar.update(len(rows))
    missing = out_idx < 0
    out_sim[missing] = -np.inf
    return out_idx, out_sim


def euclidean_knn(
    vectors: np.ndarray,
    k: int,
    *,
    device: str = "cpu",
    nprobe: int = DEFAULT_NPROBE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest neighbours of every row among the others, for features whose length
    means something (imported features that were not unit length).

    vectors: (N, D) float32, as given (not normalised)
    Up to :data:`EXACT_MAX_CPU` rows on CPU (any size on a GPU) the search is exact, by the tiles
    of :func:`exact_knn`: ``|q - x|^2 = |q|^2 - 2 (q . x - |x|^2 / 2)``, so the database rows
    ``[x, -|x|^2 / 2]`` searched by the queries ``[q, 1]`` rank candidates by distance. Above it,
    faiss's ``IndexIVFFlat`` with the L2 metric (``nprobe`` lists per query).
    Returns ``(indices (N, k) int64, distances (N, k) float32)``, nearest first, self excluded;
    unfilled slots hold -1 / +inf.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if resolve_method(n, "auto", device) == "exact":
        half_sq = 0.5 * np.einsum("ij,ij->i", x, x, dtype=np.float64)
        database = np.hstack([x, (-half_sq)[:, None].astype(np.float32)])
        queries = np.hstack([x, np.ones((n, 1), dtype=np.float32)])
        idx, score = exact_knn(database, min(k + 1, n), queries=queries, device=device, half=False)
        idx, score = _drop_self(idx, score, np.arange(n), k)
        dist = np.sqrt(np.maximum(2.0 * (half_sq[:, None] - score), 0.0))
    else:
        import faiss

        from curate.graph.ivf import training_sample

        nlist = faiss_nlist(n)
        quantizer = faiss.IndexFlatL2(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_L2)
        index.cp.seed = seed
        index.train(training_sample(x, nlist, seed=seed))
        index.add(x)
        index.nprobe = min(nprobe, nlist)
        squared, idx = index.search(x, min(k + 1, n))
        idx, squared = _drop_self(idx, -squared, np.arange(n), k)
        dist = np.sqrt(np.maximum(-squared, 0.0))
    missing = idx < 0
    dist = np.where(missing, np.inf, dist).astype(np.float32)
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_dist = np.full((n, k), np.inf, dtype=np.float32)
    out_idx[:, : idx.shape[1]], out_dist[:, : dist.shape[1]] = np.where(missing, -1, idx), dist
    return out_idx, out_dist


def _drop_self(idx: np.ndarray, sims: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from its (m, k+1) result; where it is absent (ANN missed it,
    or an exact duplicate tied ahead of it) drop the last, least similar slot instead."""
    m, width = idx.shape
    is_self = idx == rows[:, None]
    first_self = np.where(is_self.any(axis=1), is_self.argmax(axis=1), width - 1)
    drop = np.zeros_like(is_self)
    drop[np.arange(m), first_self] = True
    keep = ~drop
    new_width = width - 1
    idx, sims = idx[keep].reshape(m, new_width), sims[keep].reshape(m, new_width)
    return idx[:, :k], sims[:, :k]


def knn(
    embeddings: np.ndarray,
    k: int,
    *,
    method: str = "auto",
    device: str = "auto",
    rows: np.ndarray | None = None,
    class_filter: ClassFilter | None = None,
    nprobe: int = DEFAULT_NPROBE,
    seed: int = 0,
    lists: IVFLists | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours of rows among the other rows (self excluded).

    embeddings:   (N, D) float32/float16, L2-normalised
    method:       ``exact`` (blockwise torch), ``ivf`` (cluster-batched IVF), ``faiss``
                  (faiss IndexIVFFlat; whole graph only) or ``auto`` (see :func:`resolve_method`)
    rows:         (M,) row indices to search for (default: every row)
    class_filter: skip candidates of classes a query excludes (:class:`ClassFilter`)
    nprobe:       ivf / faiss only: inverted lists searched per query (more: higher recall, slower)
    lists:        ivf only: lists already built for these rows (:func:`curate.graph.ivf.build_lists`)
    Returns ``(indices (M, k) int64, sims (M, k) float32)``, most similar first. When fewer
    than k candidates exist the extra slots hold index -1 and similarity -inf.
    """
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if nprobe < 1:
        raise UsageError(f"nprobe must be at least 1, got {nprobe}")
    device = resolve_device(device)
    chosen = resolve_method(len(embeddings), method, device)
    if chosen == "faiss" and (rows is not None or class_filter is not None):
        chosen = "ivf"  # faiss's index cannot filter by class or search a subset of its rows
    if chosen == "faiss":
        return faiss_knn(embeddings, k, nprobe=nprobe, seed=seed)
    if chosen == "ivf":
        from curate.graph.ivf import ivf_knn

        return ivf_knn(
            embeddings, k, rows=rows, class_filter=class_filter, nprobe=nprobe, seed=seed, device=device, lists=lists
        )
    return exact_knn(embeddings, k, rows=rows, class_filter=class_filter, device=device)


def recall_at_k(
    embeddings: np.ndarray,
    idx: np.ndarray,
    *,
    num_queries: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> float:
    """Mean recall@k of a neighbour table against exact search, on a random sample of rows.

    idx: (N, k) int64 neighbour indices of every row (self excluded; -1 = empty slot).
    For each sampled row, the share of its exact k nearest neighbours that ``idx`` lists.
    Ties at the k-th similarity count as found when the listed neighbour is just as similar.
    """
    n, k = idx.shape
    if n < 2 or k == 0:
        return 1.0
    rows = recall_queries(n, num_queries, seed)
    # k + 1: the exact list of a query includes the row itself
    true_idx, _ = exact_knn(embeddings, k + 1, queries=embeddings[rows], exclude_self=False, device=device)
    x = np.asarray(embeddings, dtype=np.float32)
    return recall_from_truth(rows, true_idx, idx, lambda ids: x[ids])


def recall_queries(n: int, num_queries: int, seed: int = 0) -> np.ndarray:
    """The sorted random rows :func:`recall_at_k` measures (at most ``num_queries`` of ``n``)."""
    return np.sort(np.random.default_rng(seed).choice(n, min(num_queries, n), replace=False))


def recall_from_truth(
    rows: np.ndarray, true_idx: np.ndarray, idx: np.ndarray, vectors: Callable[[np.ndarray], np.ndarray]
) -> float:
    """Recall of ``idx`` (N, k) on the query ``rows`` given their exact lists ``true_idx`` (M, k+1)
    (which may include the row itself); ``vectors(ids)`` returns the (m, D) vectors of any rows,
    for the tie rule of :func:`recall_at_k`. Engines that hold no (N, D) matrix pass a gather."""
    n, k = idx.shape
    hits = 0
    total = 0
    for j, row in enumerate(rows):
        truth = [i for i in true_idx[j] if i != row and i >= 0][: min(k, n - 1)]
        found = idx[row][idx[row] >= 0]
        if not truth:
            continue
        needed = vectors(np.asarray([row, truth[-1], *found.tolist()], dtype=np.int64))
        kth = float(np.dot(needed[0], needed[1]))
        found_sims = needed[2:] @ needed[0]
        found_set = set(found.tolist())
        hits += sum(1 for i in truth if i in found_set)
        # neighbours tied with the k-th exact one are as good as the one they displaced
        hits += min(
            len(truth) - sum(1 for i in truth if i in found_set),
            int(np.sum((found_sims >= kth - 1e-6) & ~np.isin(found, truth))),
        )
        total += len(truth)
    return hits / total if total else 1.0
