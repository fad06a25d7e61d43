import pytest

from curate.data import imbalance_ratio


def test_imbalance_ratio_ignores_empty_classes_and_has_no_answer_without_samples():
    assert imbalance_ratio([40, 0, 10]) == 4.0
    assert imbalance_ratio([7]) == 1.0
    assert imbalance_ratio([2.5, 0.5]) == pytest.approx(5.0)  # sampling masses, not only counts
    assert imbalance_ratio([0, 0]) is None
    assert imbalance_ratio([]) is None
