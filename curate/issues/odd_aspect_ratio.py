"""Odd aspect ratios: strips and slivers among pictures of another shape (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "odd_aspect_ratio",
    order=54,
    title="Odd aspect ratios",
    what="of a far other shape than the rest (strips, slivers)",
    action="review",
    reason="odd aspect ratio (score {score:.2f})",
    lead="{total} images have a far other shape than this dataset's usual one. The {shown} oddest:",
)


def _off_shape(s: Any) -> Any:
    import numpy as np

    ratio = np.log(s["width"] / s["height"])
    return np.exp(np.abs(ratio - np.nanmedian(ratio)))


#: Judged on how many times wider or taller than the dataset's median shape an image is, on a
#: log scale. Four times is a strip in any dataset; within two times it is a normal framing.
MEASURE = Measure(
    "odd_aspect_ratio",
    "times wider or taller than the median shape",
    _off_shape,
    higher_is_worse=True,
    log=True,
    floor=4.0,
    bound=2.0,
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_odd_aspect_ratio`` and ``odd_aspect_ratio_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
