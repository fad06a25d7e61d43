"""Light images: washed-out, over-exposed or faded shots (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "light",
    order=51,
    title="Washed-out images",
    what="far lighter than the rest (washed out, over-exposed)",
    action="review",
    reason="washed-out image (score {score:.2f})",
    lead="{total} images are far more washed out than this dataset's usual ones. The {shown} lightest:",
)


def _shadow(s: Any) -> Any:
    return 1.0 - s["brightness_p05"]


#: Judged on how far the darkest 5 % of the thumbnail's pixels are from white, on a log scale
#: (washing out towards white multiplies that distance): a washed-out picture has no shadows
#: left. Within 10 % of white it is a white frame in any dataset; a quarter or more from white
#: (its shadows are below three-quarter grey) it is not washed out, whatever the rest of the
#: data (a photograph of sky or snow keeps shadows there).
MEASURE = Measure(
    "light",
    "distance of the darkest 5 % of pixels from white (0..1)",
    _shadow,
    log=True,
    floor=0.10,
    bound=0.25,
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_light`` and ``light_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
