import numpy as np
import pyarrow as pa
import pytest

from curate.data import Embedded, imbalance_ratio
from curate.errors import DataError
from curate.schemas import CLASSES
from curate.score.classes import class_statistics, count_subclusters, effective_number
from curate.score.duplicates import DuplicateResult


def _hand_built():
    """class a: 4 points around e0, class b: 2 points around e1, class c: empty."""
    x = np.array([[1, 0.1, 0], [1, -0.1, 0], [1, 0, 0.1], [1, 0, -0.1], [0.1, 1, 0], [-0.1, 1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 0, 1, 1])
    return Embedded(np.array([str(i) for i in range(6)], dtype=object), x, labels, ["a", "b", "c"])


def test_hand_built_values():
    data = _hand_built()
    dup = DuplicateResult(
        is_duplicate=np.array([False, True, False, False, False, False]),
        group=np.full(6, None, object),
        kind=np.full(6, None, object),
        keep=np.full(6, None, object),
        is_leak=np.zeros(6, bool),
        component=np.array([0, 0, 1, 2, 3, 4]),
        num_groups=1,
        num_exact_groups=0,
        num_near_groups=1,
        num_duplicates=1,
        num_leak_groups=0,
        num_leaked_samples=0,
    )
    cj = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    table = class_statistics(
        data,
        duplicates=dup,
        noise_rate=np.array([0.25, 0.0, 0.0]),
        is_label_issue=np.array([True, False, False, False, False, False]),
        confident_joint=cj,
        beta=0.5,
    )
    assert table.schema.equals(CLASSES)
    rows = table.to_pylist()
    a, b, c = rows
    assert (a["count"], b["count"], c["count"]) == (4, 2, 0)
    assert a["share"] == pytest.approx(4 / 6)
    assert a["effective_count"] == pytest.approx((1 - 0.5**4) / 0.5)
    assert b["effective_count"] == pytest.approx(1.5)
    assert (a["dedup_count"], b["dedup_count"]) == (3, 2)
    # class a members are at cos 1/sqrt(1.01) from their centroid e0
    assert a["spread"] == pytest.approx(1 - 1 / np.sqrt(1.01), rel=1e-4)
    assert a["nearest_class"] == "b" and b["nearest_class"] == "a"
    assert a["separability"] == 1.0 and b["separability"] == 1.0
    assert a["num_subclusters"] == 1
    assert a["noise_rate"] == 0.25 and a["label_issues"] == 1 and b["label_issues"] == 0
    assert a["confused_with"] == ["b"] and a["confused_counts"] == [1]
    assert b["confused_with"] == ["a"] and c["confused_with"] == []
    assert c["spread"] is None and c["nearest_class"] is None
    assert imbalance_ratio(table.column("count").to_numpy()) == 2.0


def test_optional_inputs_absent_leave_nulls():
    table = class_statistics(_hand_built())
    row = table.to_pylist()[0]
    assert row["dedup_count"] is None and row["noise_rate"] is None and row["confused_with"] is None
    assert row["effective_count"] == pytest.approx(effective_number(np.array([4]), 5 / 6)[0])
    with pytest.raises(DataError):
        class_statistics(_hand_built(), noise_rate=np.zeros(2))


def test_subcluster_count_recovers_planted_structure():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(128)
    for true_k in (1, 3):
        centres = rng.standard_normal((true_k, 128))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        lab = rng.integers(0, true_k, 600)
        noise = rng.standard_normal((600, 128))
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        x = 0.75 * base / np.linalg.norm(base) + 0.25 * centres[lab] + 0.6 * noise
        assert count_subclusters(x.astype(np.float32)) == true_k
    assert count_subclusters(np.ones((5, 8), dtype=np.float32)) == 1


def test_synthetic_table(synthetic_small):
    s = synthetic_small
    data = Embedded(np.arange(len(s.labels)).astype(str).astype(object), s.embeddings, s.labels, s.class_names)
    table = class_statistics(data)
    assert isinstance(table, pa.Table) and table.num_rows == len(s.class_names)
    counts = table.column("count").to_numpy()
    assert counts.sum() == len(s.labels)
    assert imbalance_ratio(counts) > 5
    # confusable partners are usually each other's nearest class
    nearest = table.column("nearest_class").to_pylist()
    pairs = [(k, p) for k, p in enumerate(s.confusable) if p >= 0]
    assert np.mean([nearest[k] == s.class_names[p] for k, p in pairs]) >= 0.7


def test_silhouette_from_distances_computed_once_is_sklearns():
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from curate.score.classes import _euclidean_distances, silhouette

    rng = np.random.default_rng(0)
    for n, k in [(40, 2), (300, 5), (123, 3)]:
        x = rng.normal(size=(n, 16))
        x[: n // 2] += 3.0
        assign = KMeans(k, n_init=3, random_state=0).fit_predict(x)
        assign[0] = k  # a cluster of one scores 0
        assert abs(silhouette(_euclidean_distances(x), assign) - silhouette_score(x, assign)) < 1e-12
