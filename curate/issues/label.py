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
        Column(
            "suggestion_probability",
            "float32",
            doc="calibrated probability that suggested_label is the true class, given the evidence and the given label",
        ),
        Column("mislabel_probability", "float32", doc="calibrated probability that the given label is wrong"),
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
        Gate(
            "min_label_evidence",
            "label_evidence_strength",
            "fraction",
            0.5,  # curate.config.WEAK_LABEL_EVIDENCE reads it from here
            "Label evidence",
            "Lowest acceptable strength of the label evidence (0 = chance, 1 = the embedding reproduces "
            "every given label; summary.json's label_evidence).",
            at_least=True,
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
        **{
            name: pa.array(values, type=pa.float32(), mask=~np.isfinite(values))
            for name, values in (
                ("suggestion_probability", _evidence_column(noise, "suggestion_probability")),
                ("mislabel_probability", _evidence_column(noise, "mislabel_probability")),
            )
        },
    }


def _evidence_column(noise: Any, name: str) -> Any:
    """(N,) float32 per-row probability from the result's label evidence; NaN where not measured."""
    import numpy as np

    if noise.evidence is None:
        return np.full(len(noise), np.nan, dtype=np.float32)
    return np.asarray(getattr(noise.evidence, name), dtype=np.float32)
