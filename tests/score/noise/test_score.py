import numpy as np
import pytest

from curate.errors import UsageError
from curate.score.noise import score_label_noise
from tests.fixtures.noise import embedded_from_synthetic


def precision_recall(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = int((pred & truth).sum())
    return tp / max(int(pred.sum()), 1), tp / max(int(truth.sum()), 1)


@pytest.fixture(scope="module")
def full_result(synthetic_small, synthetic_small_graph):
    return score_label_noise(embedded_from_synthetic(synthetic_small), neighbors=synthetic_small_graph)


def test_finds_planted_label_errors(synthetic_small, full_result):
    precision, recall = precision_recall(full_result.is_label_issue, synthetic_small.is_noisy)
    # Flagging nothing, everything, or at random (15 % noise) fails these floors.
    assert precision > 0.85 and recall > 0.85
    clean = ~synthetic_small.is_noisy
    assert full_result.label_quality[clean].mean() > full_result.label_quality[synthetic_small.is_noisy].mean() + 0.3


def test_outputs_have_documented_shapes_and_ranges(synthetic_small, full_result):
    n, k = len(synthetic_small.labels), len(synthetic_small.class_names)
    r = full_result
    assert r.label_quality.shape == (n,) and r.label_quality.dtype == np.float32
    assert np.all((r.label_quality >= 0) & (r.label_quality <= 1))
    assert r.is_label_issue.dtype == bool
    assert r.suggested_label.dtype == np.int64 and r.suggested_label.min() >= 0 and r.suggested_label.max() < k
    assert r.pred_probs.shape == (n, k) and np.allclose(r.pred_probs.sum(axis=1), 1, atol=1e-4)
    assert r.noise_rate.shape == (k,) and r.confident_joint.shape == (k, k)
    # Suggestions for flagged rows mostly recover the true class.
    flagged = r.is_label_issue & synthetic_small.is_noisy
    assert (r.suggested_label[flagged] == synthetic_small.true_labels[flagged]).mean() > 0.8


def test_tail_classes_are_not_flagged_wholesale(synthetic_small, full_result):
    labels, truth = synthetic_small.labels, synthetic_small.is_noisy
    counts = np.bincount(labels)
    for cls in np.argsort(counts)[:3]:
        rows = labels == cls
        flagged, true_rate = full_result.is_label_issue[rows].mean(), truth[rows].mean()
        assert abs(flagged - true_rate) < 0.15, (cls, flagged, true_rate)
        # ... and their real errors are still found.
        assert precision_recall(full_result.is_label_issue[rows], truth[rows])[1] > 0.7


def test_noise_rate_and_confused_pairs_follow_the_planted_confusions(synthetic_small, full_result):
    true_rate = np.array(
        [synthetic_small.is_noisy[synthetic_small.labels == c].mean() for c in range(len(synthetic_small.class_names))]
    )
    assert np.abs(full_result.noise_rate - true_rate).max() < 0.1
    given, suggested, count = full_result.confused_pairs[0]
    assert synthetic_small.confusable[given] == suggested and count > 0


@pytest.mark.parametrize("sources", [("knn",), ("probe",), ("zeroshot",), ("knn", "probe")])
def test_each_source_can_run_alone_or_be_switched_off(synthetic_small, synthetic_small_graph, sources):
    r = score_label_noise(embedded_from_synthetic(synthetic_small), neighbors=synthetic_small_graph, sources=sources)
    weights_note = next(n for n in r.notes if n.startswith("pooling weights"))
    assert [part.split("=")[0] for part in weights_note.split(": ")[1].split(", ")] == list(sources)
    precision, recall = precision_recall(r.is_label_issue, synthetic_small.is_noisy)
    if sources == ("zeroshot",):  # the synthetic class-name embeddings are weak, as CLIP's often are
        assert recall > 0.5 and precision > synthetic_small.is_noisy.mean()
    else:
        assert precision > 0.75 and recall > 0.8


def test_zeroshot_without_text_embeddings_is_noted(synthetic_small, synthetic_small_graph):
    r = score_label_noise(embedded_from_synthetic(synthetic_small, text=False), neighbors=synthetic_small_graph)
    assert any("zeroshot source unused" in n for n in r.notes)
    assert precision_recall(r.is_label_issue, synthetic_small.is_noisy)[1] > 0.8


def test_computes_the_graph_itself_when_not_given(synthetic_small, full_result):
    r = score_label_noise(embedded_from_synthetic(synthetic_small))
    np.testing.assert_array_equal(r.is_label_issue, full_result.is_label_issue)


def test_unlabelled_rows_are_skipped_but_get_suggestions(synthetic_small, synthetic_small_graph):
    labels = synthetic_small.labels.copy()
    hidden = np.random.default_rng(0).random(len(labels)) < 0.1
    labels[hidden] = -1
    r = score_label_noise(embedded_from_synthetic(synthetic_small, labels), neighbors=synthetic_small_graph)
    assert np.isnan(r.label_quality[hidden]).all() and not r.is_label_issue[hidden].any()
    assert np.isfinite(r.label_quality[~hidden]).all()
    clean_hidden = hidden & ~synthetic_small.is_outlier
    assert (r.suggested_label[clean_hidden] == synthetic_small.true_labels[clean_hidden]).mean() > 0.85
    assert precision_recall(r.is_label_issue[~hidden], synthetic_small.is_noisy[~hidden])[1] > 0.8


def test_all_unlabelled_is_skipped_with_a_note(synthetic_small):
    labels = np.full(len(synthetic_small.labels), -1)
    r = score_label_noise(embedded_from_synthetic(synthetic_small, labels))
    assert r.notes == ["skipped: unlabelled (no labelled samples to score)"]
    assert not r.is_label_issue.any() and np.isnan(r.label_quality).all()
    assert (r.suggested_label == -1).all()


def test_one_class_is_skipped_with_a_note(synthetic_small):
    labels = np.where(synthetic_small.labels >= 0, 3, -1)
    r = score_label_noise(embedded_from_synthetic(synthetic_small, labels))
    assert r.notes[0].startswith("skipped: one class") and r.num_issues == 0
    assert r.issue_rate is None


def test_a_class_with_a_single_sample_does_not_crash(synthetic_small, synthetic_small_graph):
    labels = synthetic_small.labels.copy()
    labels[labels == 11] = 10
    labels[np.flatnonzero(synthetic_small.labels == 11)[0]] = 11
    r = score_label_noise(embedded_from_synthetic(synthetic_small, labels), neighbors=synthetic_small_graph)
    assert any("single sample" in n for n in r.notes)
    assert np.isfinite(r.label_quality).all() and r.pred_probs.shape[1] == 12
    assert precision_recall(r.is_label_issue, labels != synthetic_small.true_labels)[0] > 0.7


def test_bad_options_are_usage_errors(synthetic_small):
    data = embedded_from_synthetic(synthetic_small)
    with pytest.raises(UsageError, match="unknown label-noise sources"):
        score_label_noise(data, sources=("knn", "magic"))
    with pytest.raises(UsageError, match="folds"):
        score_label_noise(data, folds=1)


def test_fewer_rows_than_neighbours_and_folds(synthetic_small):
    rows = np.r_[np.flatnonzero(synthetic_small.labels == 0)[:3], np.flatnonzero(synthetic_small.labels == 1)[:1]]
    data = embedded_from_synthetic(synthetic_small)
    data.embeddings, data.labels, data.sample_ids = data.embeddings[rows], data.labels[rows], data.sample_ids[rows]
    r = score_label_noise(data)
    assert len(r) == 4 and np.isfinite(r.label_quality).all()


def test_memory_check_refuses_what_cannot_fit(monkeypatch, synthetic_small):
    from curate.data import Embedded
    from curate.errors import DataError
    from curate.score.noise import score as score_module

    # The N x K probabilities are walked in blocks: a million samples x 1000 classes fits in 1 GB ...
    score_module.check_memory(1_000_000, 1000, 5000, available=2**30)
    # ... K x K matrices do not (100k classes: ~640 GB).
    with pytest.raises(DataError, match=r"1000000 samples x 100000 classes needs about 6\d\d\.\d GB"):
        score_module.check_memory(1_000_000, 100_000, 10, available=10 * 2**30)
    monkeypatch.setattr(score_module, "available_memory_bytes", lambda: 1000)
    data = Embedded(
        np.arange(len(synthetic_small.labels)).astype(str).astype(object),
        synthetic_small.embeddings,
        synthetic_small.labels,
        synthetic_small.class_names,
    )
    with pytest.raises(DataError, match="needs about"):
        score_module.score_label_noise(data)


def test_large_runs_do_not_keep_the_dense_probabilities(
    monkeypatch, synthetic_small, synthetic_small_graph, full_result
):
    from curate.score.noise import confident
    from curate.score.noise import score as score_module

    monkeypatch.setattr(score_module, "KEEP_PRED_PROBS_CELLS", 10)
    monkeypatch.setattr(confident, "BLOCK_CELLS", 12 * 300)  # many small blocks
    r = score_label_noise(embedded_from_synthetic(synthetic_small), neighbors=synthetic_small_graph)
    assert r.pred_probs is None
    np.testing.assert_array_equal(r.is_label_issue, full_result.is_label_issue)
    np.testing.assert_array_equal(r.suggested_label, full_result.suggested_label)
    np.testing.assert_allclose(r.label_quality, full_result.label_quality, atol=1e-6)


def test_euclidean_vote_reads_the_features_lengths_where_the_cosine_vote_cannot():
    """Two classes that differ only in length (the same spread of directions): a cosine vote is
    blind to them, the Euclidean vote over the features as given finds the flipped labels."""
    from curate.data import Embedded

    rng = np.random.default_rng(1)
    n, dim = 600, 3
    truth = np.arange(n) % 2
    directions = rng.normal(size=(n, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lengths = np.where(truth == 0, 1.0, 6.0) * rng.uniform(0.9, 1.1, size=n)
    labels = truth.copy()
    flipped = rng.choice(n, size=40, replace=False)
    labels[flipped] = 1 - labels[flipped]
    data = Embedded(
        sample_ids=np.arange(n).astype(str).astype(object),
        embeddings=directions.astype(np.float32),
        labels=labels,
        class_names=["small", "large"],
        norms=lengths.astype(np.float32),
    )
    noisy = np.zeros(n, dtype=bool)
    noisy[flipped] = True
    with_lengths = score_label_noise(data, sources=("knn", "euclidean"))
    precision, recall = precision_recall(with_lengths.is_label_issue, noisy)
    assert precision > 0.9 and recall > 0.9
    assert "euclidean" in next(note for note in with_lengths.notes if note.startswith("pooling weights"))
    cosine_only = score_label_noise(data, sources=("knn",))
    assert precision_recall(cosine_only.is_label_issue, noisy)[0] < 0.2  # chance is 40 / 600


def test_euclidean_source_is_unused_for_unit_length_embeddings(synthetic_small, synthetic_small_graph):
    r = score_label_noise(
        embedded_from_synthetic(synthetic_small), neighbors=synthetic_small_graph, sources=("knn", "euclidean")
    )
    assert any("euclidean source unused" in n for n in r.notes)
    assert next(n for n in r.notes if n.startswith("pooling weights")).endswith(tuple("0123456789"))
    assert "euclidean=" not in next(n for n in r.notes if n.startswith("pooling weights"))
