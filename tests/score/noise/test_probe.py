"""The probe's ridge strength is read from the data: strong where the probe would otherwise fit
noise dimensions, light where the classes need every direction at full strength."""

import numpy as np
import pytest

from curate.score.noise.probe import RIDGE_GRID, cv_folds, fit_linear_probe


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _noise_dimensions(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """300 rows in 200 dimensions; the class is in 2 of them, with 15 % of labels flipped: an
    unregularised probe memorises the other 198."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=300)
    x = rng.normal(size=(300, 200))
    x[:, 0] += 1.5 * np.cos(2 * np.pi * labels / 3)
    x[:, 1] += 1.5 * np.sin(2 * np.pi * labels / 3)
    flip = rng.random(300) < 0.15
    labels[flip] = (labels[flip] + 1) % 3
    return _unit(x), labels.astype(np.int64)


def _fine_directions(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3,000 rows in 16 dimensions, 8 classes separated along small offsets of a shared
    direction: a strong ridge shrinks exactly the directions that tell them apart."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, size=3000)
    centres = rng.normal(size=(8, 16)) * 0.05
    centres[:, 0] += 1.0
    x = centres[labels] + rng.normal(size=(3000, 16)) * 0.01
    return _unit(x), labels.astype(np.int64)


def _chosen(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(chosen ridge, the mean eigenvalue it is relative to)."""
    num_classes = int(labels.max()) + 1
    fold_of = cv_folds(labels, np.arange(len(labels)), folds=5, seed=0)
    probe = fit_linear_probe(x, labels, num_classes, fold_of)
    counts = np.bincount(labels, minlength=num_classes)
    weight = (counts / counts.mean())[labels] ** -1.0
    with_bias = np.c_[x.astype(np.float64), np.ones(len(x))]
    scale = float((weight[:, None] * with_bias**2).sum()) / with_bias.shape[1]
    return probe.ridge, scale


def test_ridge_is_strong_for_noise_dimensions_and_light_for_fine_directions():
    noisy, noisy_scale = _chosen(*_noise_dimensions())
    fine, fine_scale = _chosen(*_fine_directions())
    # both are points of the grid, relative to their own Gram matrix's mean eigenvalue
    for ridge, scale in ((noisy, noisy_scale), (fine, fine_scale)):
        assert np.min(np.abs(RIDGE_GRID * scale / ridge - 1)) < 1e-3
    assert noisy / noisy_scale >= 100 * (fine / fine_scale)


def _in_between(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """800 rows in 100 dimensions, 5 classes whose centres differ in every dimension a little,
    15 % of labels flipped: neither end of the grid is right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, size=800)
    x = rng.normal(size=(800, 100)) + (rng.normal(size=(5, 100)) * 0.4)[labels]
    flip = rng.random(800) < 0.15
    labels[flip] = (labels[flip] + 1) % 5
    return _unit(x), labels.astype(np.int64)


def test_an_interior_choice_beats_both_ends_of_the_grid_out_of_fold():
    """Out-of-fold accuracy against the given labels is what the choice is for."""
    from curate.score.noise.probe import linear_probe_logits

    x, labels = _in_between()
    fold_of = cv_folds(labels, np.arange(len(labels)), folds=5, seed=0)
    chosen, scale = _chosen(x, labels)
    assert RIDGE_GRID[0] * scale < chosen < RIDGE_GRID[-1] * scale

    def accuracy(ridge: float) -> float:
        return float((linear_probe_logits(x, labels, 5, fold_of, ridge=ridge).argmax(axis=1) == labels).mean())

    assert accuracy(chosen) > max(accuracy(RIDGE_GRID[0] * scale), accuracy(RIDGE_GRID[-1] * scale))


@pytest.mark.parametrize("ridge", [0.5, 30.0])
def test_a_given_ridge_is_used_as_given(ridge):
    x, labels = _fine_directions()
    fold_of = cv_folds(labels, np.arange(len(labels)), folds=3, seed=0)
    assert fit_linear_probe(x, labels, 8, fold_of, ridge=ridge).ridge == ridge


def test_lengths_fit_the_features_as_given_without_a_copy():
    """Two classes with the same directions and different lengths (a tumour's size): only the
    probe given the lengths tells them apart, and it equals a probe of the scaled copy."""
    from curate.score.noise.probe import linear_probe_logits

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=600).astype(np.int64)
    directions = _unit(rng.normal(size=(600, 4)) * 0.3 + np.array([1.0, 0, 0, 0]))
    lengths = np.where(labels == 1, 3.0, 1.0).astype(np.float32) * rng.uniform(0.9, 1.1, size=600).astype(np.float32)
    fold_of = cv_folds(labels, np.arange(600), folds=5, seed=0)

    def accuracy(scores: np.ndarray) -> float:
        return float((scores.argmax(axis=1) == labels).mean())

    probe = fit_linear_probe(directions, labels, 2, fold_of, lengths=lengths)
    given = np.concatenate(
        [probe.scores(directions[i : i + 100], fold_of[i : i + 100], lengths[i : i + 100]) for i in range(0, 600, 100)]
    )
    copied = linear_probe_logits(directions * lengths[:, None], labels, 2, fold_of, ridge=probe.ridge)
    np.testing.assert_allclose(given, copied, atol=1e-4)
    assert accuracy(given) > 0.95
    assert accuracy(linear_probe_logits(directions, labels, 2, fold_of)) < 0.7


def test_the_numpy_and_torch_passes_agree():
    """The CPU probe runs in numpy (no torch import); a GPU's in torch: the same sums and scores."""
    pytest.importorskip("torch")
    from curate.score.noise.probe import LinearProbe, _accumulate_np, _accumulate_torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 12)).astype(np.float32)
    labels = rng.integers(-1, 4, size=700)
    fold_of = np.where(labels >= 0, rng.integers(0, 3, size=700), -1)
    weight = np.array([1.0, 0.5, 2.0, 1.5])
    lengths = rng.uniform(0.5, 2.0, size=700).astype(np.float32)
    args = (x, labels, 4, fold_of, 3, weight, 128)
    for got, want in zip(_accumulate_np(*args, "cpu", lengths), _accumulate_torch(*args, "cpu", lengths)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    probe = fit_linear_probe(x, labels, 4, fold_of, ridge=1.0, lengths=lengths)
    on_torch = LinearProbe(weights=probe.weights, full=probe.full, ridge=probe.ridge, device="cpu")
    np.testing.assert_allclose(
        probe.scores(x, fold_of, lengths), on_torch._scores_torch(x, fold_of, lengths), rtol=1e-5, atol=1e-6
    )
