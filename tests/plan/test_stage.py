"""The propose stage's record of the flagged labels it kept out of the review queue, and the
summary.json block export builds from it."""

import pyarrow as pa

from curate.export.stage import label_evidence_summary
from curate.plan.stage import not_queued


def test_not_queued_counts_per_class_pair():
    plan = pa.table(
        {
            "sample_id": ["0", "1", "2", "3"],
            "original_label": ["a", "a", "b", "a"],
            "reasons": [
                ["label issue: given a, suggested b (0.40)", "not queued: the evidence ..."],
                ["label issue: given a, suggested b (0.30)", "not queued: the evidence ..."],
                ["label issue: given b, suggested a (0.99)"],
                [],
            ],
        }
    )
    issues = pa.table({"sample_id": ["0", "1", "2", "3"], "suggested_label": ["b", "b", "a", "a"]})
    assert not_queued(plan, issues) == [{"given": "a", "suggested": "b", "count": 2}]
    assert not_queued(plan, None) == []


def test_summary_block_joins_the_measurement_and_the_plan():
    measured = {"strength": 0.3, "weak": True, "weak_pairs": []}
    block = label_evidence_summary(measured, [{"given": "a", "suggested": "b", "count": 2}])
    assert block["strength"] == 0.3 and block["num_not_queued"] == 2 and block["not_queued"][0]["count"] == 2
    assert label_evidence_summary(None, None) is None
