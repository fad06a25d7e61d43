"""score_tags: out-of-sample tag probabilities and per-tag confident learning on small planted data."""

import numpy as np
import pytest

from curate.errors import DataError, UsageError
from curate.score.multilabel import CalibrationCells, TagScores, fit_platt, score_tags, tag_confident_learning


def planted(n=1500, dim=24, num_tags=8, noise=0.1, seed=0, rates=None):
    """Embeddings built from each row's true tag set; ``noise`` of the rows get one tag flipped.
    Returns (embeddings (n, dim) float32, given (n, K) bool, true (n, K) bool, flipped (n,) int64 tag or -1)."""
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.4, 0.08, num_tags) if rates is None else np.asarray(rates)
    centers = rng.normal(size=(num_tags, dim))
    true = rng.random((n, len(rates))) < rates
    x = true.astype(float) @ centers + rng.normal(size=(n, dim)) * 0.6
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    given = true.copy()
    flipped = np.full(n, -1, dtype=np.int64)
    for row in np.flatnonzero(rng.random(n) < noise):
        tag = int(rng.integers(len(rates)))
        given[row, tag] = ~given[row, tag]
        flipped[row] = tag
    return x.astype(np.float32), given, true, flipped


@pytest.fixture(scope="module")
def scored():
    x, given, true, flipped = planted()
    return x, given, true, flipped, score_tags(x, given, seed=0)


def test_result_shapes_and_types(scored):
    x, given, _, _, res = scored
    n, k = given.shape
    assert isinstance(res, TagScores)
    assert res.pred_probs.shape == (n, k) and res.pred_probs.dtype == np.float32
    assert ((res.pred_probs >= 0) & (res.pred_probs <= 1)).all()
    assert res.is_label_issue.shape == (n,) and res.is_label_issue.dtype == bool
    assert res.label_quality.dtype == np.float32 and ((res.label_quality >= 0) & (res.label_quality <= 1)).all()
    assert res.thresholds.shape == (k,) and res.thresholds.dtype == np.float32
    assert res.tag_issue_rate.shape == (k,) and res.tag_issue_rate.dtype == np.float32
    assert len(res.missing) == len(res.spurious) == len(res.suggested) == n
    import json

    json.dumps(res.params)


def test_suggested_is_given_minus_spurious_plus_missing(scored):
    _, given, _, _, res = scored
    for row in range(len(given)):
        tags = set(np.flatnonzero(given[row]).tolist())
        assert set(res.missing[row]).isdisjoint(tags)
        assert set(res.spurious[row]) <= tags
        assert res.suggested[row] == sorted((tags - set(res.spurious[row])) | set(res.missing[row]))
        assert res.is_label_issue[row] == bool(res.missing[row] or res.spurious[row])
    named = np.array([len(m) + len(s) for m, s in zip(res.missing, res.spurious)])
    assert np.allclose(res.tag_issue_rate.sum(), named.sum() / len(given))


def test_finds_planted_flips_and_names_the_right_tag(scored):
    _, given, true, flipped, res = scored
    planted_rows = flipped >= 0
    flagged = res.is_label_issue
    precision = (flagged & planted_rows).sum() / flagged.sum()
    recall = (flagged & planted_rows).sum() / planted_rows.sum()
    assert precision > 0.7 and recall > 0.7, (precision, recall)
    right = sum(tag == flipped[row] for row in range(len(given)) for tag in res.missing[row] + res.spurious[row])
    named = sum(len(m) + len(s) for m, s in zip(res.missing, res.spurious))
    assert right / named > 0.7
    # a removed tag is named missing, an added one spurious
    for row in np.flatnonzero(planted_rows & flagged):
        tag = flipped[row]
        if tag in res.missing[row]:
            assert true[row, tag] and not given[row, tag]
        if tag in res.spurious[row]:
            assert given[row, tag] and not true[row, tag]


def test_probabilities_are_calibrated_enough_to_rank_tags(scored):
    _, _, true, _, res = scored
    # the true tags score above the absent ones for nearly every tag (AUC-like check)
    for tag in range(true.shape[1]):
        assert res.pred_probs[true[:, tag], tag].mean() > res.pred_probs[~true[:, tag], tag].mean() + 0.3


def test_rows_with_two_wrong_tags_rank_below_rows_with_one():
    x, given, true, flipped = planted(noise=0.0, seed=3)
    rng = np.random.default_rng(5)
    rows = rng.choice(len(given), size=120, replace=False)
    one, two = rows[:60], rows[60:]
    noisy = given.copy()
    for r in one:
        noisy[r, 0] = ~noisy[r, 0]
    for r in two:
        noisy[r, 0] = ~noisy[r, 0]
        noisy[r, 1] = ~noisy[r, 1]
    res = score_tags(x, noisy, seed=0)
    assert np.median(res.label_quality[two]) < np.median(res.label_quality[one])
    assert np.median(res.label_quality[one]) < np.median(np.delete(res.label_quality, rows))


def test_rows_without_tags_are_valid_and_no_tag_is_flagged_wholesale():
    x, given, _, _ = planted(noise=0.0, seed=1)
    assert (~given.any(axis=1)).any()
    res = score_tags(x, given, seed=0)
    assert res.is_label_issue.mean() < 0.1
    assert res.tag_issue_rate.max() < 0.1


def test_a_tag_below_the_bar_is_never_named_missing():
    x, given, _, _ = planted(noise=0.05, seed=2)
    rare = np.zeros((len(given), 1), dtype=bool)
    rare[:3] = True  # fewer positives than folds
    tags = np.concatenate([given, rare], axis=1)
    res = score_tags(x, tags, folds=5, seed=0)
    assert all(given.shape[1] not in missing for missing in res.missing)
    assert res.params["rule"]["min_positives_for_missing"] == 5
    assert res.params["rule"]["tags_below_bar"] == 1


def test_given_neighbours_are_used_and_zero_shot_source_joins_the_pool(scored):
    from curate.graph.neighbors import knn

    x, given, _, _, res = scored
    idx, sims = knn(x, 30, device="cpu")
    again = score_tags(x, given, neighbor_idx=idx, neighbor_sims=sims, seed=0)
    np.testing.assert_allclose(again.pred_probs, res.pred_probs, atol=1e-6)
    text = np.linalg.qr(np.random.default_rng(0).normal(size=(x.shape[1], given.shape[1])))[0].T.astype(np.float32)
    with_text = score_tags(x, given, neighbor_idx=idx, neighbor_sims=sims, text_embeddings=text, seed=0)
    assert with_text.params["sources"] == ["knn", "probe", "zeroshot"]
    assert set(with_text.params["pool_weights"]) == {"knn", "probe", "zeroshot"}


def test_platt_recovers_a_known_slope():
    rng = np.random.default_rng(0)
    n, k = 20000, 3
    s = rng.normal(size=(n, k))
    truth = rng.random((n, k)) < 1 / (1 + np.exp(-(2.0 * s - 1.0)))
    cells = CalibrationCells.draw(truth, rng, sample_rows=n)
    a, b = fit_platt(cells.gather(s), cells)
    np.testing.assert_allclose(a, 2.0, atol=0.15)
    np.testing.assert_allclose(b, -1.0, atol=0.15)


def test_confident_learning_flags_only_cells_the_prediction_contradicts():
    given = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 0], [0, 1]] * 10, dtype=bool)
    probs = np.where(given, 0.9, 0.1).astype(np.float32)
    probs[0, 0] = 0.05  # given but absent
    probs[4, 1] = 0.95  # missing
    flags, thresholds, _ = tag_confident_learning(given, probs, min_positives=2)
    assert flags[0, 0] and flags[4, 1]
    assert flags.sum() == 2
    assert thresholds.shape == (2,)


@pytest.mark.parametrize(
    "tags, error",
    [
        (np.zeros((10, 3)), DataError),  # row count differs
        (np.zeros(20), DataError),  # not multi-hot
        (np.full((20, 3), 2), DataError),  # not 0/1
    ],
)
def test_bad_inputs_raise_one_clear_error(tags, error):
    x = np.eye(20, 4, dtype=np.float32)
    with pytest.raises(error):
        score_tags(x, tags)


def test_bad_options_raise():
    x, given, _, _ = planted(n=100)
    with pytest.raises(UsageError):
        score_tags(x, given, folds=1)
    with pytest.raises(UsageError):
        score_tags(x, given, neighbor_idx=np.zeros((100, 3), dtype=np.int64))


def test_features_that_say_nothing_name_nothing():
    """Random features and tags: the noise channel has no evidence, so no tag is named wrong."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    res = score_tags(x, rng.random((300, 4)) < 0.3, seed=0)
    assert res.is_label_issue.mean() < 0.02
    assert res.params["rule"]["tags_without_noise_evidence"] >= 3
