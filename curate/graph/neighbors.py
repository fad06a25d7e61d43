"""k-nearest-neighbour search on L2-normalised embeddings (cosine = dot product).

Exact search in blocks with torch: a (block x N) similarity tile at a time, never N x N.
"""

from __future__ import annotations

import numpy as np


def exact_knn(
    embeddings: np.ndarray,
    k: int,
    *,
    queries: np.ndarray | None = None,
    exclude_self: bool = True,
    block_size: int = 4096,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k.

    embeddings: (N, D) float16/float32, L2-normalised (the database)
    queries:    (M, D) or None for the database itself
    Returns ``(indices (M, k) int64, sims (M, k) float32)``, most similar first. With
    ``exclude_self`` (queries is None), row i never lists itself. When fewer than k other
    rows exist, missing slots hold index -1 and similarity -inf.
    """
    import torch

    db = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)).to(device)
    q_np = embeddings if queries is None else queries
    n_db = db.shape[0]
    m = q_np.shape[0]
    self_excl = exclude_self and queries is None
    kk = min(k + (1 if self_excl else 0), n_db)
    out_idx = np.full((m, k), -1, dtype=np.int64)
    out_sim = np.full((m, k), -np.inf, dtype=np.float32)
    for start in range(0, m, block_size):
        stop = min(start + block_size, m)
        q = torch.from_numpy(np.ascontiguousarray(q_np[start:stop], dtype=np.float32)).to(device)
        sims = q @ db.T
        if self_excl:
            rows = torch.arange(stop - start, device=device)
            sims[rows, rows + start] = -float("inf")
        vals, idx = torch.topk(sims, kk, dim=1)
        vals, idx = vals[:, :k].cpu().numpy(), idx[:, :k].cpu().numpy()
        valid = np.isfinite(vals)
        out_idx[start:stop, : idx.shape[1]] = np.where(valid, idx, -1)
        out_sim[start:stop, : vals.shape[1]] = vals
    return out_idx, out_sim
