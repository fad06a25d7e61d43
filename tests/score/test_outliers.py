import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from curate.data import Embedded
from curate.errors import DataError
from curate.graph.neighbors import exact_knn
from curate.score.outliers import Z_THRESHOLD, robust_z, score_outliers


def _data(s):
    x = s.embeddings
    return Embedded(np.arange(len(x)).astype(str).astype(object), x, s.labels, s.class_names)


def test_synthetic_auroc_floor_and_score_range(synthetic_small):
    data = _data(synthetic_small)
    res = score_outliers(data, exact_knn(data.embeddings, 10))
    assert res.outlier_score.dtype == np.float32
    assert (res.outlier_score >= 0).all() and (res.outlier_score <= 1).all()
    assert roc_auc_score(synthetic_small.is_outlier, 1 - res.outlier_score) >= 0.95
    np.testing.assert_array_equal(res.is_outlier, res.outlier_score < 0.5)
    # the 3.5 robust-z cut is conservative at D=64: few flags, mostly real outliers
    flagged = res.is_outlier
    assert flagged.sum() >= 5 and (flagged & synthetic_small.is_outlier).sum() / flagged.sum() >= 0.6
    assert np.median(res.outlier_score) > 0.99


def test_knn_only_and_unlabelled(synthetic_small):
    data = _data(synthetic_small)
    data.labels = np.full(len(data), -1)
    res = score_outliers(data, exact_knn(data.embeddings, 10), centroid_weight=0.0)
    assert np.isnan(res.centroid_distance).all()
    assert roc_auc_score(synthetic_small.is_outlier, res.z) >= 0.95


def test_isolated_point_scores_low():
    rng = np.random.default_rng(0)
    centre = rng.standard_normal(16)
    x = centre + 0.1 * rng.standard_normal((200, 16))
    x[0] = -centre
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    data = Embedded(np.arange(200).astype(str).astype(object), x, np.zeros(200, dtype=np.int64), ["a"])
    res = score_outliers(data, exact_knn(x, 5))
    assert res.is_outlier[0] and res.outlier_score[0] < 0.01
    assert res.z[0] > Z_THRESHOLD


def test_robust_z_and_errors(synthetic_small):
    z = robust_z(np.append(np.arange(1.0, 21.0), 100.0))
    assert z[10] == 0 and z[-1] > 10
    # right-skewed distances (the usual shape, extreme in tight spaces) are not a tail of outliers:
    # a symmetric MAD flags 2.2 % of this lognormal sample, the upper-half scale 1.2 %
    skewed = np.random.default_rng(0).lognormal(0.0, 0.5, 20_000)
    assert (robust_z(skewed) > Z_THRESHOLD).mean() < 0.015
    assert np.isfinite(robust_z(np.ones(5))).all()
    data = _data(synthetic_small)
    with pytest.raises(DataError):
        score_outliers(data, exact_knn(data.embeddings[:10], 3))


def test_mislabelled_samples_in_a_tight_space_do_not_outrank_real_outliers():
    """Tight class clusters (a metric-learning model's space) with flipped labels: a flipped sample
    is far from its given class's centroid, but near its true class, so the class term (the
    smaller of the given- and nearest-class z) leaves it alone; real outliers are far from both."""
    rng = np.random.default_rng(7)
    num_classes, per_class, dim = 6, 60, 16
    centres = rng.normal(size=(num_classes, dim))
    truth = np.repeat(np.arange(num_classes), per_class)
    x = centres[truth] + 0.05 * rng.normal(size=(len(truth), dim))
    labels = truth.copy()
    flipped = rng.choice(len(truth), size=40, replace=False)
    labels[flipped] = (labels[flipped] + 1) % num_classes
    outliers = rng.normal(size=(6, dim)) * 2.0
    x = np.vstack([x, outliers])
    labels = np.append(labels, rng.integers(0, num_classes, size=6))
    emb = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    data = Embedded(np.arange(len(emb)).astype(str).astype(object), emb, labels, [str(c) for c in range(num_classes)])
    result = score_outliers(data, exact_knn(emb, 20))
    is_outlier = np.arange(len(emb)) >= len(truth)
    assert roc_auc_score(is_outlier, result.z) == 1.0
    assert not result.is_outlier[flipped].any()
    assert result.z[flipped].max() < Z_THRESHOLD
