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
