"""Label issues: confident learning on out-of-sample probabilities (curate.score.noise)."""

from __future__ import annotations

from typing import Any

from curate.issues.base import Column, Gate, IssueType

ISSUE_TYPE = IssueType(
    name="label",
    order=10,
    columns=(
        Column("label_quality", "float32", doc="0..1, 1 = clean; null when not scored (unlabelled, one class)"),
        Column("is_label_issue", "bool", nullable=False),
        Column("suggested_label", "string", doc="the class the evidence points to"),
        Column("suggested_confidence", "float32"),
    ),
    flag="is_label_issue",
    score="label_quality",
    rate="label_issue_rate",
    measured_by="label_quality",
    not_measured="no labelled sample was scored (unlabelled data, or a single class: nothing to confuse it with)",
    gates=(
        Gate(
            "max_label_issues",
            "label_issue_rate",
            "fraction",
            0.05,
            "Label issues",
            "Highest acceptable share of label issues, of the labelled samples scored.",
        ),
    ),
    scorer="curate.issues.label:score",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's label-noise result (suggestions as class names)."""
    import numpy as np
    import pyarrow as pa

    noise, data = ctx.label_noise, ctx.data
    scored = np.isfinite(noise.label_quality)
    names = np.array(data.class_names + [None], dtype=object)
    suggested = names[np.where(scored, noise.suggested_label, data.num_classes)]
    return {
        "label_quality": pa.array(noise.label_quality.astype(np.float32), type=pa.float32(), mask=~scored),
        "is_label_issue": noise.is_label_issue & scored,
        "suggested_label": suggested.tolist(),
        "suggested_confidence": pa.array(
            noise.suggested_confidence.astype(np.float32), type=pa.float32(), mask=~scored
        ),
    }
