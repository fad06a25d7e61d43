"""A 2-D map of the embeddings for the report, on a seeded sample so it stays fast at any N.

Only the sampled rows are converted out of the float16 shards (a 1M x 512 workspace is never
loaded whole). ``pca`` projects onto the first two principal components (a second or two);
``tsne`` reduces to 50 components with PCA and runs t-SNE on at most ``TSNE_MAX_POINTS`` of the
sample (tens of seconds on a laptop CPU, clearer clusters).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.embed.store import read_run_meta, shard_path

METHODS = ("pca", "tsne")
TSNE_MAX_POINTS = 3000


def sample_embeddings(folder: Path, max_points: int, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """A uniform random sample (seeded) of at most ``max_points`` stored embeddings.

    Returns ``(sample_ids, embeddings (M, D) float32)`` in storage order. ``folder`` must be a
    complete ``embeddings/`` folder.
    """
    meta = read_run_meta(folder)
    if meta is None:
        return [], np.zeros((0, 0), dtype=np.float32)
    n, shard_size, dim = int(meta["num_rows"]), int(meta["shard_size"]), int(meta["dim"])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for shard in np.unique(rows // shard_size):
        local = rows[rows // shard_size == shard] - shard * shard_size
        table = pq.read_table(shard_path(folder, int(shard))).take(local)
        ids.extend(table.column("sample_id").to_pylist())
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        parts.append(flat.astype(np.float32).reshape(-1, dim))
    return ids, (np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32))


def project_2d(embeddings: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(M, D) float32 -> (M, 2) float32 coordinates. ``method``: ``pca`` or ``tsne``.

    For ``tsne`` the caller should pass at most :data:`TSNE_MAX_POINTS` rows.
    """
    from sklearn.decomposition import PCA

    m, d = embeddings.shape
    if m < 3:
        return np.zeros((m, 2), dtype=np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(embeddings).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        reduced = PCA(n_components=min(50, d, m), random_state=seed).fit_transform(embeddings)
        perplexity = float(min(30.0, max(2.0, (m - 1) / 3)))
        # One OpenMP thread: t-SNE's gradient threads spin-wait, and on a busy machine (the other
        # stages, other jobs) that made 120 points take 20 s instead of 1.6 s.
        with threadpool_limits(limits=1, user_api="openmp"):
            return (
                TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity, max_iter=500)
                .fit_transform(reduced)
                .astype(np.float32)
            )
    raise ValueError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
