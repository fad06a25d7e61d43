"""The similarity scale of an embedding space, read from its own neighbour graph.

Cosines mean different things in different spaces: in CLIP two unrelated photos sit at ~0.5 and
a re-encoded copy above 0.95, while in a metric-learning model every sample's nearest neighbour
is above 0.99 and in raw pixels or tabular features the whole range is used. Every decision
that depends on that scale is therefore taken relative to the data:

* **near-duplicates**: two samples whose cosine distance is below ``duplicate_radius`` times the
  median distance from a sample to its nearest neighbour (the rule of cleanlab's
  ``near_duplicate`` check, whose default radius 0.13 is ours too). A copy is far closer to its
  source than typical samples are to each other, whatever the space. The cut is expressed as a
  cosine, ``duplicate_threshold``, and an explicit threshold overrides the derived one.
* **the kNN vote's temperature**: the median over samples of the distance between their nearest
  and their k-th neighbour (the width of a typical neighbourhood), so the nearest neighbour of a
  typical sample outweighs its k-th by a factor e in every space.

:func:`measure_scale` derives both; :class:`SimilarityScale` is the one place that decides
whether a pair is a near-duplicate (:meth:`SimilarityScale.near_duplicate`), for the scorer, the
duplicate groups, the probe's folds, hard negatives and the report. What was derived, and from
what, travels with it (:meth:`SimilarityScale.as_dict`) into the artifacts' metadata and
summary.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from curate.config import DEFAULT_DUPLICATE_RADIUS
from curate.errors import UsageError

#: Distances at or below this are identical rows (float16 storage rounds a copy's cosine with its
#: source to 1 within ~1e-3 of this): they say nothing about the typical spacing of the data.
_IDENTICAL = 1e-6


@dataclass(frozen=True)
class SimilarityScale:
    """Similarity-scale decisions of one embedding space.

    duplicate_threshold: cosine at or above which two samples are near-duplicates
    vote_temperature:    temperature of the kNN vote's weights ``exp((sim - 1) / T)``
    median_nn_distance:  median cosine distance to the nearest non-identical neighbour (None when
                         not measured: no neighbour graph)
    neighbourhood_width: median distance between a sample's nearest and k-th neighbour
    duplicate_radius:    the ratio the threshold was derived with; None when it was given
    measured_rows:       samples whose neighbours were measured
    """

    duplicate_threshold: float
    vote_temperature: float
    median_nn_distance: float | None = None
    neighbourhood_width: float | None = None
    duplicate_radius: float | None = None
    measured_rows: int = 0

    @property
    def derived(self) -> bool:
        """True when the duplicate threshold was derived from the data, not given."""
        return self.duplicate_radius is not None

    def near_duplicate(self, sims: np.ndarray) -> np.ndarray:
        """Bool array, same shape as ``sims`` (cosines): which pairs are near-duplicates."""
        return np.asarray(sims) >= self.duplicate_threshold

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record of the decisions and what they were derived from."""
        return {**asdict(self), "derived": self.derived}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SimilarityScale:
        """Inverse of :meth:`as_dict` (extra keys are ignored)."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in record.items() if k in fields})


def measure_scale(
    neighbor_sims: np.ndarray,
    *,
    duplicate_threshold: float | None = None,
    duplicate_radius: float = DEFAULT_DUPLICATE_RADIUS,
    vote_temperature: float | None = None,
) -> SimilarityScale:
    """Read the similarity scale from a neighbour graph.

    neighbor_sims: (N, k) float32 cosines to each sample's neighbours, most similar first, self
                   excluded; -inf / NaN mark empty slots
    duplicate_threshold: an explicit near-duplicate cosine (overrides the derived one)
    duplicate_radius:    near-duplicate distance as a share of the median nearest-neighbour
                         distance (used when no threshold is given)
    vote_temperature:    an explicit kNN-vote temperature (overrides the derived one)
    Data too small or too uniform to measure (no two distinct neighbours) falls back to exact
    copies only (threshold 1) and a unit temperature.
    """
    if duplicate_threshold is not None and not 0.0 < duplicate_threshold <= 1.0:
        raise UsageError(f"duplicate threshold must be in (0, 1], got {duplicate_threshold}")
    if not 0.0 < duplicate_radius < 1.0:
        raise UsageError(f"duplicate radius must be in (0, 1), got {duplicate_radius}")
    if vote_temperature is not None and not vote_temperature > 0:
        raise UsageError(f"vote temperature must be positive, got {vote_temperature}")
    sims = np.asarray(neighbor_sims, dtype=np.float64)
    if sims.ndim != 2:
        raise UsageError(f"neighbour similarities must be (N, k), got shape {sims.shape}")
    dist = 1.0 - np.clip(np.where(np.isfinite(sims), sims, np.nan), -1.0, 1.0)
    median_nn, width, measured = _spacing(dist)

    radius: float | None = duplicate_radius
    if duplicate_threshold is not None:
        threshold, radius = float(duplicate_threshold), None
    elif median_nn is not None:
        threshold = 1.0 - duplicate_radius * median_nn
    else:
        threshold = 1.0
    if vote_temperature is None:
        vote_temperature = width if width else (median_nn or 1.0)
    return SimilarityScale(
        duplicate_threshold=threshold,
        vote_temperature=float(vote_temperature),
        median_nn_distance=median_nn,
        neighbourhood_width=width,
        duplicate_radius=radius,
        measured_rows=measured,
    )


def _spacing(dist: np.ndarray) -> tuple[float | None, float | None, int]:
    """``(median nearest-neighbour distance, median neighbourhood width, rows measured)`` of an
    (N, k) distance matrix (NaN / inf: empty slots). A row's nearest neighbour is its nearest
    *distinct* one (identical copies would pull the spacing to zero); its width is the distance
    from there to its k-th neighbour."""
    dist = np.where(np.isfinite(dist), dist, np.nan)
    distinct = np.where(dist > _IDENTICAL, dist, np.nan)
    has = np.isfinite(distinct).any(axis=1) if distinct.size else np.zeros(len(dist), dtype=bool)
    if not has.any():
        return None, None, 0
    nearest = np.nanmin(distinct[has], axis=1)
    farthest = np.nanmax(dist[has], axis=1)
    return float(np.median(nearest)), float(np.median(farthest - nearest)), int(has.sum())


def neighbourhood_width(distances: np.ndarray) -> float | None:
    """Median width of a neighbourhood (nearest distinct to k-th neighbour) in any distance unit:
    the temperature of a distance-weighted vote (:func:`measure_scale` takes the same for
    cosines). distances: (N, k), nearest first, inf / NaN for empty slots; None when nothing
    could be measured."""
    return _spacing(np.asarray(distances, dtype=np.float64))[1]


def describe_cut(record: Mapping[str, Any]) -> str:
    """The near-duplicate cut and where it came from, in words, from a record of
    :meth:`SimilarityScale.as_dict` (as the artifacts and summary.json store it): the one phrasing
    the score log, ``curate score`` and the report share."""
    if not record.get("derived"):
        return f"cosine >= {record['duplicate_threshold']:.6g} (given)"
    if record.get("median_nn_distance") is None:
        return "identical embeddings only (too few samples to measure this space by)"
    return (
        f"cosine >= {record['duplicate_threshold']:.6g} (derived from this embedding space: "
        f"{record['duplicate_radius']:g} x the median nearest-neighbour distance {record['median_nn_distance']:.4g})"
    )
