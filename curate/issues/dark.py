"""Dark images: nearly black frames and badly under-exposed shots (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "dark",
    order=50,
    title="Dark images",
    what="far darker than the rest (nearly black, under-exposed)",
    action="review",
    reason="dark image (score {score:.2f})",
    lead="{total} images are far darker than this dataset's usual ones. The {shown} darkest:",
)


#: Judged on the brightness of the brightest 1 % of the thumbnail's pixels, on a log scale
#: (under-exposure divides every brightness). Below 10 % grey a frame is black in any dataset;
#: above 32 % grey (CleanVision's fixed cut) it is not dark, whatever the rest of the data:
#: ordinary photographs of dark scenes still have highlights there.
MEASURE = Measure(
    "dark",
    "brightness of the brightest 1 % of pixels (0..1)",
    lambda s: s["brightness_p99"],
    log=True,
    floor=0.10,
    bound=0.32,
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_dark`` and ``dark_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
