"""The numpy K x K steps give exactly cleanlab's numbers, ties and zero rows included."""

import numpy as np
import pytest

from curate.score.noise import joint


def joints(seed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A sparse-ish integer confident joint (some empty rows, many ties) and labels for it."""
    rng = np.random.default_rng(seed)
    cj = rng.integers(0, 6, (k, k)) * (rng.random((k, k)) < 0.4)
    cj[np.arange(k), np.arange(k)] += rng.integers(1, 40, k)
    cj[rng.integers(0, k)] = 0  # a class with nothing confidently counted
    labels = rng.integers(0, k, int(cj.sum()) + 7)
    return cj.astype(np.int64), labels


def test_constants_are_cleanlabs():
    from cleanlab.internal import constants

    assert joint.FLOATING_POINT_COMPARISON == constants.FLOATING_POINT_COMPARISON
    assert joint.CONFIDENT_THRESHOLDS_LOWER_BOUND == constants.CONFIDENT_THRESHOLDS_LOWER_BOUND
    assert joint.TINY_VALUE == constants.TINY_VALUE


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [2, 5, 31])
def test_calibrate_and_prune_counts_match_cleanlab(seed, k):
    from cleanlab.count import calibrate_confident_joint
    from cleanlab.filter import _keep_at_least_n_per_class

    cj, labels = joints(seed, k)
    ours = joint.calibrate_confident_joint(cj, labels)
    theirs = calibrate_confident_joint(cj, labels)
    np.testing.assert_array_equal(ours, theirs)
    for n in (1, 3):
        np.testing.assert_array_equal(
            joint.keep_at_least_n_per_class(theirs.T, n), _keep_at_least_n_per_class(theirs.T, n=n, frac_noise=1.0)
        )


@pytest.mark.parametrize("seed", range(20))
def test_round_preserving_sum_matches_cleanlab(seed):
    from cleanlab.internal.util import round_preserving_row_totals, round_preserving_sum

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 8, 12) / 4.0 + rng.choice([0, 0.5], 12)  # many exact halves: ties
    np.testing.assert_array_equal(joint.round_preserving_sum(values), round_preserving_sum(values))
    matrix = rng.random((6, 6)) * 10
    np.testing.assert_array_equal(joint.round_preserving_row_totals(matrix), round_preserving_row_totals(matrix))
