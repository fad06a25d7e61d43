import numpy as np
import pytest

from curate.data import Embedded
from curate.graph.neighbors import exact_knn
from curate.graph.vote import knn_vote
from curate.negatives.mining import (
    LabelHints,
    confusion_pairs,
    mine_hard_negatives,
    naive_hard_negatives,
    plan_batches,
)


def _embedded(synth):
    n = len(synth.labels)
    return Embedded(
        sample_ids=np.arange(n).astype(str).astype(object),
        embeddings=synth.embeddings,
        labels=synth.labels.copy(),
        class_names=synth.class_names,
    )


def _false_negative_rate(synth, anchors_idx):
    anchors = np.repeat(np.arange(len(anchors_idx)), anchors_idx.shape[1])
    negs = anchors_idx.ravel()
    ok = negs >= 0
    a, b = anchors[ok], negs[ok]
    same_true = synth.true_labels[a] == synth.true_labels[b]
    same_group = (synth.duplicate_group[a] >= 0) & (synth.duplicate_group[a] == synth.duplicate_group[b])
    return float((same_true | same_group).mean())


@pytest.fixture(scope="module")
def knn(synthetic_small):
    return exact_knn(synthetic_small.embeddings, 20)


def test_knn_vote_majority_and_share():
    labels = np.array([0, 0, 1, -1])
    idx = np.array([[1, 2, 3], [0, 2, -1], [0, 1, 3], [0, 1, 2]])
    majority, share = knn_vote(labels, idx, 2)
    assert majority.tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(share, [0.5, 0.5, 1.0, 2 / 3], rtol=1e-6)
    majority, share = knn_vote(labels, np.full((4, 2), -1), 2)
    assert majority.tolist() == [-1] * 4 and share.tolist() == [0.0] * 4


def test_negatives_have_other_labels_and_are_sorted(synthetic_small, knn):
    data = _embedded(synthetic_small)
    neg_idx, neg_sims = mine_hard_negatives(data, knn, num_negatives=5)
    assert neg_idx.shape == (len(data), 5) and neg_sims.dtype == np.float32
    ok = neg_idx >= 0
    anchors = np.repeat(np.arange(len(data)), 5).reshape(-1, 5)
    assert (data.labels[neg_idx[ok]] != data.labels[anchors[ok]]).all()
    assert (neg_sims[ok] < 0.95).all()
    filled = ok.all(axis=1)
    assert filled.mean() > 0.99  # the further search fills rows the stored 20 neighbours could not
    assert (np.diff(neg_sims[filled], axis=1) <= 1e-6).all()


def test_filtering_halves_false_negatives(synthetic_small, knn):
    data = _embedded(synthetic_small)
    naive, _ = naive_hard_negatives(data, knn, num_negatives=10)
    voted, _ = mine_hard_negatives(data, knn, num_negatives=10)
    hints = LabelHints(
        suggested_label=synthetic_small.true_labels.copy(),
        duplicate_group=synthetic_small.duplicate_group.copy(),
    )
    oracle, _ = mine_hard_negatives(data, knn, num_negatives=10, hints=hints)
    base = _false_negative_rate(synthetic_small, naive)
    assert _false_negative_rate(synthetic_small, voted) < 0.5 * base  # the benchmark's target
    # with perfect hints only anchors whose own label is wrong *and* hidden remain
    assert _false_negative_rate(synthetic_small, oracle) < 0.05 * base + 1e-9


def test_duplicate_group_and_threshold_excluded():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((6, 8)).astype(np.float32)
    emb[1] = emb[0] + 0.01
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    data = Embedded(
        sample_ids=np.arange(6).astype(str).astype(object),
        embeddings=emb,
        labels=np.array([0, 1, 1, 1, 1, -1]),
        class_names=["a", "b"],
    )
    knn = exact_knn(emb, 5)
    idx, _ = mine_hard_negatives(data, knn, num_negatives=5)
    assert 1 not in idx[0]  # cosine ~1: a duplicate, not a negative
    assert (idx[5] == -1).all()  # unlabelled anchors get nothing
    groups = np.array([-1, -1, 7, -1, 7, -1])
    hints = LabelHints(suggested_label=data.labels.copy(), duplicate_group=groups)
    data.labels[2] = 0
    idx, _ = mine_hard_negatives(data, knn, num_negatives=5, hints=hints)
    assert 4 not in idx[2] and 2 not in idx[4]


def test_confusion_pairs_counts_both_directions():
    labels = np.array([0, 1, 2, 1])
    neg = np.array([[1, 3], [0, -1], [3, -1], [0, 2]])
    pairs = confusion_pairs(labels, neg, 3, min_count=1)
    # sizes 1/2/1; expected 0<->1: class 0's 2 links * 2/3 + class 1's 3 links * 1/2 = 17/6
    assert pairs[0][:3] == (0, 1, 4) and pairs[0][3] == pytest.approx(4 / (17 / 6))
    assert [p[:3] for p in pairs] == [(0, 1, 4), (1, 2, 2)]
    assert [p[:3] for p in confusion_pairs(labels, neg, 3, min_count=3)] == [(0, 1, 4)]


def test_confusion_pairs_find_planted_confusable_classes(synthetic_small, knn):
    data = _embedded(synthetic_small)
    neg_idx, _ = mine_hard_negatives(data, knn, num_negatives=5)
    pairs = confusion_pairs(data.labels, neg_idx, data.num_classes, top=2)
    assert {(a, b) for a, b, _, _ in pairs} == {(2, 9), (6, 7)}  # the two planted confusable pairs


def test_batches_group_hard_negatives(synthetic_small, knn):
    data = _embedded(synthetic_small)
    neg_idx, _ = mine_hard_negatives(data, knn, num_negatives=5)
    batch = plan_batches(data.embeddings, neg_idx, batch_size=128, seed=0)
    sizes = np.bincount(batch)
    assert sizes[:-1].tolist() == [128] * (len(sizes) - 1) and 0 < sizes[-1] <= 128
    ok = neg_idx >= 0
    anchors = np.repeat(np.arange(len(data)), 5).reshape(-1, 5)
    together = (batch[anchors[ok]] == batch[neg_idx[ok]]).mean()
    random_batch = np.random.default_rng(0).permutation(batch)
    by_chance = (random_batch[anchors[ok]] == random_batch[neg_idx[ok]]).mean()
    assert together > 5 * by_chance
    local = plan_batches(data.embeddings, batch_size=128, seed=0)  # locality order only
    assert np.bincount(local).max() == 128
    assert plan_batches(data.embeddings[:50], batch_size=128).tolist() == [0] * 50


def test_search_nprobe_reaches_the_ivf_search(monkeypatch, synthetic_small, knn):
    from curate.graph import neighbors as graph_neighbors

    data = _embedded(synthetic_small)
    exact, exact_sims = mine_hard_negatives(data, knn, num_negatives=5)
    monkeypatch.setattr(graph_neighbors, "EXACT_MAX_CPU", 0)  # "auto" now picks the ivf engine
    # every list probed: the ivf search scans every row, so it finds what exact search finds
    every, every_sims = mine_hard_negatives(data, knn, num_negatives=5, search_nprobe=10_000)
    np.testing.assert_allclose(every_sims, exact_sims, atol=1e-5)
    one, one_sims = mine_hard_negatives(data, knn, num_negatives=5, search_nprobe=1)
    assert not np.array_equal(one, exact)
    assert np.nanmean(one_sims) <= np.nanmean(exact_sims) + 1e-6  # fewer lists: never harder
