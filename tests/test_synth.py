import numpy as np

from curate.synth import class_counts, make_dataset


def test_geometry_is_clip_like():
    d = make_dataset(4000, 20, dim=256, seed=3)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(d.embeddings), 1500, replace=False)
    e, y = d.embeddings[idx], d.true_labels[idx]
    sims = e @ e.T
    same = (y[:, None] == y[None]) & ~np.eye(len(idx), dtype=bool)
    diff = y[:, None] != y[None]
    assert 0.55 < sims[same].mean() < 0.68
    assert 0.45 < sims[diff].mean() < 0.55
    np.testing.assert_allclose(np.linalg.norm(d.embeddings, axis=1), 1.0, atol=1e-4)


def test_ground_truth_flags():
    d = make_dataset(5000, 25, dim=64, noise_rate=0.15, seed=1)
    assert 0.10 < d.is_noisy.mean() < 0.20
    assert (d.labels != d.true_labels)[~d.is_outlier].sum() == d.is_noisy.sum()
    exact = np.flatnonzero(d.is_exact_duplicate)
    assert len(exact) > 0
    for row in exact[:10]:
        group = np.flatnonzero(d.duplicate_group == d.duplicate_group[row])
        assert any(np.array_equal(d.embeddings[row], d.embeddings[g]) for g in group if g != row)
    assert d.is_outlier.sum() == 50
    counts = np.bincount(d.true_labels[~d.is_outlier])
    assert counts.max() / counts.min() > 10  # long tail


def test_deterministic():
    a, b = make_dataset(1000, 10, dim=32, seed=7), make_dataset(1000, 10, dim=32, seed=7)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_class_counts_sum_and_ratio():
    c = class_counts(10_000, 50, 100.0)
    assert c.sum() == 10_000 and c[0] / c[-1] > 50
