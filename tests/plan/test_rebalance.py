import numpy as np
import pytest

from curate.plan.rebalance import class_weights, sampling_weights, undersample

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


def test_sampling_weights_downweight_groups_then_cap_then_balance():
    action = ["keep", "keep", "keep", "drop", "keep", "keep"]
    reasons = [[] for _ in action]
    labels = np.array([0, 0, 0, 0, 1, -1])
    weight = sampling_weights(
        action,
        reasons,
        labels,
        near_duplicate_groups=["g", "g", None, "g", None, None],
        near_duplicate_copies=np.array([False, True, False, True, False, False]),
        density=np.array([0.1, 0.2, 0.9, 0.0, 0.5, 0.5]),
        class_names=["a", "b"],
        strategy="inverse",
        cap=1,
    )
    # the dropped member does not count towards its group; the near copy goes first, then the denser sample
    assert action == ["keep", "drop", "drop", "drop", "keep", "keep"]
    assert reasons[0] == ["near-duplicate group of 2: weight / 2"]
    assert reasons[1] == ["near-duplicate group of 2: weight / 2", "undersampled: a has 3 samples, cap 1"]
    assert weight.tolist() == [0.5, 0.0, 0.0, 0.0, 1.0, 1.0]  # unlabelled kept samples weigh 1
