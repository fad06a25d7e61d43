"""Odd sizes: thumbnails and icons among photos, or the reverse (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "odd_size",
    order=55,
    title="Odd sizes",
    what="of a far other size than the rest (thumbnails, icons)",
    action="review",
    reason="odd image size (score {score:.2f})",
    lead="{total} images are far smaller or larger than this dataset's usual ones. The {shown} oddest:",
)


def _off_size(s: Any) -> Any:
    import numpy as np

    side = 0.5 * np.log(s["width"] * s["height"])
    return np.exp(np.abs(side - np.nanmedian(side)))


#: Judged on how many times smaller or larger than the dataset's median an image's side (the
#: square root of its area) is, on a log scale. Eight times is a thumbnail (or a poster) in any
#: dataset; within two times it is the usual spread of a collection.
MEASURE = Measure(
    "odd_size",
    "times smaller or larger than the median side",
    _off_size,
    higher_is_worse=True,
    log=True,
    floor=8.0,
    bound=2.0,
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_odd_size`` and ``odd_size_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
