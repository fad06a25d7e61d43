"""The numpy tile steps (the CPU's exact search, no torch import) match torch's."""

from __future__ import annotations

import numpy as np
import pytest

from curate.graph.neighbors import exact_knn
from curate.graph.tile import ClassFilter, mask_tile, mask_tile_numpy, topk_numpy


def test_the_numpy_class_mask_is_torchs():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(30, 50)).astype(np.float32)
    query = rng.integers(-1, 4, size=(30, 2))
    cand = rng.integers(-1, 4, size=(50, 2))
    want = torch.from_numpy(sims.copy())
    mask_tile(want, query_classes=torch.from_numpy(query), cand_classes=torch.from_numpy(cand))
    got = sims.copy()
    mask_tile_numpy(got, query, cand)
    np.testing.assert_array_equal(got, want.numpy())


def test_topk_orders_by_similarity_then_position():
    sims = np.array([[0.1, 0.9, 0.5, 0.9, -np.inf], [0.3, 0.2, 0.1, 0.0, 0.4]], dtype=np.float32)
    vals, at = topk_numpy(sims, 3)
    np.testing.assert_array_equal(at, [[1, 3, 2], [4, 0, 1]])
    np.testing.assert_array_equal(vals, np.array([[0.9, 0.9, 0.5], [0.4, 0.3, 0.2]], dtype=np.float32))
    assert topk_numpy(sims, 9)[1].shape == (2, 5)


def test_exact_search_on_the_cpu_equals_brute_force_with_a_filter():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(-1, 5, size=300)
    rows = np.arange(0, 300, 4)
    filt = ClassFilter(query_classes=labels[rows][:, None], row_classes=labels[:, None])
    idx, sims = exact_knn(x, 7, rows=rows, class_filter=filt, block_size=16)
    full = x[rows] @ x.T
    full[np.arange(len(rows)), rows] = -np.inf
    full[(labels[rows][:, None] == labels[None, :]) & (labels[rows][:, None] >= 0)] = -np.inf
    full[:, labels < 0] = -np.inf
    want = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(sims, np.take_along_axis(full, want, axis=1), rtol=1e-6)
