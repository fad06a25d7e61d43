import numpy as np
import pytest

from curate.data import Embedded
from curate.errors import DataError, UsageError
from curate.graph.neighbors import exact_knn
from curate.graph.scale import measure_scale
from curate.score.duplicates import duplicate_components, exact_keys, find_duplicates


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _data(emb, hashes=None, splits=None):
    n = len(emb)
    return Embedded(
        sample_ids=np.array([f"s{i}" for i in range(n)], dtype=object),
        embeddings=emb,
        labels=np.zeros(n, dtype=np.int64),
        class_names=["a"],
        splits=None if splits is None else np.array(splits, dtype=object),
        hashes=None if hashes is None else np.array(hashes, dtype=object),
    )


@pytest.fixture
def constructed():
    """rows 0/1 identical, 2 a near copy of 0; 3/4 a near pair; 5..9 unrelated."""
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((10, 32)))
    x[1] = x[0]
    x[2] = _unit(x[0:1] + 0.05 * _unit(rng.standard_normal((1, 32))))[0]
    x[4] = _unit(x[3:4] + 0.05 * _unit(rng.standard_normal((1, 32))))[0]
    return x


def test_groups_kinds_and_keeper_for_arrays(constructed):
    data = _data(constructed)
    graph = exact_knn(constructed, 3)
    res = find_duplicates(data, graph, scale=measure_scale(graph[1], duplicate_threshold=0.95))
    assert res.group[0] == res.group[1] == res.group[2] == "s0"
    assert res.group[3] == res.group[4] == "s3"
    assert all(g is None for g in res.group[5:])
    assert list(res.kind[:5]) == ["near"] * 5  # group 0 mixes an exact pair and a near copy
    assert list(res.keep[:5]) == [True, False, False, True, False]
    assert list(np.flatnonzero(res.is_duplicate)) == [1, 2, 4]
    assert res.num_groups == 2 and res.num_duplicates == 3 and res.num_leak_groups == 0


def test_exact_only_group_and_largest_image_kept(constructed):
    x = constructed.copy()
    x[2] = _unit(np.random.default_rng(5).standard_normal((1, 32)))[0]  # no longer a copy
    hashes = [f"h{i}" for i in range(10)]
    hashes[1] = hashes[0]
    sizes = np.array([100, 400, 0, 50, 50, 1, 1, 1, 1, 1], dtype=float)
    res = find_duplicates(_data(x, hashes=hashes), exact_knn(x, 3), sizes=sizes)
    assert res.kind[0] == res.kind[1] == "exact"
    assert res.keep[1] and not res.keep[0] and res.group[0] == "s1"  # 400 px beats 100 px
    assert res.keep[3] and res.kind[3] == "near"  # tie in size: first row
    assert res.num_exact_groups == 1 and res.num_near_groups == 1


def test_same_hash_far_apart_in_graph_is_still_exact():
    x = _unit(np.random.default_rng(3).standard_normal((20, 16)))
    hashes = [f"h{i}" for i in range(20)]
    hashes[19] = hashes[0]  # same bytes, (hypothetically) different embedding
    res = find_duplicates(_data(x, hashes=hashes), exact_knn(x, 2))
    assert res.group[0] == res.group[19] and res.kind[0] == "exact"


def test_leakage_across_splits(constructed):
    splits = ["train"] * 10
    splits[4] = "test"
    res = find_duplicates(_data(constructed, splits=splits), exact_knn(constructed, 3))
    assert res.is_leak[3] and res.is_leak[4] and not res.is_leak[:3].any()
    assert res.num_leak_groups == 1 and res.num_leaked_samples == 2
    assert res.summary()["leak_groups"] == 1


def test_bad_inputs(constructed):
    with pytest.raises(DataError):
        find_duplicates(_data(constructed), exact_knn(constructed[:5], 2))
    with pytest.raises(UsageError):
        measure_scale(exact_knn(constructed, 2)[1], duplicate_threshold=1.5)


def test_components_join_near_copies_and_equal_hashes():
    """The one grouping behind duplicate groups and the probe's folds."""
    idx = np.array([[1], [0], [3], [2], [0]])
    sims = np.array([[0.99], [0.99], [0.5], [0.5], [0.3]], dtype=np.float32)
    x = _unit(np.random.default_rng(0).standard_normal((5, 8)))
    keys = exact_keys(_data(x, hashes=["a", "b", "c", "x", "c"]))
    groups = duplicate_components(keys, (idx, sims), measure_scale(sims, duplicate_threshold=0.95))
    assert groups[0] == groups[1] and groups[2] == groups[4] and groups[2] != groups[3]
    assert groups[0] != groups[2]


def test_synthetic_f1_floor(synthetic_small):
    x = synthetic_small.embeddings
    data = Embedded(
        np.arange(len(x)).astype(str).astype(object), x, synthetic_small.labels, synthetic_small.class_names
    )
    res = find_duplicates(data, exact_knn(x, 10))
    truth = synthetic_small.duplicate_group >= 0
    pred = np.array([g is not None for g in res.group])
    f1 = 2 * (truth & pred).sum() / (truth.sum() + pred.sum())
    assert f1 >= 0.95
    # the planted exact copies are found as exact groups
    assert res.num_exact_groups >= synthetic_small.is_exact_duplicate.sum() * 0.95
