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


def test_one_class_filter_on_sorted_tiles_matches_exact():
    from curate.graph.neighbors import knn
    from curate.graph.tile import ClassFilter

    rng = np.random.default_rng(3)
    x = _unit(rng.standard_normal((500, 12)))
    labels = rng.integers(-1, 5, 500)
    suggested = np.where(rng.random(500) < 0.3, rng.integers(-1, 5, 500), labels)
    rows = np.sort(rng.choice(500, 80, replace=False))
    for row_classes in (labels[:, None], np.stack([labels, suggested], axis=1)):
        filt = ClassFilter(query_classes=labels[rows][:, None], row_classes=row_classes)
        ref_idx, ref_sims = knn(x, 6, method="exact", device="cpu", rows=rows, class_filter=filt)
        idx, sims = ivf_knn(x, 6, rows=rows, class_filter=filt, nlist=5, nprobe=5)  # every list: exact
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_allclose(sims, ref_sims, atol=1e-5)


def test_oversized_lists_are_split_near_the_mean():
    from curate.graph.ivf import split_large_lists

    rng = np.random.default_rng(4)
    dense = _unit(rng.standard_normal((1, 16)) + 0.05 * rng.standard_normal((900, 16)))
    sparse = _unit(rng.standard_normal((100, 16)))
    x = np.concatenate([dense, sparse])
    centroids = np.stack([dense.mean(0), sparse.mean(0)]).astype(np.float32)
    assign = np.array([0] * 900 + [1] * 100)
    new_centroids, new_assign = split_large_lists(x, centroids.copy(), assign, max_ratio=1.5)
    sizes = np.bincount(new_assign)
    assert len(new_centroids) == len(sizes) == 3 and sizes.max() < 900
    assert (new_assign[900:] == 1).all()  # the small list is left alone


def test_lists_built_once_give_every_search_its_own_result():
    from curate.graph.ivf import build_lists
    from curate.graph.tile import ClassFilter

    x = _unit(np.random.default_rng(3).normal(size=(1500, 24)).astype(np.float32))
    labels = np.arange(1500) % 7
    lists = build_lists(x, seed=0)
    rows = np.arange(0, 1500, 5)
    filt = ClassFilter(query_classes=labels[rows][:, None], row_classes=labels[:, None])
    for kwargs in ({}, {"rows": rows, "class_filter": filt}):
        fresh = ivf_knn(x, 10, nprobe=3, **kwargs)
        reused = ivf_knn(x, 10, nprobe=3, lists=lists, **kwargs)
        np.testing.assert_array_equal(fresh[0], reused[0])
        np.testing.assert_array_equal(fresh[1], reused[1])


def test_numpy_engine_gives_the_torch_engines_lists():
    """A CPU search runs in numpy (no torch import); torch's tiles (the GPU path, here on the
    CPU as ``cpu:0``) give the same lists, with and without class filters."""
    from curate.graph.tile import ClassFilter

    rng = np.random.default_rng(4)
    x = _unit(rng.standard_normal((800, 16)))
    labels = rng.integers(-1, 6, 800)
    suggested = np.where(rng.random(800) < 0.3, rng.integers(-1, 6, 800), labels)
    rows = np.sort(rng.choice(800, 120, replace=False))
    filters = [
        None,
        ClassFilter(query_classes=labels[rows][:, None], row_classes=np.stack([labels, suggested], axis=1)),
        ClassFilter(
            query_classes=np.stack([labels[rows], suggested[rows]], axis=1),
            row_classes=np.stack([labels, suggested], axis=1),
        ),
    ]
    for filt in filters:
        lists = ivf.build_lists(x, nlist=7)
        got = ivf_knn(x, 6, rows=rows, class_filter=filt, nprobe=3, lists=lists)
        want = ivf_knn(x, 6, rows=rows, class_filter=filt, nprobe=3, lists=lists, device="cpu:0")
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], atol=1e-5)
    assert np.array_equal(ivf.build_lists(x, nlist=7).assign, ivf.build_lists(x, nlist=7, device="cpu:0").assign)
