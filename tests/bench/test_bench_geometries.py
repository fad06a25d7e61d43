"""The geometry benchmark's arithmetic: the paired bootstrap of an F1 difference and the fold of
several seeds into one bar (the runs themselves are too slow for the test suite)."""

import numpy as np
import pytest

from tests.bench.bench_geometries import bar_misses, mean_block, paired_f1_interval


def test_identical_flags_differ_by_nothing():
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.1
    flags = truth ^ (rng.random(300) < 0.05)
    assert paired_f1_interval(flags, flags, truth, resamples=200) == (0.0, 0.0)


def test_interval_brackets_the_difference_and_excludes_zero_for_a_clearly_better_tool():
    rng = np.random.default_rng(1)
    truth = rng.random(2000) < 0.1
    good = truth ^ (rng.random(2000) < 0.01)
    poor = truth ^ (rng.random(2000) < 0.08)
    low, high = paired_f1_interval(good, poor, truth, resamples=300)
    assert 0 < low < high
    low, high = paired_f1_interval(poor, good, truth, resamples=300)
    assert low < high < 0


def test_interval_is_wide_on_a_small_table():
    """One flag of difference on 142 rows: the interval reaches 0 (cannot tell the tools apart)."""
    truth = np.zeros(142, dtype=bool)
    truth[:17] = True
    a = truth.copy()
    b = truth.copy()
    b[20] = True  # one false positive more
    low, high = paired_f1_interval(a, b, truth, resamples=500)
    assert low == pytest.approx(0.0) and high > 0


def _block(geometry: str, curate_f1: float, datalab_f1: float, dup_rate: float) -> dict:
    def tool(name: str, f1: float, rate: float) -> dict:
        measures = {
            "label_precision": f1,
            "label_recall": f1,
            "label_f1": f1,
            "tail_f1": f1,
            "duplicate_f1": 1.0,
            "outlier_auroc": 0.9,
            "seconds": 1.0,
        }
        rates = {"label_issue_rate": 0.1, "duplicate_rate": rate, "outlier_rate": 0.02}
        return {"tool": name, **measures, "rates": rates}

    return {
        "geometry": geometry,
        "extractor": "x",
        "n": 100,
        "dim": 8,
        "classes": 3,
        "nearest_neighbour_cosine": 0.9,
        "planted": {"label_issue_rate": 0.1, "duplicate_rate": 0.03, "outlier_rate": 0.02},
        "tools": [tool("curate", curate_f1, dup_rate), tool("Datalab", datalab_f1, 0.01)],
    }


def test_mean_block_averages_each_tool_and_takes_the_bar():
    blocks = [_block("wine", 0.90, 0.93, 0.02), _block("wine", 0.96, 0.89, 0.04)]
    mean = mean_block(blocks)
    curate, datalab = mean["tools"]
    assert curate["label_f1"] == pytest.approx(0.93) and datalab["label_f1"] == pytest.approx(0.91)
    assert curate["rates"]["duplicate_rate"] == pytest.approx(0.03)
    assert not any(bar_misses(mean).values())
    assert bar_misses(blocks[0])["label_f1"]  # the first seed alone misses


def test_synthetic_spaces_keep_their_margin_on_the_mean():
    # +0.03 and +0.06: +0.045 on the mean, short of the +0.05 margin
    mean = mean_block([_block("synth-tight", 0.99, 0.96, 0.03), _block("synth-tight", 0.99, 0.93, 0.03)])
    assert bar_misses(mean)["label_f1"]
    # +0.04 and +0.06: the margin exactly
    mean = mean_block([_block("synth-tight", 0.99, 0.95, 0.03), _block("synth-tight", 0.99, 0.93, 0.03)])
    assert not bar_misses(mean)["label_f1"]


def test_expert_intervals_pool_the_rows_of_every_seed(capsys):
    """The 'all' row scores both tools on the rows of every seed together, and lists a per-seed
    cell only where curate is below the expert."""
    from tests.bench.bench_geometries import print_expert_intervals
    from tests.bench.bench_noise import prf

    rng = np.random.default_rng(2)
    runs = {}
    pooled = {"curate": [], "expert": [], "truth": []}
    for seed in (0, 1):
        truth = rng.random(200) < 0.15
        flipped = truth ^ (rng.random(200) < 0.08)
        cur, ex = (truth, flipped) if seed == 0 else (flipped, truth)  # curate ahead on seed 0, behind on 1
        rows = {"curate": cur.tolist(), "expert": ex.tolist(), "truth": truth.tolist()}
        for key in pooled:
            pooled[key].append(np.asarray(rows[key]))
        block = {
            "geometry": "wine",
            "tools": [
                {"label_f1": prf(cur, truth)[2], "tail_f1": prf(cur, truth)[2]},
                {},
                {"label_f1": prf(ex, truth)[2], "tail_f1": prf(ex, truth)[2]},
            ],
            "expert_interval": {"label_f1": (-0.1, 0.1), "tail_f1": (-0.1, 0.1)},
            "expert_rows": {"label_f1": rows, "tail_f1": rows},
        }
        runs[seed] = [block]
    print_expert_intervals(runs)
    out = capsys.readouterr().out
    cur, ex, truth = (np.concatenate(pooled[key]) for key in ("curate", "expert", "truth"))
    assert f"| all | wine | label_f1 | {prf(cur, truth)[2]:.3f} / {prf(ex, truth)[2]:.3f} |" in out
    assert "| 1 | wine | label_f1 |" in out and "| 0 | wine | label_f1 |" not in out


def test_a_row_inside_another_class_is_an_unavoidable_wrong_relabel():
    """Two clusters; row 0 truly belongs to class 0 but sits in class 1's cluster: relabelling it
    to 1 is wrong and unavoidable, relabelling a row of class 0's own cluster to 1 is avoidable."""
    from tests.bench.bench_geometries import truth_disagrees
    from tests.bench.geometries import Geometry

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    truth = np.repeat([0, 1], 30)
    features = (centres[truth] + rng.normal(0, 0.5, (60, 2))).astype(np.float32)
    features[0] = centres[1]  # a class-0 row inside class 1
    n = len(truth)
    geometry = Geometry(
        name="two-blobs",
        features=features,
        labels=truth.copy(),
        true_labels=truth,
        class_names=["a", "b"],
        is_noisy=np.zeros(n, dtype=bool),
        duplicate_group=np.full(n, -1),
        is_outlier=np.zeros(n, dtype=bool),
        extractor="two Gaussian blobs",
        imbalance_ratio=1.0,
    )
    assert truth_disagrees(geometry, np.array([0]), np.array([1])) == 1
    assert truth_disagrees(geometry, np.array([5]), np.array([1])) == 0
    assert truth_disagrees(geometry, np.array([0, 5]), np.array([1, 1])) == 1
    assert truth_disagrees(geometry, np.array([], dtype=int), np.array([], dtype=int)) == 0
