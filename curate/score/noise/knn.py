"""Source (a): a similarity-weighted kNN vote that never counts the sample itself.

A sample's neighbours vote for their labels with weight ``exp(sim / temperature)``, so
closer neighbours count more. Near-duplicates are dropped from the vote: a scraped copy that
inherited the same wrong caption would otherwise confirm it. Both the temperature and the
near-duplicate decision come from the space's :class:`~curate.graph.scale.SimilarityScale`, so
the vote means the same in a diffuse space and in one whose nearest neighbours all sit at 0.99.
"""

from __future__ import annotations

import numpy as np

from curate.graph.scale import SimilarityScale


def knn_vote_logits(
    labels: np.ndarray,
    neighbor_idx: np.ndarray,
    neighbor_sims: np.ndarray,
    num_classes: int,
    *,
    scale: SimilarityScale,
    smoothing: float = 1e-3,
) -> np.ndarray:
    """Out-of-sample class scores from the neighbours' labels.

    labels:        (N,) int64, -1 for unlabelled (unlabelled neighbours do not vote)
    neighbor_idx:  (N, k) int64 neighbour rows, self excluded; -1 marks an empty slot
    neighbor_sims: (N, k) float32 cosine similarities, same order
    scale:         the space's vote temperature and near-duplicate decision (measured on the
                   whole graph, not on this block)
    Returns (N, K) float32 log vote shares. ``smoothing`` mixes in a uniform share (relative to
    the total vote weight) so an unseen class has a finite score; a sample with no voting
    neighbour gets a flat row.
    """
    n, k = neighbor_idx.shape
    valid = neighbor_idx >= 0
    neighbor_labels = np.where(valid, labels[np.where(valid, neighbor_idx, 0)], -1)
    sims = np.where(valid, neighbor_sims, -np.inf).astype(np.float64)
    voting = valid & (neighbor_labels >= 0) & ~scale.near_duplicate(sims)
    # Only the ratios of a row's weights matter (shares are normalised per row), so the weights
    # are taken relative to the row's nearest voter: a small temperature cannot underflow them all.
    logit = np.where(voting, np.minimum(sims, 1.0) / scale.vote_temperature, -np.inf)
    top = logit.max(axis=1, keepdims=True) if k else np.zeros((n, 1))
    weight = np.where(voting, np.exp(logit - np.where(np.isfinite(top), top, 0.0)), 0.0)

    # At most k of the K cells of a row hold votes: every other cell is the row's smoothing
    # share, so the (n, K) output is one fill plus a scatter of the voted cells.
    total = weight.sum(axis=1)
    share = smoothing / num_classes * np.where(total > 0, total, 1.0)  # added to every cell
    norm = total + num_classes * share
    out = np.empty((n, num_classes), dtype=np.float32)
    out[:] = np.log(share / norm)[:, None]
    voted = weight > 0
    cells, inverse = np.unique((np.arange(n)[:, None] * num_classes + neighbor_labels)[voted], return_inverse=True)
    votes = np.bincount(inverse, weights=weight[voted], minlength=len(cells))
    row = cells // num_classes
    out.ravel()[cells] = np.log((votes + share[row]) / norm[row])
    return out
