"""Low-information images: blank, flat or nearly uniform pictures (curate.score.defects)."""

from __future__ import annotations

from typing import Any

from curate.issues._image import Measure, image_defect

ISSUE_TYPE = image_defect(
    "low_information",
    order=53,
    title="Low-information images",
    what="blank or flat (almost nothing to see)",
    action="drop",
    reason="blank or flat image (score {score:.2f})",
    lead="{total} images are blank or flat: next to nothing to learn from. The {shown} emptiest:",
)


#: Judged on the entropy of the thumbnail's grayscale histogram (bits). Two bits (four grey
#: levels' worth) or less is blank in any dataset; above 4 bits a picture has detail enough,
#: whatever the rest of the data. A dark or washed-out photo has few grey levels too, and a flat
#: dim picture is dark: a picture both flag is reported for what it shows most strongly.
MEASURE = Measure(
    "low_information",
    "entropy of the grayscale histogram (bits, 0..8)",
    lambda s: s["entropy"],
    floor=2.0,
    bound=4.0,
    rivals=("dark", "light"),
)


def score(ctx: Any) -> dict[str, Any]:
    """``is_low_information`` and ``low_information_score`` (curate.score.defects.score_defect)."""
    from curate.score.defects import score_defect

    return score_defect(ctx, MEASURE.name)
