import numpy as np
import pytest

from curate.plan.rebalance import class_weights, undersample

COUNTS = np.array([1000, 100, 10, 0])


@pytest.mark.parametrize("strategy", ["none", "inverse", "sqrt", "effective-number", "cap"])
def test_weights_keep_total_mass(strategy):
    w = class_weights(COUNTS, strategy)
    assert (COUNTS * w).sum() == pytest.approx(COUNTS.sum())
    assert w[3] == 0.0


def test_strategies_order_from_flat_to_balanced():
    mass = {s: COUNTS[:3] * class_weights(COUNTS, s)[:3] for s in ("none", "sqrt", "effective-number", "inverse")}
    np.testing.assert_allclose(mass["inverse"], mass["inverse"][0])  # full balance
    np.testing.assert_allclose(mass["none"], COUNTS[:3])
    tail_share = {s: m[2] / m.sum() for s, m in mass.items()}
    assert tail_share["none"] < tail_share["sqrt"] < tail_share["inverse"]
    assert tail_share["none"] < tail_share["effective-number"] <= tail_share["inverse"] + 1e-12
    with pytest.raises(ValueError, match="unknown strategy"):
        class_weights(COUNTS, "square")


def test_undersample_drops_most_redundant_first():
    labels = np.array([0, 0, 0, 0, 1, 1, -1])
    redundancy = np.array([0.1, 2.5, 0.9, 0.3, 5.0, 0.0, 9.0])
    drop = undersample(labels, redundancy, 2)
    assert drop.tolist() == [False, True, True, False, False, False, False]
    assert not undersample(labels, redundancy, 10).any()
    with pytest.raises(ValueError):
        undersample(labels, redundancy, 0)
