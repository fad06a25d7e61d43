"""The multi-label benchmark's data and measures on a small run (the full run is too slow for the suite)."""

from importlib.util import find_spec

import numpy as np
import pytest

from tests.bench.bench_multilabel import ToolRun, make_canvases, measure, misses, pixel_features, run_curate


def test_canvases_carry_one_planted_wrong_tag_per_noisy_row():
    canvases = make_canvases(seed=0, rows=300)
    wrong = canvases.given_tags != canvases.true_tags
    assert (wrong.sum(axis=1) == canvases.is_planted.astype(int)).all()
    rows = np.flatnonzero(canvases.is_planted)
    assert (wrong[rows, canvases.planted_tag[rows]]).all()
    assert canvases.true_tags.sum(axis=1).min() >= 1 and canvases.true_tags.sum(axis=1).max() <= 3
    # both kinds are planted, and the tag profile has a tail
    assert (canvases.given_tags[rows, canvases.planted_tag[rows]]).any()
    assert (~canvases.given_tags[rows, canvases.planted_tag[rows]]).any()
    counts = canvases.true_tags.sum(axis=0)
    assert counts.max() > 4 * counts.min()


def test_measure_counts_a_named_tag_right_only_when_it_is_the_planted_one():
    canvases = make_canvases(seed=1, rows=200)
    rows = np.flatnonzero(canvases.is_planted)
    named = np.zeros(canvases.given_tags.shape, dtype=bool)
    named[rows, canvases.planted_tag[rows]] = True
    perfect = measure(canvases, ToolRun("x", canvases.is_planted.copy(), named, 1.0))
    assert perfect["f1"] == 1.0 and perfect["named_precision"] == 1.0 and perfect["named_recall"] == 1.0
    named[rows, (canvases.planted_tag[rows] + 1) % named.shape[1]] = True  # one wrong name per row too
    half = measure(canvases, ToolRun("x", canvases.is_planted.copy(), named, 1.0))
    assert half["named_precision"] == pytest.approx(0.5)


def test_curate_beats_chance_on_a_small_pixel_run():
    canvases = make_canvases(seed=0, rows=600)
    result = measure(canvases, run_curate(pixel_features(canvases), canvases.given_tags, seed=0))
    assert result["f1"] > 0.3
    block = {"curate": result, "cleanlab": [{**result, "tool": "ref", "f1": 0.0}], "reference": "ref"}
    assert not misses(block)["f1"]


@pytest.mark.skipif(find_spec("skimage") is None, reason="scikit-image (the bench extra) is not installed")
def test_hog_features_are_unit_length():
    from tests.bench.bench_multilabel import hog_features

    canvases = make_canvases(seed=0, rows=20)
    features = hog_features(canvases)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
