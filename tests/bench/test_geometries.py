"""The benchmark geometries plant what they claim: rates, a long tail, noise only where it can be
wrong, and copies that really are near their sources. (This tests the builders of
tests/bench/geometries.py, not how well any tool finds what they plant.)"""

from importlib.util import find_spec

import numpy as np
import pytest

from tests.bench import geometries
from tests.bench.geometries import (
    DUPLICATE_RATE,
    NOISE_RATE,
    OUTLIER_RATE,
    Geometry,
    breast_cancer,
    digits_pixels,
    textile_pixels,
    wine,
)

# The image geometries need the textile photos (digits take their outliers from them too), which
# come with the `bench` extra; CI installs only `dev`, so there the tabular ones stand in.
needs_photos = pytest.mark.skipif(
    find_spec("conformal_clip_data") is None, reason="conformal_clip_data (the bench extra) is not installed"
)


@pytest.fixture(
    scope="module",
    ids=lambda f: f.__name__,
    params=[
        wine,
        breast_cancer,
        pytest.param(digits_pixels, marks=needs_photos),
        pytest.param(textile_pixels, marks=needs_photos),
    ],
)
def geometry(request) -> Geometry:
    return request.param(0)


def test_arrays_line_up(geometry):
    n = len(geometry.labels)
    assert geometry.features.dtype == np.float32 and geometry.features.shape[0] == n
    assert np.isfinite(geometry.features).all()
    for name in ("labels", "true_labels", "duplicate_group"):
        assert getattr(geometry, name).dtype == np.int64 and getattr(geometry, name).shape == (n,)
    for name in ("is_noisy", "is_outlier"):
        assert getattr(geometry, name).dtype == bool and getattr(geometry, name).shape == (n,)
    assert geometry.labels.max() < len(geometry.class_names)


def test_planted_rates(geometry):
    rates = geometry.planted_rates
    assert abs(rates["duplicate_rate"] - DUPLICATE_RATE) < 0.005
    assert abs(rates["outlier_rate"] - OUTLIER_RATE) < 0.005
    labelled = ~geometry.is_outlier
    for klass in range(len(geometry.class_names)):
        members = labelled & (geometry.true_labels == klass)
        # Exact per class on the originals; copies, which inherit noise half the time, shift it a little.
        assert abs(geometry.is_noisy[members].mean() - NOISE_RATE) < 0.05, klass


def test_noise_only_among_labelled_rows(geometry):
    assert not (geometry.is_noisy & geometry.is_outlier).any()
    np.testing.assert_array_equal(
        geometry.is_noisy[~geometry.is_outlier], (geometry.labels != geometry.true_labels)[~geometry.is_outlier]
    )
    np.testing.assert_array_equal(geometry.labels[geometry.is_outlier], geometry.true_labels[geometry.is_outlier])


def test_long_tail(geometry):
    counts = np.bincount(geometry.true_labels[~geometry.is_outlier])
    assert 0.7 * geometry.imbalance_ratio < counts.max() / counts.min() < 1.3 * geometry.imbalance_ratio


@needs_photos
def test_half_the_flips_go_to_the_look_alike():
    geometry = digits_pixels(0)
    labelled = ~geometry.is_outlier
    look_alike = geometries._look_alike(
        geometry.features[labelled].astype(np.float64), geometry.true_labels[labelled], len(geometry.class_names)
    )
    noisy = np.flatnonzero(geometry.is_noisy)
    to_look_alike = (geometry.labels[noisy] == look_alike[geometry.true_labels[noisy]]).mean()
    # Half by design, plus the uniform half's 1-in-9 share.
    assert 0.4 < to_look_alike < 0.7


def test_copies_are_nearer_their_source_than_rows_are_to_their_nearest_neighbour(geometry):
    from sklearn.metrics import pairwise_distances

    features = geometry.features.astype(np.float64)
    distances = pairwise_distances(features)
    np.fill_diagonal(distances, np.inf)
    ordinary = (geometry.duplicate_group < 0) & ~geometry.is_outlier
    typical = np.median(distances[ordinary].min(axis=1))
    groups = geometry.duplicate_group[geometry.duplicate_group >= 0]
    assert (np.bincount(groups) == 2).all()  # one copy per source
    pair_distance = np.array(
        [distances[tuple(np.flatnonzero(geometry.duplicate_group == g))] for g in np.unique(groups)]
    )
    assert pair_distance.max() < typical and np.median(pair_distance) < 0.6 * typical


@needs_photos
def test_deterministic_given_seed():
    first = wine(3)
    geometries._digit_rows.cache_clear()
    digits = digits_pixels(3)
    geometries._digit_rows.cache_clear()
    again = digits_pixels(3)
    np.testing.assert_array_equal(first.features, wine(3).features)
    np.testing.assert_array_equal(digits.features, again.features)
    np.testing.assert_array_equal(digits.labels, again.labels)
    assert not np.array_equal(first.labels, wine(4).labels) or not np.array_equal(first.features, wine(4).features)
