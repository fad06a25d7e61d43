import numpy as np

from curate.graph.scale import SimilarityScale
from curate.score.noise.calibrate import PooledProbabilities, fit_inverse_temperature
from curate.score.noise.knn import knn_vote_logits
from curate.score.noise.probe import cv_folds, linear_probe_logits


def test_knn_vote_ignores_near_duplicates_and_unlabelled_neighbours():
    labels = np.array([0, 1, 0, -1])
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    sims = np.array([[0.99, 0.6, 0.7], [0.99, 0.6, 0.7], [0.6, 0.6, 0.7], [0.7, 0.7, 0.7]], dtype=np.float32)
    probs = np.exp(
        knn_vote_logits(labels, idx, sims, 2, scale=SimilarityScale(duplicate_threshold=0.95, vote_temperature=0.05))
    )
    # Row 0's copy (cos 0.99, label 1) does not vote; its other labelled neighbour says 0.
    assert probs[0].argmax() == 0 and probs[0, 0] > 0.99
    # Row 1's copy is dropped too: only row 2 (label 0) votes, row 3 is unlabelled.
    assert probs[1].argmax() == 0
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_knn_vote_without_voters_is_flat():
    probs = np.exp(
        knn_vote_logits(
            np.array([0, 1]),
            np.array([[-1], [-1]]),
            np.array([[-np.inf], [-np.inf]], dtype=np.float32),
            2,
            scale=SimilarityScale(duplicate_threshold=0.95, vote_temperature=0.05),
        )
    )
    np.testing.assert_allclose(probs, 0.5)


def test_cv_folds_keep_groups_together_and_spread_every_class():
    labels = np.repeat(np.arange(4), [200, 50, 10, 5])
    groups = np.arange(len(labels))
    groups[1:20] = 0  # a duplicate group of 20 rows of class 0
    labels = np.append(labels, -1)
    groups = np.append(groups, 999)
    fold_of = cv_folds(labels, groups, folds=5, seed=1)
    assert len(set(fold_of[:20])) == 1 and fold_of[-1] == -1
    for cls in range(4):
        assert set(fold_of[labels == cls]) == set(range(5))
    assert not np.array_equal(fold_of, cv_folds(labels, groups, folds=5, seed=2))


def test_probe_scores_are_out_of_fold(synthetic_small):
    ds = synthetic_small
    groups = np.arange(len(ds.labels))
    fold_of = cv_folds(ds.labels, groups, folds=5, seed=0)
    scores = linear_probe_logits(ds.embeddings, ds.labels, 12, fold_of)
    # A probe that saw its own rows would side with the given (wrong) label on noisy rows.
    noisy = ds.is_noisy
    assert (scores[noisy].argmax(axis=1) == ds.true_labels[noisy]).mean() > 0.8
    assert (scores[~noisy].argmax(axis=1) == ds.labels[~noisy]).mean() > 0.85


def test_softmax_solver_agrees_with_ridge(synthetic_small):
    ds = synthetic_small
    fold_of = cv_folds(ds.labels, np.arange(len(ds.labels)), folds=3, seed=0)
    ridge = linear_probe_logits(ds.embeddings, ds.labels, 12, fold_of).argmax(axis=1)
    softmax = linear_probe_logits(ds.embeddings, ds.labels, 12, fold_of, solver="softmax", max_iter=10).argmax(axis=1)
    assert (ridge == softmax).mean() > 0.9


def test_temperature_fit_sharpens_informative_scores_and_estimates_noise():
    rng = np.random.default_rng(0)
    n, k = 4000, 10
    truth = rng.integers(0, k, n)
    scores = rng.normal(0, 1, (n, k)).astype(np.float32)
    scores[np.arange(n), truth] += 4
    labels = truth.copy()
    flip = rng.random(n) < 0.2
    labels[flip] = rng.integers(0, k, flip.sum())
    w, eps = fit_inverse_temperature(scores, labels)
    assert 0.1 < eps < 0.3
    probs = PooledProbabilities([lambda rows: scores[rows]], np.array([w]), n, k).block(np.arange(n))
    assert probs[np.arange(n), truth].mean() > 0.8


def test_probe_scores_do_not_depend_on_the_block(synthetic_small):
    from curate.score.noise.probe import fit_linear_probe

    ds = synthetic_small
    fold_of = cv_folds(ds.labels, np.arange(len(ds.labels)), folds=5, seed=0)
    fold_of[:7] = -1  # unlabelled rows: scored by the probe trained on every labelled row
    whole = linear_probe_logits(ds.embeddings, ds.labels, 12, fold_of)
    probe = fit_linear_probe(ds.embeddings, ds.labels, 12, fold_of)
    rows = np.random.default_rng(0).permutation(len(ds.labels))[:300]
    np.testing.assert_allclose(probe.scores(ds.embeddings[rows], fold_of[rows]), whole[rows], atol=1e-5)


def test_pooled_blocks_cover_every_row_in_order():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1000, 7)).astype(np.float32), rng.normal(size=(1000, 7)).astype(np.float32)
    pooled = PooledProbabilities([lambda r: a[r], lambda r: b[r]], np.array([0.5, 2.0]), 1000, 7)
    pooled_rows, blocks = zip(*pooled.blocks())
    assert len(blocks) > 1 or pooled.block_rows >= 1000
    np.testing.assert_array_equal(np.concatenate(pooled_rows), np.arange(1000))
    logits = 0.5 * a.astype(np.float64) + 2.0 * b
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.concatenate(blocks), expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)


def test_single_source_fit_finds_the_soft_optimum_not_the_sharp_plateau():
    from curate.score.noise.calibrate import fit_noise_share, fit_pooling, row_nll

    rng = np.random.default_rng(3)
    n, k = 300, 3
    truth = rng.integers(0, k, n)
    # log vote shares of a blurred vote: the true class gets a share around 0.6, floor 1e-3
    shares = rng.dirichlet(np.ones(k), n) * 0.8
    shares[np.arange(n), truth] += 0.6
    scores = np.log(shares / shares.sum(axis=1, keepdims=True) + 1e-3).astype(np.float32)
    labels = truth.copy()
    flip = rng.random(n) < 0.15
    labels[flip] = (truth[flip] + 1) % k
    (w,), eps = fit_pooling([scores], labels)
    fitted = row_nll([scores], labels, np.array([w]), eps).mean()
    for other in (w / 4, w * 4, 50 * w):
        other_eps = fit_noise_share([scores], labels, np.array([other]))
        assert fitted <= row_nll([scores], labels, np.array([other]), other_eps).mean() + 1e-6


def test_pool_keeps_the_geometric_mean_unless_held_out_rows_back_the_fit():
    from curate.score.noise.calibrate import fit_pooling, pooled_fit

    rng = np.random.default_rng(0)

    def sources(n, k, noise_share):
        truth = rng.integers(0, k, n)
        good = rng.normal(0, 1, (n, k)).astype(np.float32)
        good[np.arange(n), truth] += 3
        junk = rng.normal(0, 1, (n, k)).astype(np.float32)  # carries nothing
        labels = truth.copy()
        flip = rng.random(n) < noise_share
        labels[flip] = rng.integers(0, k, flip.sum())
        return [lambda r, x=good: x[r], lambda r, x=junk: x[r]], labels

    # many rows: dropping the junk source is a real held-out gain, so the fitted weights are kept
    many, labels = sources(3000, 5, 0.1)
    fit = pooled_fit(many, labels)
    assert fit.fitted and fit.gain > 0 and fit.weights[1] < 0.5 * fit.weights[0]
    assert "fitted weights" in fit.describe()
    # two near-equivalent sources on few rows: no held-out gain, the geometric mean stays
    few, labels = sources(60, 3, 0.15)
    twin = [few[0], lambda r, f=few[0]: f(r) + np.float32(0.01)]
    kept = pooled_fit(twin, labels)
    alone = [fit_pooling([s(np.arange(60))], labels)[0][0] for s in twin]
    assert not kept.fitted
    np.testing.assert_allclose(kept.weights, np.asarray(alone) / 2)
    assert "geometric mean" in kept.describe()


def test_pool_pass_in_blocks_and_threads_equals_the_whole_array(monkeypatch):
    """The calibration fits walk the pool in row blocks, in threads: the values must be the
    whole-array softmax's, bit for bit, whatever the block size and thread count."""
    from curate import threads
    from curate.score.noise.calibrate import _pool_pass

    rng = np.random.default_rng(3)
    n, k = 1037, 53
    y = rng.integers(0, k, n)
    a = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((n, k))
    w = np.array([2.5, 0.7])
    logits = 0 + w[0] * a.astype(np.float64) + w[1] * b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    want_given = p[np.arange(n), y]
    want_expected = np.stack([(p * a.astype(np.float64)).sum(axis=1), (p * b).sum(axis=1)])
    for cells, count in ((1 << 19, "1"), (k * 7, "1"), (k * 7, "2"), (k * 100, "3")):
        monkeypatch.setattr(threads, "BLOCK_CELLS", cells)
        monkeypatch.setenv("CURATE_THREADS", count)
        given, expected = _pool_pass([a, b], y, w, expectations=True)
        assert np.array_equal(given, want_given)
        assert np.array_equal(expected, want_expected)
        plain, none = _pool_pass([a, b], y, w, expectations=False)
        assert none.shape == (0, n)
        np.testing.assert_allclose(plain, want_given, rtol=1e-13)


def test_pooled_block_does_not_depend_on_sub_blocks_or_threads(monkeypatch):
    from curate import threads

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(999, 31)).astype(np.float32), rng.normal(size=(999, 31)).astype(np.float32)
    pooled = PooledProbabilities([lambda r: a[r], lambda r: b[r]], np.array([1.5, 0.3]), 999, 31)
    rows = np.arange(999)
    monkeypatch.setenv("CURATE_THREADS", "1")
    monkeypatch.setattr(threads, "BLOCK_CELLS", 1 << 30)  # one block: the whole-array softmax
    whole = pooled.block(rows)
    for cells, count in ((31 * 5, "1"), (31 * 5, "2"), (31 * 64, "3")):
        monkeypatch.setattr(threads, "BLOCK_CELLS", cells)
        monkeypatch.setenv("CURATE_THREADS", count)
        assert np.array_equal(pooled.block(rows), whole)
