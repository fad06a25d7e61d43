import numpy as np
import pytest

from curate.select.strategies import (
    STRATEGIES,
    TIERS,
    budget_count,
    class_quotas,
    kcenter_order,
    select_rows,
    spread_permutation,
    stratified_order,
    waterfill,
)


def blobs(counts, dim=8, seed=0):
    """Unit rows around one centre per class, ``counts[c]`` rows of class c."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), dim))
    x = np.concatenate([c + 0.3 * rng.normal(size=(n, dim)) for c, n in zip(centres, counts)])
    labels = np.repeat(np.arange(len(counts)), counts)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_waterfill_keeps_the_tail_whole_before_trimming_the_head():
    quota = waterfill(np.array([100, 40, 5]), 60)
    assert quota.sum() == 60
    assert quota[2] == 5  # the tail keeps everything
    assert abs(quota[0] - quota[1]) <= 1


def test_waterfill_levels_up_from_what_groups_already_have():
    quota = waterfill(np.array([10, 10]), 6, base=np.array([4, 0]))
    assert quota.tolist() == [1, 5]


def test_waterfill_refuses_more_than_there_is():
    with pytest.raises(ValueError):
        waterfill(np.array([2, 3]), 6)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("budget", [1, 7, 30, 60])
def test_every_strategy_chooses_exactly_the_budget(strategy, budget):
    x, labels = blobs([30, 20, 10])
    tiers = np.zeros(len(labels), dtype=np.int64)
    chosen = select_rows(x, labels, tiers, budget, strategy=strategy, seed=1)
    assert chosen.selected.sum() == budget
    assert sorted(chosen.rank[chosen.selected].tolist()) == list(range(budget))
    assert (chosen.rank[~chosen.selected] == -1).all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_seed_chooses_the_same_rows(strategy):
    x, labels = blobs([30, 20, 10])
    tiers = np.zeros(len(labels), dtype=np.int64)
    a = select_rows(x, labels, tiers, 17, strategy=strategy, seed=3)
    b = select_rows(x, labels, tiers, 17, strategy=strategy, seed=3)
    assert np.array_equal(a.rank, b.rank)


def test_another_seed_chooses_other_random_rows():
    x, labels = blobs([30, 20, 10])
    tiers = np.zeros(len(labels), dtype=np.int64)
    a = select_rows(x, labels, tiers, 17, strategy="random", seed=3)
    b = select_rows(x, labels, tiers, 17, strategy="random", seed=4)
    assert not np.array_equal(a.rank, b.rank)


def test_default_keeps_the_prior_but_every_class_its_prototypes():
    x, labels = blobs([200, 100, 6])
    chosen = select_rows(x, labels, np.zeros(len(labels), dtype=np.int64), 30, seed=0)
    # one row per mode first (ceil(sqrt(n)): 15, 10, 3), the rest (2) by size
    assert chosen.quotas == {0: 17, 1: 10, 2: 3}
    more = select_rows(x, labels, np.zeros(len(labels), dtype=np.int64), 150, seed=0)
    assert more.quotas[0] > more.quotas[1] > more.quotas[2]
    assert abs(more.quotas[0] / more.quotas[1] - 2) < 0.2  # the prior beyond the prototypes


def test_balanced_gives_every_class_the_same_share_or_all_it_has():
    x, labels = blobs([200, 100, 6])
    chosen = select_rows(x, labels, np.zeros(len(labels), dtype=np.int64), 60, strategy="balanced", seed=0)
    assert chosen.quotas == {0: 27, 1: 27, 2: 6}


def test_class_quotas_water_fill_the_prototypes_when_the_budget_is_small():
    quota = class_quotas(np.array([400, 100, 4]), 12)  # modes 20, 10, 2
    assert quota.tolist()[2] == 2 and quota.sum() == 12 and abs(quota[0] - quota[1]) <= 1


def test_spread_permutation_starts_at_the_prototype_and_spreads():
    order = spread_permutation(8)
    assert order.tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    assert sorted(spread_permutation(11).tolist()) == list(range(11))


def test_redundant_and_flagged_rows_are_taken_only_after_every_candidate():
    x, labels = blobs([20, 20])
    tiers = np.zeros(40, dtype=np.int64)
    tiers[::4] = TIERS.index("redundant")
    tiers[1::4] = TIERS.index("label_issue")
    tiers[2] = -1  # never selectable
    for strategy in STRATEGIES[:-1]:  # random ignores tiers
        chosen = select_rows(x, labels, tiers, 15, strategy=strategy, seed=0)  # of 19 candidates
        assert (tiers[chosen.selected] == 0).all(), strategy
        more = select_rows(x, labels, tiers, 25, strategy=strategy, seed=0)
        assert (tiers[more.selected] <= 1).all() and (more.selected[tiers == 0]).all(), strategy
        # ranks: every candidate before any redundant copy
        assert more.rank[tiers == 0].max() < more.rank[tiers == 1][more.rank[tiers == 1] >= 0].min()
    with pytest.raises(ValueError):
        select_rows(x, labels, tiers, 40, seed=0)  # one row is not selectable


def test_stratified_order_starts_with_one_prototype_per_mode():
    rng = np.random.default_rng(0)
    modes = np.eye(4, dtype=np.float32)
    x = np.concatenate([m + 0.05 * rng.normal(size=(n, 4)) for m, n in zip(modes, (40, 30, 20, 10))])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    mode = np.repeat(np.arange(4), (40, 30, 20, 10))
    order = stratified_order(x, 4, np.random.default_rng(0))
    assert sorted(mode[order[:4]].tolist()) == [0, 1, 2, 3]
    assert sorted(order.tolist()) == list(range(100))


def test_kcenter_picks_far_apart_rows_first():
    x = np.array([[1, 0], [0.99, 0.141], [0, 1], [-1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order = kcenter_order(x, 3, np.random.default_rng(0))
    assert len(set(order.tolist()) & {0, 1}) == 1


def test_budget_count_reads_fractions_and_counts():
    assert budget_count(0.25, 100) == 25
    assert budget_count(25, 100) == 25
    assert budget_count(1.0, 7) == 7
    for bad in (0, -3, 101, 0.0, 1.5, -0.1, 0.001, True, "3"):
        with pytest.raises(ValueError):
            budget_count(bad, 100)


def test_a_row_whose_mutual_nearest_neighbour_came_first_waits_until_the_end():
    from curate.select.strategies import defer_mutual_pairs

    rows = np.array([10, 11, 12, 13])
    nearest = np.full(20, -1)
    nearest[[10, 11, 12, 13]] = [11, 10, 10, 12]  # 10 and 11 are mutual; 12 -> 10 is not
    order = np.array([0, 1, 2, 3])
    assert defer_mutual_pairs(rows, order, nearest).tolist() == [0, 2, 3, 1]
    assert defer_mutual_pairs(rows, np.array([1, 3, 0, 2]), nearest).tolist() == [1, 3, 2, 0]
