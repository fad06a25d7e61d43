"""Hard negatives of multi-label rows share no tag with their anchor, found in the tiles."""

import numpy as np

from curate.graph.neighbors import exact_knn
from curate.graph.scale import SimilarityScale
from curate.negatives.mining import mine_tag_negatives, padded_tags


def test_padded_tags():
    hot = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=bool)
    assert padded_tags(hot).tolist() == [[0, 2], [-1, -1], [1, -1]]


def test_tag_negatives_share_no_tag_even_when_neighbours_all_do():
    rng = np.random.default_rng(0)
    n, k = 300, 4
    hot = np.zeros((n, k), dtype=bool)
    hot[:, 0] = True  # tag 0 on nearly every row: the stored neighbours all share it
    hot[np.arange(n), rng.integers(1, k, n)] = True
    hot[:20, 0] = False
    hot[20, :] = False  # an untagged row: no negatives, and nobody's negative
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    neighbors = exact_knn(emb, 5)
    scale = SimilarityScale(duplicate_threshold=np.inf, vote_temperature=1.0)
    idx, sims = mine_tag_negatives(emb, hot, neighbors, num_negatives=3, scale=scale)
    assert (idx[20] < 0).all()
    for i in range(n):
        for j in idx[i][idx[i] >= 0]:
            assert not (hot[i] & hot[j]).any() and j != 20
    # rows carrying tag 0 (most) still find their 3 negatives among the 19 that lack it
    assert ((idx[21:] >= 0).sum(axis=1) == 3).all()
    assert np.all(np.diff(np.nan_to_num(sims[21:], nan=-2), axis=1) <= 1e-6)
