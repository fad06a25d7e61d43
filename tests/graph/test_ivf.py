import numpy as np

from curate.graph import ivf
from curate.graph.ivf import default_nlist, ivf_knn, probe_lists
from curate.graph.neighbors import exact_knn


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_every_list_probed_is_exact_search():
    x = _unit(np.random.default_rng(0).standard_normal((500, 24)))
    ref_idx, ref_sims = exact_knn(x, 8)
    idx, sims = ivf_knn(x, 8, nlist=6, nprobe=6)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sims, ref_sims, atol=1e-5)


def test_small_tiles_give_the_same_result(monkeypatch):
    x = _unit(np.random.default_rng(1).standard_normal((600, 16)))
    expected = ivf_knn(x, 5, nlist=5, nprobe=2)
    monkeypatch.setattr(ivf, "TILE_ELEMENTS", 1000)  # a few query rows per matrix product
    got = ivf_knn(x, 5, nlist=5, nprobe=2)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], atol=1e-6)


def test_own_list_is_probed_first_and_lists_are_sized_sqrt_n():
    import torch

    centroids = torch.tensor([[1.0, 0.0], [3.0, 0.1], [0.0, 1.0]])  # list 1's norm beats list 0's own
    probes = probe_lists(centroids, 2)
    assert probes[:, 0].tolist() == [0, 1, 2]
    assert default_nlist(1_000_000) == 1000 and default_nlist(1) == 1


def test_subset_of_rows_and_tiny_inputs():
    x = _unit(np.random.default_rng(2).standard_normal((300, 8)))
    all_idx, all_sims = ivf_knn(x, 4, nlist=3, nprobe=3)
    rows = np.array([5, 17, 299])
    idx, sims = ivf_knn(x, 4, rows=rows, nlist=3, nprobe=3)
    np.testing.assert_array_equal(idx, all_idx[rows])
    one_idx, one_sims = ivf_knn(x[:1], 3)
    assert (one_idx == -1).all() and np.isneginf(one_sims).all()
