"""Grayscale images among colour ones (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "grayscale",
    order=56,
    title="Grayscale images",
    what="grayscale in a colour dataset",
    action="review",
    reason="grayscale image (score {score:.2f})",
    lead="{total} images are grayscale in a dataset of colour ones. The {shown} least colourful:",
)


def _relative_colour(s: Any) -> Any:
    import numpy as np

    # relative to the picture's level, so a dark colour photo is not taken for a gray one
    return s["colourfulness"] / np.maximum(s["brightness_p50"], 0.05)


#: A fact, not a distribution: an image whose channels are equal (mean spread between a pixel's
#: largest and smallest channel at most 1/100 of its median brightness; JPEG's chroma noise stays
#: below it) is grayscale. When most images are, that is the dataset (the share cap): none is
#: flagged.
MEASURE = Measure(
    "grayscale",
    "mean spread between a pixel's channels over its median brightness",
    _relative_colour,
    floor=0.01,
    bound=0.01,
    relative=False,
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_grayscale`` and ``grayscale_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
