"""Repeated captions: the same alt-text on many images (curate.score.captions.caption_groups)."""

from __future__ import annotations

from typing import Any

from curate.issues.base import Column, Gate, IssueType

ISSUE_TYPE = IssueType(
    name="caption_duplicate",
    order=71,
    columns=(
        Column("is_caption_duplicate", "bool", nullable=False, doc="its caption is repeated on other samples"),
        Column("caption_duplicate_group", "string", doc="shared by the samples with that caption; null if unique"),
        Column("caption_duplicate_kind", "string", doc="exact (same text) | near (same once normalised); null"),
        Column("caption_duplicate_count", "int64", doc="samples sharing the caption; 1 unique, null without one"),
    ),
    flag="is_caption_duplicate",
    rate="caption_duplicate_rate",
    measured_by="caption_duplicate_count",
    not_measured="no sample has a caption",
    # 1.0 by default: templated captions repeat by design, so only a job that asks gates on it
    gates=(
        Gate(
            "max_caption_duplicates",
            "caption_duplicate_rate",
            "fraction",
            1.0,
            "Repeated captions",
            "Highest acceptable share of captioned samples whose caption other samples repeat.",
        ),
    ),
    scorer="curate.issues.caption_duplicate:score",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's caption groups."""
    import numpy as np
    import pyarrow as pa

    found, captions = ctx.captions, ctx.data.captions
    has = np.zeros(len(ctx.data), dtype=bool) if captions is None else np.array([c is not None for c in captions])
    count = np.where(found.group_size > 0, found.group_size, 1)
    return {
        "is_caption_duplicate": found.group_size > 1,
        "caption_duplicate_group": found.group.tolist(),
        "caption_duplicate_kind": found.kind.tolist(),
        "caption_duplicate_count": pa.array(count, type=pa.int64(), mask=~has),
    }
