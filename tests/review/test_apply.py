"""`curate apply` in the library: decisions recorded in the workspace win over the rules in the
plan and the manifest, stay when re-applied, and a bad file changes nothing."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from curate.errors import DataError
from curate.export.stage import run_export
from curate.plan.stage import run_propose
from curate.review.apply import apply_decisions, record_decisions
from curate.review.decisions import DecisionFileError


def plan_rows(ws):
    return {r["sample_id"]: r for r in pq.read_table(ws.path("plan")).to_pylist()}


def write(path, *rows):
    path.write_text("sample_id,decision,label,note\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def test_decisions_win_over_the_rules_and_are_counted(scored_workspace, tmp_path):
    ws = scored_workspace
    run_propose(ws, strategy="sqrt")
    run_export(ws)
    before = plan_rows(ws)
    relabelled = next(s for s, r in before.items() if r["action"] == "relabel")
    reviewed = next(s for s, r in before.items() if r["action"] == "review" and r["suggested_action"] == "relabel")
    kept = next(s for s, r in before.items() if r["action"] == "keep" and r["original_label"] is not None)
    file = write(
        tmp_path / "d.csv",
        (relabelled, "keep", "", "the given label is right"),
        (reviewed, "accept", "", ""),
        (kept, "drop", "", ""),
    )
    out = apply_decisions(ws, file)
    # accepted / overruled count proposals, as summary.json's review does; the kept sample was none
    assert (out["recorded"], out["accepted"], out["overruled"], out["total"]) == (3, 1, 1, 3)
    assert out["not_proposals"] == 1
    assert [s["stage"] for s in out["steps"]] == ["propose", "export"]  # no report yet: left alone
    assert pq.read_metadata(ws.path("plan")).metadata  # re-run with its own parameters (sqrt), not refused
    plan = plan_rows(ws)
    assert (plan[relabelled]["action"], plan[relabelled]["label"]) == ("keep", before[relabelled]["original_label"])
    assert plan[relabelled]["reasons"][-1] == (
        f"reviewed: keep {before[relabelled]['original_label']} — the given label is right"
    )
    assert (plan[reviewed]["action"], plan[reviewed]["label"]) == ("relabel", before[reviewed]["suggested_label"])
    assert plan[reviewed]["weight"] > 0
    assert (plan[kept]["action"], plan[kept]["weight"]) == ("drop", 0.0)
    assert [plan[s]["reviewed"] for s in (relabelled, reviewed, kept)] == ["overruled", "accepted", "overruled"]
    assert all(plan[s]["proposed_action"] == before[s]["action"] for s in (relabelled, reviewed, kept))

    manifest = {r["sample_id"]: r for r in pq.read_table(ws.path("manifest")).to_pylist()}
    assert manifest[reviewed]["action"] == "relabel" and manifest[reviewed]["reasons"][-1].startswith("reviewed: ")
    review = out["review"]
    proposals = sum(r["action"] in ("relabel", "review", "drop") for r in before.values())  # all readable here
    assert review == {
        "proposals": proposals,
        "reviewed": 2,  # the kept sample was not a proposal
        "accepted": 1,
        "overruled": 1,
        "unreviewed": proposals - 2,
        "decisions": 3,
        "recorded": 3,
        "missing": 0,
        "missing_examples": [],
        "unknown_class": 0,
    }

    # the same decision again changes nothing; another about the same sample replaces it
    again = apply_decisions(ws, file)
    assert again["replaced"] == 3 and all(s["up_to_date"] for s in again["steps"])
    apply_decisions(ws, write(tmp_path / "e.csv", (kept, "keep", "", "")))
    assert plan_rows(ws)[kept]["action"] == "keep" and pq.read_table(ws.path("decisions")).num_rows == 3


def test_undersampling_never_removes_a_reviewed_sample(scored_workspace, tmp_path):
    ws = scored_workspace
    run_propose(ws, strategy="cap", cap=40)
    cut = next(s for s, r in plan_rows(ws).items() if any(x.startswith("undersampled") for x in r["reasons"]))
    apply_decisions(ws, write(tmp_path / "d.csv", (cut, "keep", "", "")))
    row = plan_rows(ws)[cut]
    assert row["action"] == "keep" and row["weight"] > 0


def test_a_bad_file_records_nothing_and_leaves_the_plan(scored_workspace, tmp_path):
    ws = scored_workspace
    run_propose(ws)
    plan_before = ws.path("plan").read_bytes()
    with pytest.raises(DecisionFileError) as err:
        apply_decisions(ws, write(tmp_path / "d.csv", ("0", "drop", "", ""), ("99999", "drop", "", "")))
    assert str(err.value).count("\n") == 1 and "unknown sample_id '99999'" in str(err.value)
    assert not ws.path("decisions").exists() and ws.path("plan").read_bytes() == plan_before


def test_without_a_plan_decisions_wait_for_propose(synthetic_workspace, tmp_path):
    out = apply_decisions(synthetic_workspace, write(tmp_path / "d.csv", ("3", "drop", "", "")))
    assert out["steps"] == [] and "curate propose" in out["notes"][0]
    with pytest.raises(DataError, match="accept needs the plan"):
        record_decisions(synthetic_workspace, write(tmp_path / "e.csv", ("3", "accept", "", "")))
    run_propose(synthetic_workspace)
    assert plan_rows(synthetic_workspace)["3"]["action"] == "drop"


def test_a_decision_for_a_class_the_data_no_longer_has_is_not_applied(scored_workspace, tmp_path):
    """Decided before a re-scan that dropped the class: the sample keeps the automatic verdict (never
    a row without a label), the plan's reasons say why, and the review summary counts it."""
    import pyarrow as pa

    from curate.data import class_names_of
    from curate.plan.propose import propose
    from curate.plan.stage import decisions_applied

    ws = scored_workspace
    run_propose(ws)
    before = plan_rows(ws)
    kept = next(s for s, r in before.items() if r["action"] == "keep" and r["original_label"] is not None)
    labels = {r["original_label"] for r in before.values()} - {None, before[kept]["original_label"]}
    other = sorted(labels)[0]
    record_decisions(ws, write(tmp_path / "d.csv", (kept, "relabel", other, "")))
    recorded = ws.read_table("decisions")
    gone = recorded.set_column(recorded.schema.get_field_index("label"), "label", pa.array(["no-such-class"]))

    samples = ws.read_table("samples")
    names = class_names_of(ws.path("samples"))
    table = propose(samples, ws.read_table("issues"), None, class_names=names, decisions=gone)
    plan = {r["sample_id"]: r for r in table.to_pylist()}
    assert (plan[kept]["action"], plan[kept]["label"], plan[kept]["reviewed"]) == ("keep", before[kept]["label"], None)
    assert plan[kept]["reasons"][-1] == "review decision not applied: class 'no-such-class' is no longer in the data"
    applied = decisions_applied(samples, gone, names)
    assert (applied["applied"], applied["unknown_class"], applied["missing"]) == (0, 1, 0)


def test_the_report_is_redrawn_with_the_options_it_was_made_with(scored_workspace, tmp_path):
    from curate.report.stage import run_report
    from curate.storage import html_record

    ws = scored_workspace
    run_propose(ws)
    run_export(ws)
    run_report(ws, max_thumbnails=3, map_points=40, thresholds={"max_label_issues": 0.5})
    made = html_record(ws.path("report"))
    assert made["params"]["max_thumbnails"] == 3 and made["params"]["thresholds"]["max_label_issues"] == 0.5
    kept = next(s for s, r in plan_rows(ws).items() if r["action"] == "keep" and r["original_label"] is not None)

    out = apply_decisions(ws, write(tmp_path / "d.csv", (kept, "drop", "", "")))
    last = out["steps"][-1]
    assert (last["stage"], last["up_to_date"], last["timing"]["up_to_date"]) == ("report", False, False)
    assert out["notes"] == []
    redrawn = html_record(ws.path("report"))
    assert redrawn["params"] == made["params"] and redrawn["params_digest"] == made["params_digest"]
    assert redrawn["fingerprint"] != made["fingerprint"]  # drawn again, from the new plan


def test_a_page_that_records_only_a_digest_of_other_options_is_left_alone(scored_workspace, tmp_path):
    """Pages from before the options were recorded: one made with other options is not replaced
    with the defaults."""
    import re

    from curate.report.stage import run_report

    ws = scored_workspace
    run_propose(ws)
    run_report(ws, max_thumbnails=3, map_points=40)
    page = ws.path("report")
    page.write_text(re.sub(r'<meta name="curate-options" content="[^"]*">\n', "", page.read_text(), count=1))
    before = page.read_bytes()
    kept = next(s for s, r in plan_rows(ws).items() if r["action"] == "keep" and r["original_label"] is not None)
    out = apply_decisions(ws, write(tmp_path / "d.csv", (kept, "drop", "", "")))
    assert "re-run `curate report`" in out["notes"][0] and page.read_bytes() == before
