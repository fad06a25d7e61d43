"""The report's section on image-text pairs: the caption scores' distribution, the mismatch rate,
and the lowest-scoring pairs with their captions (the page escapes every caption: captions are
web text, never markup)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from curate.report.collect import Inputs, Lookup, tile
from curate.report.thumbnails import Thumbnails

ANCHOR = "captions"
TITLE = "Captions"


def caption_sections(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> list[dict[str, Any]]:
    """The captions section (in the shape of the issue types' sections, plus ``chart`` and
    ``facts``), or no section when no sample has a caption score."""
    issues = inputs.issues
    if issues is None or "caption_score" not in issues.column_names:
        return []
    paired = issues.filter(pc.is_valid(issues.column("caption_score")))
    if paired.num_rows == 0:
        return []
    from curate.report.charts import score_histogram

    scores = paired.column("caption_score").to_numpy(zero_copy_only=False).astype(np.float64)
    flagged = np.asarray(paired.column("is_caption_mismatch").to_numpy(zero_copy_only=False), dtype=bool)
    lowest = paired.sort_by([("caption_score", "ascending"), ("sample_id", "ascending")]).slice(0, max_thumbnails)
    rows = lowest.to_pylist()
    ids = [r["sample_id"] for r in rows]
    lookup.thumbnails(ids, thumbs)
    records = {r["sample_id"]: r for r in lookup.records(ids)}
    captions = _captions(lookup, ids)
    q = np.quantile(scores, [0.05, 0.5, 0.95])
    return [
        {
            "id": ANCHOR,
            "title": TITLE,
            "lead": (
                f"{paired.num_rows:,} image-text pairs; {int(flagged.sum()):,} ({flagged.mean():.1%}) captions do not "
                "fit their image (is_caption_mismatch: the caption is not among the image's best matches against "
                f"other samples' captions). The {len(rows)} lowest caption scores:"
            ),
            "total": int(flagged.sum()),
            "facts": [
                ("mismatch rate", f"{flagged.mean():.1%}"),
                ("median caption score", f"{q[1]:.3f}"),
                ("5% / 95%", f"{q[0]:.3f} / {q[2]:.3f}"),
            ],
            "chart": score_histogram(scores, flagged, xlabel="caption score (image-caption cosine)"),
            "tiles": [
                tile(
                    records[r["sample_id"]],
                    thumbs,
                    caption=captions.get(r["sample_id"]) or "",
                    detail=f"score {r['caption_score']:.3f}" + (" · mismatch" if r["is_caption_mismatch"] else ""),
                )
                for r in rows
            ],
        }
    ]


def _captions(lookup: Lookup, ids: list[str]) -> dict[str, str | None]:
    samples = lookup.samples
    if "caption" not in samples.column_names:
        return {}
    rows = lookup.rows(ids)
    values = samples.column("caption").take(np.where(rows >= 0, rows, 0)).to_pylist()
    return {sid: (v if r >= 0 else None) for sid, v, r in zip(ids, values, rows)}
