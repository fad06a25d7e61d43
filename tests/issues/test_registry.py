"""The issue-type registry: the built-in types, and a new type reaching every artifact.

A toy type ("far_from_centre": embeddings least like the dataset's mean direction) is declared
here the way a module of curate.issues declares one, registered for the test, and must appear in
issues.parquet, summary.json, the library gate, the plan and the report without any other change.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.check import check_workspace
from curate.config import IMAGE_DEFECTS
from curate.issues import Column, Gate, IssueType, PlanRule, ReportSection, gates, issue_types, register, unregister
from curate.scan import run_scan
from curate.schemas import ISSUES, issues_schema
from curate.synth import make_dataset
from curate.workspace import Workspace


def score_far_from_centre(ctx: Any) -> dict[str, Any]:
    """The toy's scorer: cosine to the mean direction, flagged in its lowest 5 %."""
    emb = ctx.data.embeddings
    centre = emb.mean(axis=0)
    cos = emb @ (centre / np.linalg.norm(centre))
    return {"centrality": ((cos + 1) / 2).astype(np.float32), "is_far_from_centre": cos < np.quantile(cos, 0.05)}


TOY = IssueType(
    name="far_from_centre",
    order=40,
    columns=(Column("centrality", "float32", nullable=False), Column("is_far_from_centre", "bool", nullable=False)),
    flag="is_far_from_centre",
    score="centrality",
    rate="far_from_centre_rate",
    gates=(
        Gate(
            "max_far_from_centre",
            "far_from_centre_rate",
            "fraction",
            0.1,
            "Far from centre",
            "Highest acceptable share of samples far from the centre.",
        ),
    ),
    rule=PlanRule("review", "far from the centre (centrality {centrality:.2f})"),
    section=ReportSection(
        "far-from-centre", "Far from centre", "{total} samples point away from the rest.", "centrality {centrality:.2f}"
    ),
    scorer=f"{__name__}:score_far_from_centre",
)


def test_built_in_types_declare_the_issues_schema():
    defects = list(IMAGE_DEFECTS)
    assert [t.name for t in issue_types()] == [
        "label",
        "duplicate",
        "outlier",
        *defects,
        "caption",
        "caption_duplicate",
    ]
    assert issues_schema() == ISSUES
    assert {g.keyword for g in gates()} == {f"max_{name}" for name in defects} | {
        "max_label_issues",
        "min_label_evidence",
        "max_duplicates",
        "max_leaks",
        "max_outliers",
        "max_caption_mismatch",
        "max_caption_duplicates",
        "max_imbalance_ratio",
        "max_unreadable",
        "max_unreviewed",
    }


def test_a_declared_column_must_hold_the_flag():
    with pytest.raises(ValueError, match="not among its columns"):
        IssueType(name="bad", order=1, columns=(Column("x", "bool"),), flag="is_bad", rate="bad_rate", scorer="m:f")


@pytest.fixture
def toy_registered():
    register(TOY)
    yield TOY
    unregister(TOY.name)


def test_a_new_type_reaches_every_artifact(tmp_path, toy_registered):
    ds = make_dataset(600, 5, dim=32, seed=2)
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    ws = Workspace(tmp_path / "ws")
    summary = run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")

    issues = pq.read_table(ws.path("issues"))
    at = issues.schema.names.index("centrality")
    assert issues.schema.names[at : at + 2] == ["centrality", "is_far_from_centre"]
    flagged = int(np.sum(issues.column("is_far_from_centre").to_numpy(zero_copy_only=False)))
    assert flagged == 30
    assert summary["far_from_centre_rate"] == pytest.approx(flagged / 600)
    assert json.loads(ws.path("summary").read_text())["far_from_centre_rate"] == summary["far_from_centre_rate"]

    [result] = check_workspace(ws, max_far_from_centre=0.01)
    assert not result.passed and result.name == "far_from_centre_rate"

    plan = pq.read_table(ws.path("plan")).to_pydict()
    toy_reasons = [r for reasons in plan["reasons"] for r in reasons if r.startswith("far from the centre")]
    assert len(toy_reasons) == flagged
    assert all(
        a != "keep"
        for a, reasons in zip(plan["action"], plan["reasons"])
        if any(r.startswith("far from the centre") for r in reasons)
    )

    page = ws.path("report").read_text()
    assert 'id="far-from-centre"' in page and "30 samples point away from the rest." in page
    assert "Far from centre" in page
