import numpy as np
import pytest

from curate.errors import UsageError
from curate.graph.ivf import ivf_knn
from curate.graph.neighbors import euclidean_knn, exact_knn, faiss_knn, knn, recall_at_k, resolve_method
from curate.graph.tile import ClassFilter


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_matches_brute_force_and_excludes_self():
    x = _unit(np.random.default_rng(0).standard_normal((300, 16)))
    idx, sims = exact_knn(x, 5, block_size=64)
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1)[:, :5]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    assert not (idx == np.arange(300)[:, None]).any()


def test_self_excluded_even_with_exact_duplicates():
    x = _unit(np.random.default_rng(1).standard_normal((50, 8)))
    x[10] = x[3]
    for idx, _ in (exact_knn(x, 3), faiss_knn(x, 3, nlist=2, nprobe=2), ivf_knn(x, 3, nlist=2, nprobe=2)):
        assert not (idx == np.arange(50)[:, None]).any()
        assert idx[3, 0] == 10 and idx[10, 0] == 3


def test_k_larger_than_n_minus_one_pads():
    x = _unit(np.random.default_rng(2).standard_normal((4, 8)))
    for method in ("exact", "ivf", "faiss"):
        idx, sims = knn(x, 6, method=method, device="cpu")
        assert idx.shape == (4, 6)
        assert (idx[:, :3] >= 0).all() and (idx[:, 3:] == -1).all()
        assert np.isneginf(sims[:, 3:]).all()


@pytest.mark.parametrize("engine", [faiss_knn, ivf_knn])
def test_approximate_recall_against_exact(synthetic_small, engine):
    x = synthetic_small.embeddings
    idx, sims = engine(x, 10, nprobe=8)
    recall = recall_at_k(x, idx, num_queries=300)
    assert 0.8 <= recall <= 1.0
    exact_idx, _ = exact_knn(x, 10)
    assert recall_at_k(x, exact_idx, num_queries=300) == pytest.approx(1.0)
    # sims returned are the true cosines of the listed neighbours
    rows = np.arange(0, len(x), 97)
    true = np.einsum("nd,nkd->nk", x[rows], x[idx[rows]])
    np.testing.assert_allclose(sims[rows], true, atol=1e-4)
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_auto_method_and_bad_inputs():
    assert resolve_method(100, "auto", "cpu") == "exact"
    assert resolve_method(10_000_000, "auto", "cpu") == "ivf"
    assert resolve_method(10_000_000, "auto", "cuda") == "exact"
    with pytest.raises(UsageError):
        resolve_method(10, "annoy")
    with pytest.raises(UsageError):
        knn(np.ones((3, 2), dtype=np.float32), 0)


def test_half_precision_tiles_give_float32_sims():
    # the GPU path (fp16 tiles, float32 re-scoring), exercised on CPU
    x = _unit(np.random.default_rng(4).standard_normal((200, 32)))
    ref_idx, ref_sims = exact_knn(x, 5)
    idx, sims = exact_knn(x, 5, half=True, block_size=50)
    assert (idx == ref_idx).mean() > 0.95
    true = np.einsum("nd,nkd->nk", x, x[idx])
    np.testing.assert_allclose(sims, true, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 0).all()
    assert not (idx == np.arange(200)[:, None]).any()


def test_rows_and_class_filter_match_brute_force():
    rng = np.random.default_rng(5)
    x = _unit(rng.standard_normal((400, 16)))
    labels = rng.integers(-1, 6, 400)
    suggested = np.where(rng.random(400) < 0.2, rng.integers(0, 6, 400), labels)
    rows = np.sort(rng.choice(400, 60, replace=False))
    filt = ClassFilter(
        query_classes=np.stack([labels[rows], suggested[rows]], axis=1),
        row_classes=np.stack([labels, suggested], axis=1),
    )
    full = x[rows] @ x.T
    full[np.arange(len(rows)), rows] = -np.inf
    qa, qs = labels[rows][:, None], suggested[rows][:, None]
    skip = (labels[None, :] < 0) | (labels[None, :] == qa) | (suggested[None, :] == qa)
    skip |= ((labels[None, :] == qs) | (suggested[None, :] == qs)) & (qs >= 0)
    full[skip] = -np.inf
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    for method in ("exact", "ivf"):
        # ivf with every list probed scans every row: it must agree with exact search
        idx, sims = (
            knn(x, 7, method="exact", device="cpu", rows=rows, class_filter=filt)
            if method == "exact"
            else ivf_knn(x, 7, rows=rows, class_filter=filt, nlist=4, nprobe=4)
        )
        np.testing.assert_array_equal(idx, expected)
        np.testing.assert_allclose(sims, np.take_along_axis(full, expected, axis=1), atol=1e-5)


def test_exact_refuses_queries_and_rows_together():
    x = _unit(np.random.default_rng(6).standard_normal((20, 8)))
    with pytest.raises(UsageError, match="queries= or rows=, not both"):
        exact_knn(x, 3, queries=x[:2], rows=np.array([0, 1]))


def _brute_euclidean(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


def test_euclidean_knn_is_exact_and_uses_the_lengths():
    rng = np.random.default_rng(3)
    # Same directions at very different lengths: cosine neighbours ignore the lengths, these must not.
    x = (rng.normal(size=(300, 8)) * rng.uniform(0.2, 5.0, size=(300, 1))).astype(np.float32)
    idx, dist = euclidean_knn(x, 7)
    want_idx, want_dist = _brute_euclidean(x, 7)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-4, atol=1e-4)
    assert (idx == want_idx).mean() > 0.99  # ties aside
    assert not (idx == np.arange(300)[:, None]).any()


def test_euclidean_knn_large_path_is_faiss_l2(monkeypatch):
    import curate.graph.neighbors as neighbors

    monkeypatch.setattr(neighbors, "EXACT_MAX_CPU", 100)
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(400, 6)) * rng.uniform(0.5, 3.0, size=(400, 1))).astype(np.float32)
    idx, dist = euclidean_knn(x, 5, nprobe=10_000)  # every list searched: exact answers
    want_idx, want_dist = _brute_euclidean(x, 5)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-3, atol=1e-3)
    assert (idx == want_idx).mean() > 0.99


def test_euclidean_knn_pads_when_k_exceeds_the_other_rows():
    idx, dist = euclidean_knn(np.array([[0.0, 1.0], [3.0, 1.0]], dtype=np.float32), 3)
    np.testing.assert_array_equal(idx, [[1, -1, -1], [0, -1, -1]])
    np.testing.assert_allclose(dist[:, 0], 3.0)
    assert np.isinf(dist[:, 1:]).all()
