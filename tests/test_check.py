import json

import pytest

from curate.check import check_workspace, failed_checks
from curate.errors import DataError, UsageError
from curate.workspace import Workspace
from tests.fixtures.summary import SUMMARY


def test_library_lists_every_failure(summary_ws):
    failed = failed_checks(summary_ws, max_label_issues=0.05, max_duplicates=0.01, max_outliers=0.5, no_leakage=True)
    assert [f.name for f in failed] == ["label_issue_rate", "duplicate_rate"]
    assert failed[0].message == "label_issue_rate 0.12 > 0.05"
    assert all(r.passed for r in check_workspace(summary_ws, max_imbalance_ratio=20, max_unreadable=0.0))


def test_unmeasured_number_fails(summary_ws):
    summary_ws.path("summary").write_text(json.dumps({**SUMMARY, "label_issue_rate": None}))
    (result,) = failed_checks(summary_ws, max_label_issues=0.5)
    assert "not measured" in result.message and "curate score" in result.message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "at least one threshold"),
        ({"max_label_issues": -0.1}, "between 0 and 1"),
        ({"max_duplicates": 1.5}, "between 0 and 1"),
        ({"max_imbalance_ratio": 0.5}, "at least 1"),
    ],
)
def test_usage_errors(summary_ws, kwargs, match):
    with pytest.raises(UsageError, match=match):
        check_workspace(summary_ws, **kwargs)


def test_missing_or_corrupt_summary(tmp_path, summary_ws):
    with pytest.raises(UsageError, match="does not exist"):
        check_workspace(Workspace(tmp_path / "nope"), max_label_issues=0.1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="curate export"):
        check_workspace(Workspace(tmp_path / "empty"), max_label_issues=0.1)
    summary_ws.path("summary").write_text("{not json")
    with pytest.raises(DataError, match=r"summary.json is damaged \(JSONDecodeError.*re-run `curate export`"):
        check_workspace(summary_ws, max_label_issues=0.1)


def test_min_label_evidence_gates_from_below(summary_ws):
    summary_ws.path("summary").write_text(json.dumps({**SUMMARY, "label_evidence_strength": 0.31}))
    (result,) = failed_checks(summary_ws, min_label_evidence=0.5)
    assert result.message == "label_evidence_strength 0.31 < 0.5"
    assert all(r.passed for r in check_workspace(summary_ws, min_label_evidence=0.3))
