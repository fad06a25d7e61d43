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
        # multi-label data (null for single-label): the tags named wrong, and the suggested set
        Column("missing_labels", "list<string>", doc="tags confidently present but not given"),
        Column("spurious_labels", "list<string>", doc="tags given but confidently absent"),
        Column("suggested_labels", "list<string>", doc="the suggested tag set: given - spurious + missing"),
        Column("missing_label_probs", "list<float32>", doc="P(present) of each missing tag, same order"),
        Column("spurious_label_probs", "list<float32>", doc="P(present) of each spurious tag, same order"),
        Column("given_label_probs", "list<float32>", doc="P(present) of each given tag, in the row's tag order"),
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


#: the multi-label columns, null for single-label data
TAG_COLUMNS = (
    "missing_labels",
    "spurious_labels",
    "suggested_labels",
    "missing_label_probs",
    "spurious_label_probs",
    "given_label_probs",
)


def score(ctx: Any) -> dict[str, Any]:
    """Columns from the context's label-noise result (suggestions as class names), or for
    multi-label data from its tag scores (:func:`score_tags_columns`)."""
    import numpy as np
    import pyarrow as pa

    if ctx.data.multi_label:
        return score_tags_columns(ctx.tag_scores, ctx.data.tags, ctx.data.class_names)
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
        **{name: [None] * len(data) for name in TAG_COLUMNS},
    }


def score_tags_columns(scores: Any, tags: Any, tag_names: list[str]) -> dict[str, Any]:
    """The label columns of multi-label data from :class:`curate.score.multilabel.TagScores`:
    ``label_quality`` and ``is_label_issue`` per row, the tags named missing / spurious and the
    suggested set as tag names, each named tag's P(present) and the given tags' (the plan's
    confidence bars are read from them); the single-label suggestion columns stay null.
    tags: (N, K) bool given tags."""
    import numpy as np

    n = len(scores.label_quality)
    names = np.array(tag_names, dtype=object)
    probs = np.asarray(scores.pred_probs, dtype=np.float32)
    given = [np.flatnonzero(row) for row in np.asarray(tags, dtype=bool)]
    return {
        "label_quality": np.asarray(scores.label_quality, dtype=np.float32),
        "is_label_issue": np.asarray(scores.is_label_issue, dtype=bool),
        "suggested_label": [None] * n,
        "suggested_confidence": [None] * n,
        "suggestion_probability": [None] * n,
        "mislabel_probability": [None] * n,
        "missing_labels": [names[list(m)].tolist() for m in scores.missing],
        "spurious_labels": [names[list(s)].tolist() for s in scores.spurious],
        "suggested_labels": [names[list(s)].tolist() for s in scores.suggested],
        "missing_label_probs": [probs[i, list(m)].tolist() for i, m in enumerate(scores.missing)],
        "spurious_label_probs": [probs[i, list(s)].tolist() for i, s in enumerate(scores.spurious)],
        "given_label_probs": [probs[i, g].tolist() for i, g in enumerate(given)],
    }


def _evidence_column(noise: Any, name: str) -> Any:
    """(N,) float32 per-row probability from the result's label evidence; NaN where not measured."""
    import numpy as np

    if noise.evidence is None:
        return np.full(len(noise), np.nan, dtype=np.float32)
    return np.asarray(getattr(noise.evidence, name), dtype=np.float32)
