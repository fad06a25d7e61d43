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


def _median_nearest_neighbour_cosine(embeddings: np.ndarray) -> float:
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.median(sims.max(axis=1)))


def test_spread_sets_concentration():
    nearest = [
        _median_nearest_neighbour_cosine(make_dataset(1500, 10, dim=128, spread=s, seed=2).embeddings)
        for s in (2.0, 1.0, 0.3, 0.1)
    ]
    assert nearest == sorted(nearest) and nearest[0] < nearest[-1] - 0.3
    assert nearest[-1] > 0.98  # tight like a metric-learning model


def test_spread_one_is_the_default_output():
    default, explicit = make_dataset(1000, 10, dim=32, seed=4), make_dataset(1000, 10, dim=32, spread=1.0, seed=4)
    for name in ("embeddings", "labels", "true_labels", "duplicate_group", "is_outlier", "text_embeddings"):
        np.testing.assert_array_equal(getattr(default, name), getattr(explicit, name))
    # Values the generator produced before ``spread`` existed (a base row, outlier 288 and
    # near-duplicate 291): every test tuned on the default geometry keeps its data.
    before = [
        [-0.152231, 0.18019, 0.250382, -0.091751],
        [0.004216, 0.138455, 0.149702, 0.061066],
        [-0.376824, 0.011653, 0.440655, 0.244574],
    ]
    small = make_dataset(300, 5, dim=16, seed=4)
    assert small.is_outlier[288] and small.duplicate_group[291] >= 0 and not small.is_exact_duplicate[291]
    np.testing.assert_allclose(small.embeddings[[0, 288, 291], :4], before, atol=1e-6)
