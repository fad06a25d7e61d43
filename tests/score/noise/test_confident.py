"""The block-by-block confident learning gives exactly cleanlab's answers on the same probabilities."""

import warnings

import numpy as np
import pytest

from curate.errors import UsageError
from curate.score.noise import confident
from curate.score.noise.confident import FILTERS, DenseProbabilities, confident_learning


def noisy_probs(n: int, k: int, seed: int, *, missing: tuple[int, ...] = (), singleton: int | None = None):
    """Float32 probabilities of a sharp-ish model and labels with 20 % flips (some to a twin class)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    truth = np.where(np.isin(truth, missing), (truth + 1) % k, truth)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += rng.uniform(0.5, 4, n)
    twin = (truth + 1) % k
    logits[np.arange(n), twin] += rng.uniform(0, 2, n)
    probs = np.exp(logits)
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = truth.copy()
    flip = rng.random(n) < 0.2
    labels[flip] = np.where(rng.random(flip.sum()) < 0.5, twin[flip], rng.integers(0, k, flip.sum()))
    labels = np.where(np.isin(labels, missing), truth, labels)
    if singleton is not None:
        labels[labels == singleton] = (singleton + 2) % k
        labels[0] = singleton
    return labels.astype(np.int64), probs


def cleanlab_reference(labels, probs, filter_by):
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint = compute_confident_joint(labels, probs)
        issues = find_label_issues(labels, probs, filter_by=filter_by, confident_joint=joint, n_jobs=1)
        quality = get_label_quality_scores(labels, probs, method="self_confidence")
    return issues, joint, quality


@pytest.mark.parametrize("filter_by", FILTERS)
@pytest.mark.parametrize("case", ["plain", "absent and single classes", "small blocks"])
def test_flags_match_cleanlab_exactly(monkeypatch, filter_by, case):
    n, k = 3000, 17
    if case == "absent and single classes":
        labels, probs = noisy_probs(n, k, seed=1, missing=(5,), singleton=9)
    else:
        labels, probs = noisy_probs(n, k, seed=2)
    if case == "small blocks":
        monkeypatch.setattr(confident, "BLOCK_CELLS", 64 * k)  # 256-row blocks, classes batched
    issues, joint, quality = cleanlab_reference(labels, probs, filter_by)
    result = confident_learning(labels, DenseProbabilities(probs), filter_by=filter_by)
    np.testing.assert_array_equal(result.is_label_issue, issues)
    np.testing.assert_array_equal(result.confident_joint, joint)
    np.testing.assert_array_equal(result.label_quality, quality)
    np.testing.assert_array_equal(result.suggested_label, probs.argmax(axis=1))
    assert 0.02 < issues.mean() < 0.6  # the comparison is about real flags, not an empty mask


def test_unlabelled_rows_are_left_out_and_still_get_suggestions():
    labels, probs = noisy_probs(2000, 9, seed=3)
    hidden = np.random.default_rng(0).random(len(labels)) < 0.25
    given = np.where(hidden, -1, labels)
    issues, joint, _ = cleanlab_reference(labels[~hidden], probs[~hidden], "prune_by_noise_rate")
    result = confident_learning(given, DenseProbabilities(probs))
    np.testing.assert_array_equal(result.is_label_issue[~hidden], issues)
    assert not result.is_label_issue[hidden].any() and np.isnan(result.label_quality[hidden]).all()
    np.testing.assert_array_equal(result.suggested_label, probs.argmax(axis=1))
    np.testing.assert_array_equal(result.confident_joint, joint)


def test_noise_rates_and_pairs_come_from_the_calibrated_joint():
    labels, probs = noisy_probs(4000, 6, seed=4)
    result = confident_learning(labels, DenseProbabilities(probs), keep_pred_probs=True)
    joint = result.confident_joint
    np.testing.assert_array_equal(joint.sum(axis=1), np.bincount(labels, minlength=6))
    np.testing.assert_allclose(result.noise_rate, 1 - np.diag(joint) / joint.sum(axis=1))
    given, suggested, count = result.confused_pairs[0]
    assert suggested == (given + 1) % 6 and count == joint[given, suggested]  # the planted twin
    np.testing.assert_array_equal(result.pred_probs, probs)


def test_unknown_filter_is_a_usage_error():
    labels, probs = noisy_probs(100, 3, seed=5)
    with pytest.raises(UsageError, match="unknown filter_by 'low_self_confidence'"):
        confident_learning(labels, DenseProbabilities(probs), filter_by="low_self_confidence")
