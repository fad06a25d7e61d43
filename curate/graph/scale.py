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
* **near-duplicates, locally**: in a space whose density varies (image features: HOG, pixels, a
  metric-learning model's), one global radius misses the copies in sparse regions and never fires
  in dense ones. So a second rule looks at each sample's own spacing: ``r = log(d1 / median(d2..d10))``,
  the nearest neighbour's distance as a share of the next ones'. A copy's ``r`` is far below the
  dataset's usual value; the cut is ``median(r) - z x`` the robust spread of ``r`` below its
  median (``local_z``, 3.5 by default). Two samples are local near-duplicates when they are each
  other's nearest neighbour, both lie below the cut, and for both a nearest neighbour that close
  is not chance: where samples are spread uniformly in the space's intrinsic dimension ``m`` (the
  Levina-Bickel estimate from the same distances), ``(d1 / d2)^m`` is uniform on (0, 1), so it
  must be below ``1/N``: less than one such pair expected by chance in the whole dataset. The
  ratio to the second neighbour, not a farther one, keeps the test inside the sample's own
  cluster when its class is small (a 10th neighbour in the next class made a test on ``d1/d10``
  pass a natural pair in the tight synthetic space). On evenly spread random data (20,000
  points, 16-256 dimensions) the cut alone paired 0.22-0.30 % of the rows, with the chance test
  0.00-0.01 %. Duplicate F1 on
  tests/bench/bench_geometries.py, global rule -> both rules (seed 0): digits HOG 0.41 -> 0.96,
  textile HOG 0.00 -> 0.97, textile pixels 0.47 -> 0.97, digits pixels 0.80 -> 0.96; the
  synthetic spaces, wine and breast cancer stay at 1.00. An explicit threshold replaces both.
* **the kNN vote's temperature**: the median over samples of the distance between their nearest
  and their k-th neighbour (the width of a typical neighbourhood), so the nearest neighbour of a
  typical sample outweighs its k-th by a factor e in every space.

:func:`measure_scale` derives both; :class:`SimilarityScale` is the one place that decides
whether a pair of a neighbour graph is a near-duplicate (:meth:`SimilarityScale.near_duplicate_pairs`);
:func:`curate.score.duplicates.duplicate_components` groups by it, and the scorer's votes, the
probe's folds, hard negatives, propose and the report all use those groups. What was derived, and from
what, travels with it (:meth:`SimilarityScale.as_dict`) into the artifacts' metadata and
summary.json.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from curate.config import DEFAULT_DUPLICATE_RADIUS, DEFAULT_LOCAL_DUPLICATE_Z
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
    local_cut:           the local rule's cut on ``log(d1 / median(d2..d10))``; None when the rule
                         is off (a threshold was given, or too few neighbours to measure)
    local_z:             robust z the local cut was derived with
    intrinsic_dimension: the space's intrinsic dimension (median Levina-Bickel estimate over the
                         samples) the local rule's chance test uses
    """

    duplicate_threshold: float
    vote_temperature: float
    median_nn_distance: float | None = None
    neighbourhood_width: float | None = None
    duplicate_radius: float | None = None
    measured_rows: int = 0
    local_cut: float | None = None
    local_z: float | None = None
    intrinsic_dimension: float | None = None

    @property
    def derived(self) -> bool:
        """True when the duplicate threshold was derived from the data, not given."""
        return self.duplicate_radius is not None

    def near_duplicate(self, sims: np.ndarray) -> np.ndarray:
        """Bool array, same shape as ``sims`` (cosines): the pairs the global rule alone calls
        near-duplicates. Pairs of a whole graph: :meth:`near_duplicate_pairs`."""
        return np.asarray(sims) >= self.duplicate_threshold

    def near_duplicate_pairs(self, idx: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """(N, k) bool: which edges of a whole neighbour graph join near-duplicates, by the global
        rule or the local one (mutual nearest neighbours both below :attr:`local_cut`).

        idx: (N, k) int64 neighbours of every row (row i of the graph is sample i), self excluded,
        -1 for empty slots;  sims: (N, k) cosines, most similar first.
        """
        idx = np.asarray(idx)
        near = self.near_duplicate(sims) & (idx >= 0)
        if self.local_cut is None or idx.shape[1] == 0:
            return near
        below = local_ratio(sims) < self.local_cut
        if self.intrinsic_dimension is not None:
            below &= chance_of_nearest(sims, self.intrinsic_dimension) < 1.0 / len(idx)
        nearest = idx[:, 0]
        has = nearest >= 0
        safe = np.where(has, nearest, 0)
        mutual = has & (idx[safe, 0] == np.arange(len(idx))) & below & below[safe]
        near[:, 0] |= mutual
        return near

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
    local_z: float = DEFAULT_LOCAL_DUPLICATE_Z,
) -> SimilarityScale:
    """Read the similarity scale from a neighbour graph.

    neighbor_sims: (N, k) float32 cosines to each sample's neighbours, most similar first, self
                   excluded; -inf / NaN mark empty slots
    duplicate_threshold: an explicit near-duplicate cosine (overrides the derived one)
    duplicate_radius:    near-duplicate distance as a share of the median nearest-neighbour
                         distance (used when no threshold is given)
    vote_temperature:    an explicit kNN-vote temperature (overrides the derived one)
    local_z:             robust z below the usual nearest-neighbour share at which the local
                         rule calls mutual nearest neighbours near-duplicates
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
    median_nn, width, measured = _spacing(_distances(sims, span=None))
    local_cut = dimension = None
    if duplicate_threshold is None:
        local_cut = _local_cut(local_ratio(sims), local_z)
        dimension = intrinsic_dimension(sims) if local_cut is not None else None

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
        local_cut=local_cut,
        local_z=local_z if local_cut is not None else None,
        intrinsic_dimension=dimension,
    )


#: Neighbours 2..LOCAL_SPAN give a sample's typical spacing in the local rule.
LOCAL_SPAN = 10


def local_ratio(sims: np.ndarray) -> np.ndarray:
    """(N,) ``log(d1 / median(d2..d10))`` of each row of a cosine neighbour graph: how close the
    nearest neighbour is as a share of the next ones' spacing. -inf for an identical nearest
    neighbour; NaN where fewer than 3 neighbours exist."""
    dist = _distances(sims)
    if dist.shape[1] < 3:
        return np.full(len(dist), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no neighbours: NaN, as documented
        spacing = np.nanmedian(dist[:, 1:], axis=1)
        nearest = np.where(dist[:, 0] > _IDENTICAL, dist[:, 0], 0.0)
        return np.log(nearest / spacing)


def _distances(sims: np.ndarray, span: int | None = LOCAL_SPAN) -> np.ndarray:
    """Cosine distances of the first ``span`` columns (all of them: None); NaN for empty slots."""
    sims = np.asarray(sims, dtype=np.float64)[:, :span]
    return 1.0 - np.clip(np.where(np.isfinite(sims), sims, np.nan), -1.0, 1.0)


def intrinsic_dimension(sims: np.ndarray) -> float | None:
    """Median over samples of the Levina-Bickel maximum-likelihood intrinsic dimension,
    ``1 / mean_j log(d10 / d_j)`` over neighbours j = 2..9 (the nearest is left out: it is what
    the local rule tests). None when fewer than 10 neighbours or no spread."""
    dist = _distances(sims)
    if dist.shape[1] < LOCAL_SPAN:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(dist[:, -1:] / dist[:, 1:-1]).mean(axis=1)
        estimates = 1.0 / logs
    estimates = estimates[np.isfinite(estimates) & (estimates > 0)]
    return float(np.median(estimates)) if estimates.size else None


def chance_of_nearest(sims: np.ndarray, dimension: float) -> np.ndarray:
    """(N,) ``(d1 / d2)^m``: the probability that a sample's nearest neighbour is at most this much
    closer than its second, when samples are spread uniformly in ``m = dimension`` dimensions
    around it (then the value is uniform on (0, 1)). Small for a neighbour far closer than chance
    puts one; 0 for an identical one; NaN where fewer than 2 neighbours exist."""
    dist = _distances(sims)
    if dist.shape[1] < 2:
        return np.full(len(dist), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(dist[:, 0] > _IDENTICAL, dist[:, 0], 0.0) / dist[:, 1], 0.0, 1.0)
    return rho**dimension


def _local_cut(ratio: np.ndarray, z: float) -> float | None:
    """``median - z x`` the robust spread below the median of the finite ``ratio`` values (the
    spread of the lower half: the copies being looked for sit there and must not set it)."""
    if not z > 0:
        raise UsageError(f"local duplicate z must be positive, got {z}")
    values = ratio[np.isfinite(ratio)]
    if values.size < 3:
        return None
    med = float(np.median(values))
    below = med - values[values < med]
    spread = 1.4826 * float(np.median(below)) if below.size else 0.0
    if not spread > 0:
        return None
    return med - z * spread


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
    text = (
        f"cosine >= {record['duplicate_threshold']:.6g} (derived from this embedding space: "
        f"{record['duplicate_radius']:g} x the median nearest-neighbour distance {record['median_nn_distance']:.4g})"
    )
    if record.get("local_cut") is not None:
        text += (
            f", or mutual nearest neighbours closer than {math.exp(record['local_cut']):.3g} x their "
            f"neighbourhoods' spacing ({record['local_z']:g} robust SD below this space's usual share)"
        )
    return text
