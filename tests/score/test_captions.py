"""The caption mismatch rule: ranks against other samples' captions, a cut derived from the data."""

from __future__ import annotations

import numpy as np
import pytest

from curate.score.captions import (
    caption_groups,
    combined_pvalue,
    mismatch_cut,
    normalised_caption,
    rank_pvalues,
    score_captions,
)
from curate.synth import make_pairs


def f1(flags: np.ndarray, truth: np.ndarray) -> float:
    tp = int((flags & truth).sum())
    return 2 * tp / (int(flags.sum()) + int(truth.sum()))


@pytest.mark.parametrize("unrelated, matched", [(0.12, 0.31), (0.0, 0.19), (0.40, 0.59)])
def test_finds_swapped_captions_at_any_scale_without_a_threshold(unrelated, matched):
    pairs = make_pairs(6000, unrelated=unrelated, matched=matched, swap_rate=0.1, seed=3)
    found = score_captions(pairs.images, pairs.texts)
    assert f1(found.is_mismatch, pairs.swapped) >= 0.8
    assert found.derived["mismatch_share_estimate"] == pytest.approx(0.1, abs=0.04)
    assert found.caption_score.dtype == np.float32
    assert np.allclose(found.caption_score, np.einsum("ij,ij->i", pairs.images, pairs.texts), atol=1e-5)


def test_ranks_do_not_change_when_the_cosines_are_rescaled():
    pairs = make_pairs(2000, seed=4)
    found = score_captions(pairs.images, pairs.texts)

    # another model's scale: a constant component in both towers maps every cosine to 0.6 + 0.4 cos
    def rescaled(x: np.ndarray) -> np.ndarray:
        return np.hstack([np.sqrt(0.4) * x, np.full((len(x), 1), np.sqrt(0.6), dtype=np.float32)])

    moved = score_captions(rescaled(pairs.images), rescaled(pairs.texts))
    assert np.allclose(moved.caption_score, 0.6 + 0.4 * found.caption_score, atol=1e-5)
    assert np.mean(moved.is_mismatch == found.is_mismatch) > 0.99
    assert np.mean(np.abs(moved.caption_quality - found.caption_quality) < 0.01) > 0.98


def test_a_repeated_caption_does_not_lose_to_its_own_copies():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((50, 8)).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts = np.repeat(images[:1], 50, axis=0)  # every sample has the same caption
    _, p_image, _, _ = rank_pvalues(images, texts)
    assert np.all(p_image == 1 / 50)  # no other caption fits better: only ties


def test_clean_data_flags_nothing():
    pairs = make_pairs(3000, swap_rate=0.0, seed=5)
    found = score_captions(pairs.images, pairs.texts)
    assert found.is_mismatch.mean() < 0.02


def test_the_cut_follows_the_p_values():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 0.01, 900), rng.uniform(0, 1, 100)])
    pi, cut = mismatch_cut(p)
    assert pi == pytest.approx(0.1, abs=0.03)
    assert 0.009 <= cut < 0.2
    assert mismatch_cut(rng.uniform(0, 0.01, 1000)) == (0.0, 1.0)  # no wrong pair expected: no flag


def test_combined_pvalue_is_uniform_for_independent_uniforms():
    rng = np.random.default_rng(2)
    p = combined_pvalue(rng.uniform(size=20000), rng.uniform(size=20000))
    assert np.quantile(p, [0.1, 0.5, 0.9]) == pytest.approx([0.1, 0.5, 0.9], abs=0.02)


def test_samples_without_captions_are_not_scored():
    pairs = make_pairs(400, seed=6)
    texts = pairs.texts.copy()
    texts[:100] = 0
    found = score_captions(pairs.images, texts)
    assert np.isnan(found.caption_score[:100]).all() and not found.is_mismatch[:100].any()
    assert np.isfinite(found.caption_score[100:]).all()
    assert found.derived["num_pairs"] == 300
    none = score_captions(pairs.images, None)
    assert np.isnan(none.caption_score).all() and none.derived["num_pairs"] == 0


def test_repeated_captions_are_grouped_exact_or_near():
    captions = np.array(["Stock photo", "stock photo!", "a cat", "a dog", "a dog", None], dtype=object)
    group, kind, size = caption_groups(captions, 6)
    assert group[0] == group[1] and kind[0] == "near" and size[0] == 2
    assert group[3] == group[4] and kind[3] == "exact"
    assert group[2] is None and group[5] is None and size[2] == 0
    assert normalised_caption("  Stock   PHOTO!! ") == "stock photo"
