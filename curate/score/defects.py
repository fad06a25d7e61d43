"""Image-level defects judged against the dataset's own distribution.

Each image defect (``dark``, ``light``, ``blurry``, ``low_information``, ``odd_aspect_ratio``,
``odd_size``, ``grayscale``; one issue type each in :mod:`curate.issues`) reads one *measure* of
every image from samples.parquet (``image_stats``, :mod:`curate.index.properties`, and ``width``
/ ``height``), oriented so that lower is worse. :func:`judge` then flags a sample when

* its measure is far below this dataset's own: more than ``fence`` interquartile ranges below
  the lower quartile (Tukey's fence; 2.5 by default, :data:`curate.config.DEFAULT_IMAGE_FENCE`:
  a quartile-based fence follows the skewed, heavy-tailed distributions image measures have,
  where a median-absolute-deviation z flags the whole tail), and not above the measure's documented **bound** (a picture whose brightest 1 % is above a third grey is not dark,
  whatever the data); or
* it is at or below the measure's documented **floor** (a black frame is dark in any dataset); or,
  instead of both, at or below an explicit threshold the user gave (``thresholds``);

unless the flagged share is above ``max_share`` of the measured samples (default one half): a
"defect" that most of a dataset has is what the dataset is (a grayscale dataset, night photos),
so none is flagged and the record says so (``capped``). Each type's ``<type>_score`` is a logistic
of the distance to the cut in robust standard deviations (the IQR / 1.349): 0.5 at the cut, towards 1 for typical
images, towards 0 for the worst. What was derived (median, spread, cut, where it came from, how
many were flagged) is recorded per type in issues.parquet's metadata and summary.json
(``image_defects``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curate.config import DEFAULT_IMAGE_FENCE, DEFAULT_MAX_DEFECT_SHARE, IMAGE_DEFECTS
from curate.errors import UsageError
from curate.issues._image import Measure

#: a normal distribution's interquartile range is 1.349 standard deviations
_IQR_TO_SD = 1.349

Stats = Mapping[str, np.ndarray]


def measure_of(name: str) -> Measure:
    """The measure an image-defect type declares (``MEASURE`` in ``curate/issues/<name>.py``)."""
    import importlib

    return importlib.import_module(f"curate.issues.{name}").MEASURE


def judge_images(
    stats: Stats,
    *,
    fence: float = DEFAULT_IMAGE_FENCE,
    thresholds: Mapping[str, float] | None = None,
    max_share: float = DEFAULT_MAX_DEFECT_SHARE,
) -> dict[str, Judgement]:
    """Every image defect (:data:`curate.config.IMAGE_DEFECTS`) judged over the same stats, by
    :func:`judge`. One picture, one reason among rivals (``Measure.rivals``: a dark photo has few
    grey levels, a flat dim picture is dark too): a sample two rivals flag keeps the flag whose
    score is lower (the defect it shows most strongly), and each record counts what it gave up
    (``given_up_to``)."""
    given = check_thresholds(thresholds)
    judged = {
        name: judge(measure_of(name), stats, fence=fence, threshold=given.get(name), max_share=max_share)
        for name in IMAGE_DEFECTS
    }
    for name in IMAGE_DEFECTS:
        mine = judged[name]
        for other in measure_of(name).rivals:
            theirs = judged[other]
            both = mine.flag & theirs.flag
            mine_wins = both & (mine.score <= theirs.score)
            for loser, winner, lost in ((mine, other, both & ~mine_wins), (theirs, name, mine_wins)):
                if lost.any():
                    loser.flag = loser.flag & ~lost
                    given_up = loser.record.setdefault("given_up_to", {})
                    given_up[winner] = given_up.get(winner, 0) + int(lost.sum())
    for result in judged.values():
        result.record["flagged"] = int(result.flag.sum())
    return judged


@dataclass
class Judgement:
    """One defect's verdicts, row-aligned with the samples.

    flag:  (N,) bool;  score: (N,) float32 0..1 (1 = clean), NaN where not measured
    record: what was derived, for the artifacts (JSON-serialisable)
    """

    flag: np.ndarray
    score: np.ndarray
    record: dict[str, Any]


def _natural_of(value: float | None, measure: Measure) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    v = -float(value) if measure.higher_is_worse else float(value)
    return float(np.exp(v)) if measure.log else v


def judge(
    measure: Measure,
    stats: Stats,
    *,
    fence: float = DEFAULT_IMAGE_FENCE,
    threshold: float | None = None,
    max_share: float = DEFAULT_MAX_DEFECT_SHARE,
) -> Judgement:
    """Flag and score one defect over every sample (see the module docstring for the rule).

    stats:     columns of samples.parquet's ``image_stats`` plus ``width`` / ``height``, each (N,)
               float64 with NaN where the image was not measured (unreadable, array inputs)
    threshold: an explicit cut in the measure's natural units (``measure.meaning``), replacing
               the derived one, the floor and the bound (the share cap still applies)
    """
    natural = measure.natural(stats)
    x = measure.oriented(natural)
    measured = np.isfinite(x)
    n_measured = int(measured.sum())
    record: dict[str, Any] = {"measure": measure.meaning, "measured": n_measured}
    flag = np.zeros(len(x), dtype=bool)
    score = np.full(len(x), np.nan, dtype=np.float32)
    if n_measured == 0:
        return Judgement(flag, score, record | {"cut": None, "source": "not measured", "flagged": 0})
    values = x[measured]
    median = float(np.median(values))
    q1, q3 = (float(q) for q in np.quantile(values, [0.25, 0.75]))
    spread = (q3 - q1) / _IQR_TO_SD
    floor = None if measure.floor is None else float(measure.oriented(np.array([measure.floor]))[0])
    bound = None if measure.bound is None else float(measure.oriented(np.array([measure.bound]))[0])
    if threshold is not None:
        cut, source = float(measure.oriented(np.array([threshold]))[0]), "given"
    else:
        candidates = []
        # a dataset whose images all measure alike (one size, one shape): anything beyond the
        # bound is far from it
        if measure.relative and (spread > 0 or bound is not None):
            relative = q1 - fence * (q3 - q1)
            candidates.append(relative if bound is None else min(relative, bound))
        if floor is not None:
            candidates.append(floor)
        cut = max(candidates) if candidates else -np.inf
        source = "derived" if measure.relative else "floor"
    flagged = measured & (x <= cut)
    share = float(flagged.sum()) / n_measured
    capped = threshold is None and share > max_share
    if not capped:
        flag = flagged
    # the logistic's width: the data's spread, or (no spread: every image alike) the gap between
    # floor and bound, or one unit of the judged scale
    width = spread or (abs(bound - floor) if bound is not None and floor is not None else 0.0) or 1.0
    if np.isfinite(cut):
        score[measured] = 1.0 / (1.0 + np.exp(-np.clip((values - cut) / width, -50, 50)))
    else:
        score[measured] = 1.0
    record |= {
        "median": _natural_of(median, measure),
        "robust_sd": spread,
        "fence": fence,
        "cut": _natural_of(cut, measure),
        "floor": measure.floor,
        "bound": measure.bound,
        "source": source,
        "flagged": int(flag.sum()),
        "capped": capped,
    }
    if capped:
        record["note"] = (
            f"{share:.0%} of the measured images are {measure.name.replace('_', ' ')} by this rule, more than "
            f"{max_share:.0%}: that is what this dataset is, not a defect, so none is flagged"
        )
    return Judgement(flag, score, record)


#: the columns of samples.parquet a defect may read
STAT_COLUMNS = ("width", "height")


def load_image_stats(samples: pa.Table) -> dict[str, np.ndarray] | None:
    """samples.parquet rows (already aligned to the embedded samples) -> ``{stat: (N,) float64}``
    with NaN where not measured; the perceptual hash as ``(N,) int64`` (0 where none) and the pixel
    digest as ``(N,) object``. None when no row has image stats (array inputs, an index written
    before they were measured)."""
    names = samples.schema.names
    if "image_stats" not in names or samples.column("image_stats").null_count == samples.num_rows:
        return None
    column = samples.column("image_stats").combine_chunks()
    out: dict[str, np.ndarray] = {}
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    for i, field in enumerate(column.type):
        child = column.field(i)
        if field.name == "pixel_digest":
            values = np.array(child.to_pylist(), dtype=object)
            values[~valid] = None
            out[field.name] = values
        elif field.name == "phash":
            out[field.name] = np.where(valid, child.fill_null(0).to_numpy(zero_copy_only=False), 0).astype(np.int64)
        else:
            raw = child.to_numpy(zero_copy_only=False).astype(np.float64)
            out[field.name] = np.where(valid, raw, np.nan)
    for name in STAT_COLUMNS:
        raw = samples.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        out[name] = np.where(valid, raw, np.nan)
    out["measured"] = valid
    return out


def check_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """Explicit thresholds by defect name (:data:`curate.config.IMAGE_DEFECTS`); an unknown name is
    a :class:`UsageError`."""
    given = dict(thresholds or {})
    unknown = sorted(set(given) - set(IMAGE_DEFECTS))
    if unknown:
        raise UsageError(f"no image defect named {', '.join(unknown)}; choose among {', '.join(IMAGE_DEFECTS)}")
    return {k: float(v) for k, v in given.items()}


def score_defect(ctx: Any, name: str) -> dict[str, Any]:
    """An image-defect type's columns (``is_<name>``, ``<name>_score``) from a score context's
    judgements (:attr:`curate.score.context.ScoreContext.image_defects`); its record goes to
    ``ctx.derived["image_defects"]``. Not measured (array inputs): no flag, a null score."""
    n = len(ctx.data)
    flag_col, score_col = f"is_{name}", f"{name}_score"
    judged = ctx.image_defects
    records = ctx.derived.setdefault("image_defects", {})
    if judged is None:
        records[name] = {"source": "not measured", "flagged": 0}
        return {flag_col: np.zeros(n, dtype=bool), score_col: pa.nulls(n, pa.float32())}
    result = judged[name]
    records[name] = result.record
    measured = np.isfinite(result.score)
    return {
        flag_col: result.flag,
        score_col: pa.array(np.nan_to_num(result.score), type=pa.float32(), mask=~measured),
    }
