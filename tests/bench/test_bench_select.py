"""The subset-selection benchmark's pools plant what they claim, and one budget runs end to end
(the full curves are too slow for the test suite: tests/bench/bench_select.py)."""

import pytest

pytest.importorskip("sklearn", reason="the bench extra (scikit-learn) is not installed")

from tests.bench.bench_select import COPY_RATE, NOISE_RATE, bench, mean_block, misses, synth  # noqa: E402


@pytest.fixture(scope="module")
def pool():
    return synth(0, size=1200)


def test_the_pool_has_its_planted_noise_and_copies_and_a_clean_test_split(pool):
    noise = (pool.labels != pool.true_labels).mean()
    assert abs(noise - NOISE_RATE) < 0.04
    assert abs(pool.is_copy.mean() - COPY_RATE) < 0.08
    assert len(pool.test_labels) > 0 and pool.test_features.shape[1] == pool.features.shape[1]
    # no test row is in the pool, not even as a copy
    sims = pool.test_features @ pool.features.T
    assert sims.max() < 0.999


def test_one_budget_end_to_end(pool, tmp_path):
    block = bench(pool, 0, tmp_path, budgets=(0.2,), draws=2)
    row = block["rows"][0]
    assert row["count"] == round(0.2 * len(pool.labels))
    assert 0 <= row["curate"] <= 100 and 0 <= row["random"] <= 100
    # the selection leaves the planted copies and most wrong labels out
    assert row["copy_share"] < 100 * COPY_RATE / 2 and row["noisy_share"] < 100 * NOISE_RATE / 2
    folded = mean_block([block, block])
    assert folded["seeds"] == 2 and folded["rows"][0]["curate"] == row["curate"]
    assert isinstance(misses(folded), list)
