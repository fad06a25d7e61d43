"""A selection in a workspace: plan.parquet and manifest.parquet carry it, summary.json records it,
and a review (`curate apply`) keeps it."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.export.stage import run_export
from curate.plan.stage import run_propose
from curate.review.apply import apply_decisions
from curate.select.plan import NOT_SELECTED
from curate.select.stage import run_select


def test_a_selection_fills_plan_manifest_and_summary(scored_workspace):
    ws = scored_workspace
    run_propose(ws)
    run_export(ws)
    before = pq.read_table(ws.path("plan")).to_pydict()
    assert set(before["selected"]) == {None} and set(before["select_rank"]) == {None}
    result = run_select(ws, budget=0.25, seed=3)
    assert [step["stage"] for step in result["steps"]] == ["propose", "export"]
    plan = pq.read_table(ws.path("plan")).to_pydict()
    selected = np.array(plan["selected"], dtype=bool)
    rank = np.array(plan["select_rank"])
    count = round(0.25 * len(selected))  # every synthetic row is readable and embedded
    assert selected.sum() == count
    assert sorted(rank[selected].tolist()) == list(range(count)) and (rank[~selected] == -1).all()
    weight = np.array(plan["weight"])
    assert (weight[~selected] == 0).all()
    assert all(NOT_SELECTED in r for r, s in zip(plan["reasons"], selected) if not s)
    manifest = pq.read_table(ws.path("manifest")).to_pydict()
    assert manifest["selected"] == plan["selected"] and manifest["select_rank"] == plan["select_rank"]
    assert all(w == 0 for w, s in zip(manifest["weight"], manifest["selected"]) if not s)
    summary = ws.read_json("summary")["selection"]
    assert summary == result["selection"]
    assert (summary["budget"], summary["count"], summary["strategy"], summary["seed"]) == (0.25, count, "default", 3)
    assert sum(c["after"] for c in summary["per_class"].values()) == count
    assert sum(c["before"] for c in summary["per_class"].values()) == summary["num_selectable"]
    # the planted copies and label issues are what is left out, not what is taken
    assert summary["selected_by_tier"]["redundant"] == summary["selected_by_tier"]["label_issue"] == 0
    assert summary["left_out"]["redundant"] > 0 and summary["left_out"]["label_issue"] > 0


def test_the_same_seed_selects_the_same_rows_and_a_count_is_exact(scored_workspace):
    ws = scored_workspace
    run_propose(ws)
    run_select(ws, budget=200, seed=1)
    first = pq.read_table(ws.path("plan"), columns=["select_rank"]).column(0).to_pylist()
    run_select(ws, budget=200, seed=1)
    assert pq.read_table(ws.path("plan"), columns=["select_rank"]).column(0).to_pylist() == first
    assert sum(r >= 0 for r in first) == 200


def test_no_budget_removes_the_selection(scored_workspace):
    ws = scored_workspace
    run_propose(ws)
    plain = ws.record("plan")["fingerprint"]
    run_select(ws, budget=0.5)
    run_select(ws, budget=None)
    assert set(pq.read_table(ws.path("plan")).column("selected").to_pylist()) == {None}
    assert ws.record("plan")["fingerprint"] == plain  # a plan without selection does not read embeddings


def test_a_review_keeps_the_selection(scored_workspace, tmp_path):
    ws = scored_workspace
    run_propose(ws)
    run_export(ws)
    run_select(ws, budget=0.3, strategy="typical", seed=2)
    file = tmp_path / "decisions.csv"
    file.write_text("sample_id,decision,label,note\n0,drop,,blurry\n")
    apply_decisions(ws, file)
    assert ws.record("plan")["params"]["select_budget"] == 0.3
    summary = ws.read_json("summary")["selection"]
    assert (summary["strategy"], summary["seed"]) == ("typical", 2)
    manifest = pq.read_table(ws.path("manifest")).to_pydict()
    assert sum(bool(s) for s in manifest["selected"]) == summary["count"]
    row = manifest["sample_id"].index("0")
    assert manifest["action"][row] == "drop" and manifest["weight"][row] == 0


def test_a_plain_propose_after_a_selection_asks_for_overwrite(scored_workspace):
    run_propose(scored_workspace, select_budget=0.5)
    with pytest.raises(StaleWorkspaceError):
        run_propose(scored_workspace)


@pytest.mark.parametrize("budget", [0, -5, 0.0, 1.5, "x", True])
def test_bad_budgets_are_usage_errors(scored_workspace, budget):
    run_propose(scored_workspace)
    with pytest.raises(UsageError):
        run_select(scored_workspace, budget=budget)


def test_a_count_above_the_samples_is_a_usage_error(scored_workspace):
    run_propose(scored_workspace)
    with pytest.raises(UsageError, match="more than the 3,000"):
        run_select(scored_workspace, budget=3001)


def test_select_needs_a_plan(scored_workspace):
    with pytest.raises(DataError, match="curate propose"):
        run_select(scored_workspace, budget=0.5)


def test_the_report_shows_the_selection_per_class(scored_workspace):
    from curate.report.stage import run_report

    ws = scored_workspace
    run_propose(ws)
    run_export(ws)
    run_report(ws)
    assert 'id="selection"' not in ws.path("report").read_text()
    result = run_select(ws, budget=0.4)
    assert [step["stage"] for step in result["steps"]] == ["propose", "export", "report"]
    page = ws.path("report").read_text()
    assert 'id="selection"' in page and "1,200 of 3,000 samples selected" in page
