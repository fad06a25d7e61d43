import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import StaleWorkspaceError, UsageError
from curate.export.manifest import since_last_scan
from curate.export.stage import run_export
from curate.negatives.stage import run_negatives
from curate.plan.stage import run_propose
from curate.schemas import MANIFEST


def test_export_without_plan_or_issues_is_neutral(synthetic_workspace, synthetic_small):
    summary = run_export(synthetic_workspace)
    m = pq.read_table(synthetic_workspace.path("manifest"))
    assert m.schema.remove_metadata() == MANIFEST
    d = m.to_pydict()
    n = len(synthetic_small.labels)
    assert m.num_rows == n and set(d["action"]) == {"keep"} and set(d["weight"]) == {1.0}
    assert d["label"] == d["original_label"] and set(d["label_quality"]) == {None}
    assert not any(d["is_label_issue"] + d["is_duplicate"] + d["is_outlier"])
    assert set(d["outlier_score"]) == {1.0} and set(d["duplicate_group"]) == {None}
    assert summary["num_samples"] == n and summary["num_classes"] == 12
    assert summary["label_issue_rate"] is None and summary["unreadable"] == []
    counts = np.bincount(synthetic_small.labels)
    assert summary["imbalance_ratio"] == pytest.approx(counts.max() / counts.min())
    on_disk = json.loads(synthetic_workspace.path("summary").read_text())
    assert on_disk["num_samples"] == n and "samples" in on_disk["stages"]


def test_export_full_chain(scored_workspace, synthetic_small):
    s = synthetic_small
    run_negatives(scored_workspace, num_negatives=3, batch_size=500)
    run_propose(scored_workspace, strategy="sqrt")
    summary = run_export(scored_workspace)
    d = pq.read_table(scored_workspace.path("manifest")).to_pydict()
    plan = pq.read_table(scored_workspace.path("plan")).to_pydict()
    assert d["action"] == plan["action"] and d["reasons"] == plan["reasons"]
    dropped = [i for i, a in enumerate(d["action"]) if a == "drop"]
    assert dropped and all(d["weight"][i] == 0 for i in dropped)  # dropped rows stay, weight 0
    assert d["is_label_issue"] == s.is_noisy.tolist()
    assert d["duplicate_group"][int(np.flatnonzero(s.duplicate_group >= 0)[0])].startswith("dup-")
    assert summary["label_issue_rate"] == pytest.approx(s.is_noisy.mean())
    assert summary["outlier_rate"] == pytest.approx(s.is_outlier.mean())
    assert summary["leaks"] == 0
    assert 1.0 <= summary["weighted_imbalance_ratio"] < summary["imbalance_ratio"]  # sqrt weights flatten it
    assert set(summary["stages"]) >= {"samples", "embeddings", "neighbors", "issues", "negatives", "plan", "manifest"}
    assert summary["stages"]["plan"]["params"]["strategy"] == "sqrt"
    assert summary["classes"]["noisiest"] and summary["classes"]["confusion_pairs"]
    assert summary["actions"]["drop"] == len(dropped)

    assert run_export(scored_workspace)["skipped"]
    with pytest.raises(StaleWorkspaceError):
        run_export(scored_workspace, include=("keep",))
    run_export(scored_workspace, include=("keep",), overwrite=True)
    d = pq.read_table(scored_workspace.path("manifest")).to_pydict()
    assert all(w == 0 for w, a in zip(d["weight"], d["action"]) if a != "keep")
    with pytest.raises(UsageError, match="include"):
        run_export(scored_workspace, include=("maybe",))


def test_plan_rebuilt_is_exported_again_without_overwrite(scored_workspace):
    """A rebuilt input is not "other parameters": export recomputes, and reading the old
    manifest's inputs in between is refused as stale."""
    run_propose(scored_workspace)
    run_export(scored_workspace)
    run_propose(scored_workspace, strategy="inverse", overwrite=True)
    with pytest.raises(StaleWorkspaceError, match="older plan.parquet; re-run `curate export`"):
        scored_workspace.read_table("manifest")
    assert run_export(scored_workspace)["up_to_date"] is False
    scored_workspace.read_table("manifest")  # fresh again


def test_leaks_reach_plan_and_summary(scored_workspace, synthetic_small):
    """A duplicate group spanning splits: both members go to review and summary counts one leak."""
    import pyarrow as pa

    from curate.schemas import ISSUES
    from curate.workspace import write_parquet_atomic

    issues = pq.read_table(scored_workspace.path("issues"))
    group = int(np.flatnonzero(synthetic_small.duplicate_group >= 0)[0])
    members = np.flatnonzero(synthetic_small.duplicate_group == synthetic_small.duplicate_group[group])
    leak = np.zeros(issues.num_rows, dtype=bool)
    leak[members] = True
    issues = issues.set_column(issues.schema.get_field_index("is_leak"), "is_leak", pa.array(leak))
    fp, inputs, _ = scored_workspace.plan(
        "issues", "score", {"leak": True}, ["samples", "embeddings", "neighbors"], overwrite=True
    )
    write_parquet_atomic(scored_workspace.path("issues"), issues.cast(ISSUES), fingerprint=fp, inputs=inputs)
    run_propose(scored_workspace)
    summary = run_export(scored_workspace)
    d = pq.read_table(scored_workspace.path("manifest")).to_pydict()
    for i in members:
        assert d["action"][i] in ("review", "drop")
        assert any(r.startswith("duplicate across splits (leak") for r in d["reasons"][i])
    assert summary["leaks"] == 1 and summary["leaked_samples"] == len(members)
    res = CliRunner().invoke(main, ["check", str(scored_workspace.root), "--no-leakage"])
    assert res.exit_code == 1 and "leaks 1 > 0" in res.stderr


def test_single_class_data_leaves_the_label_rate_unmeasured(tmp_path, synthetic_small):
    from curate.check import failed_checks
    from curate.embed.importer import import_arrays
    from curate.graph.stage import run_neighbors
    from curate.score.stage import run_score
    from curate.workspace import Workspace

    ws = Workspace(tmp_path / "one")
    import_arrays(ws, synthetic_small.embeddings[:400], np.zeros(400, dtype=np.int64), class_names=["only"])
    run_neighbors(ws, k=10)
    run_score(ws, device="cpu")
    summary = run_export(ws)
    # Nothing was scored, so the rate is unknown, not 0: a label gate must not pass on it.
    assert summary["label_issue_rate"] is None and "single class" in summary["not_measured"]["label_issue_rate"]
    (result,) = failed_checks(ws, max_label_issues=0.5)
    assert result.message.startswith("label_issue_rate not measured: no labelled sample was scored")


def test_since_last_scan_compares_manifests_by_sample_id():
    old = pa.table({"sample_id": ["a", "b", "c", "d"], "label": ["x", "x", "y", "y"], "action": ["keep"] * 4})
    new = pa.table(
        {
            "sample_id": ["e", "d", "c", "b"],  # order does not matter; a removed, e added
            "label": ["x", "y", "x", "x"],
            "action": ["keep", "drop", "relabel", "keep"],
        }
    )
    assert since_last_scan(old, new, examples=1) == {
        "previous_samples": 4,
        "added": 1,
        "removed": 1,
        "action_changed": 2,
        "label_changed": 1,
        "transitions": {"keep->drop": 1, "keep->relabel": 1},
        "examples": {"added": ["e"], "removed": ["a"], "action_changed": ["c"], "label_changed": ["c"]},
    }


def test_samples_proposed_for_review_are_held_back_by_default(scored_workspace):
    run_propose(scored_workspace)
    summary = run_export(scored_workspace)
    d = pq.read_table(scored_workspace.path("manifest")).to_pydict()
    review = [w for w, a in zip(d["weight"], d["action"]) if a == "review"]
    assert review and all(w == 0 for w in review)
    assert summary["held_back_for_review"] == len(review)
    assert summary["num_training_samples"] == sum(w > 0 for w in d["weight"])

    # training on them is an explicit choice
    summary = run_export(scored_workspace, include=("keep", "relabel", "review"), overwrite=True)
    d = pq.read_table(scored_workspace.path("manifest")).to_pydict()
    assert all(w > 0 for w, a in zip(d["weight"], d["action"]) if a == "review")
    assert summary["held_back_for_review"] == 0
