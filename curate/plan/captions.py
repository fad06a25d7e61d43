"""The CLIP-score filters of image-text pre-training sets, as a plan rule.

* ``min_caption_score`` (LAION-style): drop a pair whose ``caption_score`` (image-caption
  cosine) is below it. LAION-400M kept ViT-B/32 pairs at 0.28 or more; the number is that
  model's, so another model needs its own (the mismatch test, ``is_caption_mismatch``, needs
  none).
* ``keep_top_fraction`` (DataComp-style): keep the best-scoring share of the captioned pairs
  and drop the rest; DataComp's CLIP-score baseline keeps the top 30%. Exactly
  ``round(fraction * pairs)`` pairs are kept (ties broken by ``sample_id``), so the fraction
  means the same whatever the scores' scale.

Both count only samples that have a caption score; others are left to the other rules. The rule
that applies them is ``caption_filter`` (:mod:`curate.plan.rules`): the dropped pairs' reasons
say which filter dropped them, and their weight is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class CaptionFilter:
    """The caption filters of one plan: the user's options and what they came to on this data.

    kept: sample_ids inside the top fraction (None when ``keep_top_fraction`` is not given)
    top_cut: the lowest caption score kept by the top fraction
    """

    min_caption_score: float | None
    keep_top_fraction: float | None
    kept: frozenset[str] | None
    top_cut: float | None
    pairs: int

    def as_dict(self) -> dict[str, Any]:
        """What plan.parquet's metadata (and summary.json's ``captions.filter``) records."""
        return {
            "min_caption_score": self.min_caption_score,
            "keep_top_fraction": self.keep_top_fraction,
            "top_cut": self.top_cut,
            "pairs": self.pairs,
            "kept_by_top_fraction": None if self.kept is None else len(self.kept),
        }


def caption_filter(
    sample_ids: Sequence[str],
    caption_scores: Sequence[float | None],
    *,
    min_caption_score: float | None = None,
    keep_top_fraction: float | None = None,
) -> CaptionFilter | None:
    """The filter for samples ``sample_ids`` with their caption scores (None: no caption);
    None when neither option is given. ``keep_top_fraction`` must be in (0, 1]."""
    if min_caption_score is None and keep_top_fraction is None:
        return None
    if keep_top_fraction is not None and not 0.0 < keep_top_fraction <= 1.0:
        raise ValueError(f"keep_top_fraction must be in (0, 1], got {keep_top_fraction}")
    scored = [(float(s), sid) for sid, s in zip(sample_ids, caption_scores) if s is not None and np.isfinite(s)]
    kept, cut = None, None
    if keep_top_fraction is not None:
        best = sorted(scored, key=lambda pair: (-pair[0], pair[1]))[: round(keep_top_fraction * len(scored))]
        kept = frozenset(sid for _, sid in best)
        cut = best[-1][0] if best else None
    return CaptionFilter(min_caption_score, keep_top_fraction, kept, cut, len(scored))
