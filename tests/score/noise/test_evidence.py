"""Label evidence: how strongly the out-of-fold evidence supports judging labels, and the
calibrated probabilities the plan acts on (curate.score.noise.evidence)."""

import numpy as np
import pytest

from curate.data import Embedded
from curate.score.noise import score_label_noise
from curate.score.noise.evidence import describe_evidence
from tests.fixtures.noise import embedded_from_synthetic


@pytest.fixture(scope="module")
def separable(synthetic_small, synthetic_small_graph):
    return score_label_noise(embedded_from_synthetic(synthetic_small), neighbors=synthetic_small_graph)


@pytest.fixture(scope="module")
def random_space():
    """What a randomly initialised model gives: vectors that carry nothing of the labels."""
    rng = np.random.default_rng(0)
    n, k = 600, 6
    x = rng.standard_normal((n, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, k, n).astype(np.int64)
    data = Embedded(np.arange(n).astype(str).astype(object), x, labels, [f"c{i}" for i in range(k)])
    return score_label_noise(data, sources=("knn", "probe"))


def test_separable_space_is_strong_and_its_confident_suggestions_are_right(synthetic_small, separable):
    ev = separable.evidence
    assert ev.strength > 0.7 and not ev.is_weak
    assert ev.pairs and ev.weak_pairs() == []
    sure = separable.is_label_issue & (ev.suggestion_probability >= 0.95)
    assert sure.sum() > 20
    assert (separable.suggested_label[sure] == synthetic_small.true_labels[sure]).mean() > 0.95
    # a clean row's given label is more likely right than wrong; a planted error's mostly not
    clean = ~synthetic_small.is_noisy & ~synthetic_small.is_outlier
    assert np.median(ev.mislabel_probability[clean]) < 0.1
    assert np.median(ev.mislabel_probability[synthetic_small.is_noisy]) > 0.5


def test_random_space_reads_near_chance_and_says_so(random_space):
    ev = random_space.evidence
    assert abs(ev.strength) < 0.1 and ev.is_weak
    assert len(ev.weak_classes()) == 6
    record = ev.as_dict([f"c{i}" for i in range(6)])
    assert record["weak"] and record["strength"] < 0.1 and record["measured"]
    assert "WEAK" in describe_evidence(record)


def test_description_names_weak_pairs_and_what_was_not_queued():
    strong = {"strength": 0.8, "weak": False, "weak_pairs": []}
    assert describe_evidence(strong) is None and describe_evidence(None) is None
    pairs = {
        **strong,
        "weak_pairs": [{"classes": ["737-300", "737-400"], "separability": 0.2, "rows": 90}],
        "num_not_queued": 40,
        "not_queued": [{"given": "737-300", "suggested": "737-400", "count": 40}],
    }
    line = describe_evidence(pairs)
    assert "737-300 / 737-400" in line and "40 flagged labels in 1 class pair" in line


def test_auc_is_sklearns_with_ties_halved():
    from sklearn.metrics import roc_auc_score

    from curate.score.noise.evidence import _auc

    rng = np.random.default_rng(0)
    for scores in (rng.random(60), rng.integers(0, 4, 60).astype(float)):  # distinct, then many ties
        positive = rng.random(60) < 0.4
        assert abs(_auc(scores, positive) - roc_auc_score(positive, scores)) < 1e-12
