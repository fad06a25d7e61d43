"""Blurry images: out of focus or motion-blurred (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "blurry",
    order=52,
    title="Blurry images",
    what="far blurrier than the rest (out of focus, motion blur)",
    action="review",
    reason="blurry image (score {score:.2f})",
    lead="{total} images are far blurrier than this dataset's usual ones. The {shown} blurriest:",
)


def _sharpness(s: Any) -> Any:
    import numpy as np

    return np.where(s["sharpness"] > 0, s["sharpness"], np.nan)


#: Judged on the sharpness ratio (RMS Laplacian over RMS gradient of the 64-px grayscale
#: thumbnail, :func:`curate.index.properties.measure`), on a log scale. A flat picture has no
#: edges to be sharp or blurred: it is not measured here (``low_information`` is its type).
#: At 1.1 or above a thumbnail still has edges about one pixel wide (white noise is at 2.2, sharp
#: photographs at 1.3 to 1.8, and a blur of one thumbnail pixel brings them below 1), so it is not
#: blurry in any dataset; no floor: how sharp a picture can be depends on what it shows.
MEASURE = Measure("blurry", "RMS Laplacian / RMS gradient of the thumbnail", _sharpness, log=True, bound=1.1)


def score(ctx: Any) -> dict[str, Any]:
    """``is_blurry`` and ``blurry_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
