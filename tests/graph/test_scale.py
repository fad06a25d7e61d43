import numpy as np
import pytest

from curate.errors import UsageError
from curate.graph.neighbors import exact_knn
from curate.graph.scale import SimilarityScale, measure_scale
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
