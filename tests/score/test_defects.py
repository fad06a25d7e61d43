"""Image defects judged against the dataset's own distribution: fences, floors, bounds, the share
cap, explicit thresholds and rivals (curate.score.defects)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import UsageError
from curate.score.defects import judge, judge_images, measure_of


def _stats(n: int, seed: int = 0, **overrides: np.ndarray) -> dict[str, np.ndarray]:
    """Image stats of ``n`` ordinary, varied colour photos; ``overrides`` replace columns."""
    rng = np.random.default_rng(seed)
    stats = {
        "brightness_p05": rng.uniform(0.0, 0.2, n),
        "brightness_p50": rng.uniform(0.3, 0.6, n),
        "brightness_p99": rng.uniform(0.75, 1.0, n),
        "contrast": rng.uniform(0.15, 0.3, n),
        "entropy": rng.uniform(6.5, 7.5, n),
        "sharpness": np.exp(rng.normal(np.log(1.6), 0.08, n)),
        "colourfulness": rng.uniform(0.1, 0.4, n),
        "width": rng.uniform(300, 400, n).round(),
        "height": rng.uniform(250, 300, n).round(),
        "phash": rng.integers(-(2**62), 2**62, n),
        "pixel_digest": np.array([f"{i:032x}" for i in range(n)], dtype=object),
        "measured": np.ones(n, dtype=bool),
    }
    for name, values in overrides.items():
        stats[name] = np.asarray(values, dtype=stats[name].dtype)
    return stats


def _with(stats, rows, **values):
    out = {k: v.copy() for k, v in stats.items()}
    for name, value in values.items():
        out[name][rows] = value
    return out


def test_far_below_the_dataset_is_flagged_and_ordinary_photos_are_not():
    stats = _stats(400)
    clean = judge_images(stats)
    assert all(j.flag.sum() == 0 for j in clean.values())
    blurred = _with(stats, [3, 7], sharpness=0.6)
    result = judge(measure_of("blurry"), blurred)
    assert np.flatnonzero(result.flag).tolist() == [3, 7]
    assert result.score[[3, 7]].max() < 0.5 < result.score[np.arange(400) > 7].min()
    assert result.record["source"] == "derived" and result.record["flagged"] == 2


def test_the_fence_follows_the_data_within_its_bound():
    # every picture dim (night photos): a dim one is not dark there, a black one still is
    night = _stats(400, brightness_p99=np.random.default_rng(1).uniform(0.12, 0.2, 400))
    night = _with(night, [5], brightness_p99=0.02)
    result = judge(measure_of("dark"), night)
    assert np.flatnonzero(result.flag).tolist() == [5]
    # a picture far from its (tight) dataset, but above the bound, is not dark
    tight = _stats(400, brightness_p99=np.random.default_rng(2).uniform(0.95, 1.0, 400))
    assert not judge(measure_of("dark"), _with(tight, [9], brightness_p99=0.5)).flag.any()
    assert judge(measure_of("dark"), _with(tight, [9], brightness_p99=0.3)).flag[9]


def test_an_explicit_threshold_replaces_the_derived_cut():
    stats = _with(_stats(300), [1], sharpness=1.15)
    assert not judge(measure_of("blurry"), stats).flag[1]  # within the bound
    given = judge(measure_of("blurry"), stats, threshold=1.2)
    assert given.flag[1] and given.record["source"] == "given" and given.record["cut"] == pytest.approx(1.2)
    with pytest.raises(UsageError, match="no image defect named fuzzy"):
        judge_images(stats, thresholds={"fuzzy": 1.0})


def test_a_grayscale_dataset_has_no_grayscale_issue():
    colour = _with(_stats(200), [0, 1, 2], colourfulness=0.0)
    assert np.flatnonzero(judge(measure_of("grayscale"), colour).flag).tolist() == [0, 1, 2]
    gray = _with(_stats(200, colourfulness=np.zeros(200)), [0, 1, 2], colourfulness=0.3)
    result = judge(measure_of("grayscale"), gray)
    assert not result.flag.any() and result.record["capped"]
    assert "not a defect" in result.record["note"]


def test_shape_and_size_are_judged_against_the_median():
    stats = _with(_stats(300), [4], width=1600, height=200)  # a strip 8:1
    stats = _with(stats, [6], width=24, height=20)  # a thumbnail
    judged = judge_images(stats)
    assert np.flatnonzero(judged["odd_aspect_ratio"].flag).tolist() == [4]
    assert np.flatnonzero(judged["odd_size"].flag).tolist() == [6]


def test_rivals_report_one_reason_per_picture():
    # an under-exposed photo (dark, few grey levels) and a flat dim picture
    stats = _with(_stats(300), [10], brightness_p99=0.04, entropy=3.0)
    stats = _with(stats, [11], brightness_p99=0.3, entropy=0.5)
    judged = judge_images(stats)
    assert np.flatnonzero(judged["dark"].flag).tolist() == [10]
    assert np.flatnonzero(judged["low_information"].flag).tolist() == [11]
    assert judged["low_information"].record["given_up_to"] == {"dark": 1}


def test_unmeasured_rows_are_left_alone():
    stats = _stats(100)
    stats["sharpness"][:10] = np.nan
    result = judge(measure_of("blurry"), stats)
    assert np.isnan(result.score[:10]).all() and not result.flag[:10].any()
    assert result.record["measured"] == 90
