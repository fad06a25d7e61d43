"""Outliers: samples far from everything else and from their own class (curate.score.outliers)."""

from __future__ import annotations

from typing import Any

from curate.issues.base import Column, Gate, IssueType, ReportSection

ISSUE_TYPE = IssueType(
    name="outlier",
    order=30,
    columns=(
        Column("outlier_score", "float32", nullable=False, doc="0..1, 1 = typical"),
        Column("is_outlier", "bool", nullable=False),
    ),
    flag="is_outlier",
    score="outlier_score",
    rate="outlier_rate",
    gates=(
        Gate("max_outliers", "outlier_rate", "fraction", 0.05, "Outliers", "Highest acceptable share of outliers."),
    ),
    section=ReportSection(
        anchor="outliers",
        title="Outliers",
        lead="{total} samples are far from everything else (typicality near 0). The {shown} least typical:",
        detail="typicality {outlier_score:.2f}",
    ),
    scorer="curate.issues.outlier:score",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's outlier scores."""
    out = ctx.outliers
    return {"outlier_score": out.outlier_score, "is_outlier": out.is_outlier}
