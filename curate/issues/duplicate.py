"""Exact and near duplicates, and train/test leakage (curate.score.duplicates)."""

from __future__ import annotations

from typing import Any

from curate.issues.base import Column, Gate, IssueType

ISSUE_TYPE = IssueType(
    name="duplicate",
    order=20,
    columns=(
        Column("is_duplicate", "bool", nullable=False, doc="a redundant copy (not the keeper)"),
        Column("duplicate_group", "string", doc="shared by every member of a group; null if none"),
        Column("duplicate_kind", "string", doc="exact | near; null if none"),
        Column("duplicate_keep", "bool", doc="the member to keep within its group"),
        Column("is_leak", "bool", nullable=False, doc="its group spans more than one split"),
    ),
    flag="is_duplicate",
    rate="duplicate_rate",
    gates=(
        Gate(
            "max_duplicates",
            "duplicate_rate",
            "fraction",
            0.05,
            "Duplicates",
            "Highest acceptable share of redundant duplicate copies.",
        ),
        Gate(
            "max_leaks",
            "leaks",
            "count",
            0,
            "Split leaks",
            "Most duplicate groups allowed to span more than one split.",
        ),
    ),
    scorer="curate.issues.duplicate:score",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's duplicate groups."""
    dups = ctx.duplicates
    return {
        "is_duplicate": dups.is_duplicate,
        "duplicate_group": dups.group.tolist(),
        "duplicate_kind": dups.kind.tolist(),
        "duplicate_keep": dups.keep.tolist(),
        "is_leak": dups.is_leak,
    }
