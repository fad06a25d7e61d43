import numpy as np
import pytest

from curate.errors import UsageError
from curate.graph.neighbors import exact_knn
from curate.graph.scale import SimilarityScale, describe_cut, measure_scale
from curate.synth import make_dataset


def test_derived_threshold_is_a_share_of_the_median_nearest_distance():
    # nearest distinct distances 0.1, 0.2, 0.3 (row 3's copy at cosine 1 and empty slots ignored)
    sims = np.array([[0.9, 0.5], [0.8, 0.4], [0.7, -np.inf], [1.0, 0.8]], dtype=np.float32)
    scale = measure_scale(sims, duplicate_radius=0.5)
    assert scale.median_nn_distance == pytest.approx(0.2)
    assert scale.duplicate_threshold == pytest.approx(1 - 0.5 * 0.2)
    assert scale.derived and scale.duplicate_radius == 0.5 and scale.measured_rows == 4
    # the vote temperature is the median width of a neighbourhood (nearest to farthest)
    assert scale.vote_temperature == pytest.approx(np.median([0.4, 0.4, 0.0, 0.0]))
    assert scale.near_duplicate(np.array([0.95, 0.85])).tolist() == [True, False]


def test_explicit_values_override_and_are_recorded_as_given():
    sims = np.array([[0.9], [0.8]], dtype=np.float32)
    scale = measure_scale(sims, duplicate_threshold=0.97, vote_temperature=0.05)
    assert scale.duplicate_threshold == 0.97 and scale.vote_temperature == 0.05
    assert not scale.derived and scale.as_dict()["derived"] is False
    assert scale.median_nn_distance == pytest.approx(0.15)  # still measured, for the record


def test_nothing_to_measure_means_identical_rows_only():
    scale = measure_scale(np.array([[1.0], [-np.inf]], dtype=np.float32))
    assert scale.duplicate_threshold == 1.0 and scale.median_nn_distance is None
    assert scale.near_duplicate(np.array([0.9999, 1.0])).tolist() == [False, True]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duplicate_threshold": 0.0},
        {"duplicate_threshold": 1.5},
        {"duplicate_radius": 0.0},
        {"duplicate_radius": 1.0},
        {"vote_temperature": 0.0},
        {"local_z": 0.0},
    ],
)
def test_bad_values_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        measure_scale(np.array([[0.9]], dtype=np.float32), **kwargs)


def test_record_round_trips():
    scale = measure_scale(np.array([[0.9, 0.5], [0.8, 0.4]], dtype=np.float32))
    assert SimilarityScale.from_dict(scale.as_dict()) == scale


def test_the_cut_follows_the_geometry():
    """A cut fitted to one space would call a tight space all duplicates or a diffuse one none:
    the derived one stays a fixed share of each space's own spacing."""
    base = make_dataset(2000, 10, dim=64, seed=1, near_duplicate_fraction=0, exact_duplicate_fraction=0)
    x = base.embeddings
    common = x.mean(axis=0)
    tight = x + 20 * common  # every sample pulled toward one direction: nearest cosines ~0.999
    tight /= np.linalg.norm(tight, axis=1, keepdims=True)
    for emb in (x, tight):
        _, sims = exact_knn(emb.astype(np.float32), 10)
        scale = measure_scale(sims)
        nearest = 1 - sims[:, 0]
        # only the closest few percent of nearest pairs fall under the cut, whatever the space
        assert np.mean(scale.near_duplicate(sims[:, 0])) < 0.02
        assert scale.duplicate_threshold > np.median(sims[:, 0])
        assert scale.vote_temperature < np.median(nearest) * 10


def _two_densities(seed: int = 0):
    """A dense and a sparse cluster (spreads 0.02 and 0.4), 300 samples each, and a copy of 10 of
    each, jittered by a twentieth of its cluster's spread. Returns (unit rows, copy pairs)."""
    rng = np.random.default_rng(seed)
    dim = 32
    rows, pairs = [], []
    for spread in (0.02, 0.4):
        centre = rng.normal(size=dim)
        centre /= np.linalg.norm(centre)
        points = centre + spread * rng.normal(size=(300, dim)) / np.sqrt(dim)
        start = sum(len(r) for r in rows)
        copies = points[:10] + spread / 20 * rng.normal(size=(10, dim)) / np.sqrt(dim)
        rows += [points, copies]
        pairs += [(start + i, start + 300 + i) for i in range(10)]
    x = np.vstack(rows)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), pairs


def _found_pairs(scale, idx, sims):
    near = scale.near_duplicate_pairs(idx, sims)
    return {tuple(sorted((int(i), int(idx[i, j])))) for i, j in zip(*np.nonzero(near))}


def test_the_local_rule_finds_copies_where_one_global_radius_cannot():
    x, pairs = _two_densities()
    idx, sims = exact_knn(x, 20)
    scale = measure_scale(sims)
    found = _found_pairs(scale, idx, sims)
    assert found == set(pairs)  # every copy, in both clusters, and nothing else
    global_only = {p for p in found if scale.near_duplicate(np.array(1 - (1 - x[p[0]] @ x[p[1]])))}
    assert len(global_only) < len(pairs)  # the global radius alone misses the sparse cluster's
    assert scale.local_cut is not None and scale.local_z == 3.5
    assert "mutual nearest neighbours" in describe_cut(scale.as_dict())


def test_an_explicit_threshold_replaces_the_local_rule_too():
    x, pairs = _two_densities()
    idx, sims = exact_knn(x, 20)
    scale = measure_scale(sims, duplicate_threshold=0.999999)
    assert scale.local_cut is None and scale.local_z is None
    assert _found_pairs(scale, idx, sims) <= {p for p in pairs if x[p[0]] @ x[p[1]] >= 0.999999}


@pytest.mark.parametrize("dim", [16, 64])
def test_the_local_rule_pairs_almost_nothing_in_evenly_spread_data(dim):
    """No duplicates at all: the robust cut alone pairs ~0.25 % of such rows (its lower tail is
    heavier than a normal one); with the chance test a handful of pairs at most."""
    from curate.graph.scale import _local_cut, local_ratio

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2000, dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    idx, sims = exact_knn(x, 20)
    scale = measure_scale(sims)
    # the estimate is biased low in high dimensions with few samples, but grows with them
    assert scale.intrinsic_dimension is not None and dim / 3 < scale.intrinsic_dimension < 1.5 * dim
    paired_rows = scale.near_duplicate_pairs(idx, sims).any(axis=1).sum()
    cut_alone = (local_ratio(sims) < _local_cut(local_ratio(sims), 3.5)).sum()
    assert paired_rows <= 0.003 * len(x) and paired_rows < cut_alone
