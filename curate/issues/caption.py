"""Caption mismatches: image-text pairs whose caption does not fit the image (curate.score.captions)."""

from __future__ import annotations

from typing import Any

from curate.issues.base import Column, Gate, IssueType, PlanRule

ISSUE_TYPE = IssueType(
    name="caption",
    order=70,
    columns=(
        Column("caption_score", "float32", doc="cosine of image and caption embeddings; null without a caption"),
        Column(
            "caption_quality",
            "float32",
            doc="0..1, 1 = clean: 1 - the pair's rank p-value against other samples' captions and images",
        ),
        Column("is_caption_mismatch", "bool", nullable=False),
    ),
    flag="is_caption_mismatch",
    score="caption_quality",
    rate="caption_mismatch_rate",
    measured_by="caption_score",
    not_measured="no sample has an embedded caption (not image-text pairs, or a model without a text tower)",
    gates=(
        Gate(
            "max_caption_mismatch",
            "caption_mismatch_rate",
            "fraction",
            0.05,
            "Caption mismatches",
            "Highest acceptable share of image-text pairs whose caption does not fit the image, of the "
            "captioned samples.",
        ),
    ),
    rule=PlanRule(
        "review",
        "caption mismatch (caption score {caption_score:.3f}, caption quality {caption_quality:.2f})",
    ),
    scorer="curate.issues.caption:score",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's caption findings (nulls where a sample has no caption)."""
    import numpy as np
    import pyarrow as pa

    found = ctx.captions
    missing = ~np.isfinite(found.caption_score)
    return {
        "caption_score": pa.array(found.caption_score, type=pa.float32(), mask=missing),
        "caption_quality": pa.array(found.caption_quality, type=pa.float32(), mask=missing),
        "is_caption_mismatch": found.is_mismatch,
    }
