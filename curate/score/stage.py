"""The score stage: label noise, duplicates, outliers and class statistics in one pass.

Reads samples.parquet, embeddings/ and neighbors.parquet; writes issues.parquet (one row per
embedded sample, schema ``ISSUES``) and classes.parquet (schema ``CLASSES``). Each finding comes
from its own library module; this file only wires them together and writes the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from curate import progress
from curate.config import (
    DEFAULT_DUPLICATE_RADIUS,
    DEFAULT_IMAGE_FENCE,
    DEFAULT_MAX_DEFECT_SHARE,
    DEFAULT_PHASH_DISTANCE,
)
from curate.data import align_rows, load_embedded
from curate.device import resolve_device
from curate.errors import UsageError
from curate.graph.scale import describe_cut
from curate.issues import issue_types
from curate.schemas import issues_schema
from curate.score.defects import check_thresholds, load_image_stats
from curate.stages import STAGES
from curate.timing import timed
from curate.workspace import Workspace, locked, write_parquet_atomic

INPUTS = STAGES["score"].inputs


def _image_columns(ws: Workspace, sample_ids: np.ndarray) -> tuple[np.ndarray | None, dict[str, np.ndarray] | None]:
    """(N,) width*height (None for array inputs) and the image stats
    (:func:`curate.score.defects.load_image_stats`) from samples.parquet, in ``sample_ids`` order."""
    wanted = ["sample_id", "width", "height"]
    samples = ws.read_table("samples")
    if "image_stats" in samples.schema.names:
        wanted.append("image_stats")
    samples = align_rows(samples.select(wanted), sample_ids)
    if samples.column("width").null_count == samples.num_rows:
        return None, None
    w = samples.column("width").to_numpy(zero_copy_only=False).astype(np.float64)
    h = samples.column("height").to_numpy(zero_copy_only=False).astype(np.float64)
    return w * h, load_image_stats(samples)


def _tags_record(scores: Any) -> dict[str, Any]:
    """What the tag scorer derived, for issues.parquet's metadata (JSON-able)."""
    return {
        "thresholds": [round(float(t), 6) for t in scores.thresholds],
        "tag_issue_rate": [round(float(r), 6) for r in scores.tag_issue_rate],
        "params": scores.params,
    }


@locked
@timed("score")
def run_score(
    ws: Workspace,
    *,
    label_sources: Sequence[str] = ("knn", "euclidean", "probe", "zeroshot"),
    folds: int = 5,
    duplicate_threshold: float | None = None,
    duplicate_radius: float = DEFAULT_DUPLICATE_RADIUS,
    outlier_z: float = 3.5,
    image_fence: float = DEFAULT_IMAGE_FENCE,
    image_thresholds: Mapping[str, float] | None = None,
    max_defect_share: float = DEFAULT_MAX_DEFECT_SHARE,
    phash_distance: int = DEFAULT_PHASH_DISTANCE,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write issues.parquet and classes.parquet; return a summary dict.

    label_sources:       which out-of-sample probability sources vote on each label
                         (``knn``, ``probe``, ``zeroshot``; see :mod:`curate.score.noise`)
    duplicate_threshold: cosine at or above which two samples are near duplicates; None derives it
                         from the space (``duplicate_radius`` x the median nearest-neighbour
                         distance, :mod:`curate.graph.scale`)
    duplicate_radius:    near-duplicate distance as a share of the median nearest-neighbour distance
    outlier_z:           robust z above which a sample is an outlier
    image_fence:         interquartile ranges below this dataset's lower quartile at which an
                         image measure is a defect (dark, blurry, ...; :mod:`curate.score.defects`)
    image_thresholds:    explicit cuts by defect name (``{"blurry": 0.2}``, in each measure's
                         units), replacing the derived ones
    max_defect_share:    the largest share of the images a defect may flag; above it none is
                         (it is what the dataset is: a grayscale dataset has no grayscale issue)
    phash_distance:      bits (of 64) within which two images' perceptual hashes make them near
                         copies in one duplicate group (:mod:`curate.score.copies`); -1: none
    Unlabelled data and single-class data skip the label-noise part with a note (label columns
    stay empty); the other findings still run.
    """
    from curate.graph.stage import load_neighbors
    from curate.score.classes import class_statistics
    from curate.score.context import ScoreContext

    types = issue_types()
    if not -1 <= phash_distance <= 32:
        raise UsageError(f"phash_distance must be between -1 (off) and 32 bits, got {phash_distance}")
    if image_fence <= 0 or not 0 < max_defect_share <= 1:
        raise UsageError(
            f"image_fence must be > 0 and max_defect_share in (0, 1]; got {image_fence}, {max_defect_share}"
        )
    thresholds = check_thresholds(image_thresholds)
    params = {
        "label_sources": sorted(label_sources),
        "folds": folds,
        "duplicate_threshold": duplicate_threshold,
        "duplicate_radius": duplicate_radius,
        "outlier_z": outlier_z,
        "image_fence": image_fence,
        "image_thresholds": thresholds,
        "max_defect_share": max_defect_share,
        "phash_distance": phash_distance,
        "seed": seed,
        "issue_types": [t.name for t in types],
    }
    fp, inputs, issues_fresh = ws.plan("issues", "score", params, INPUTS, overwrite=overwrite)
    _, _, classes_fresh = ws.plan("classes", "score", params, INPUTS, overwrite=overwrite)
    if issues_fresh and classes_fresh:
        return {"stage": "score", "up_to_date": True}

    data = load_embedded(ws)
    areas, image_stats = _image_columns(ws, data.sample_ids)
    ctx = ScoreContext(
        data,
        load_neighbors(ws, data.sample_ids),
        params,
        device=resolve_device(device),
        image_areas=areas,
        image_stats=image_stats,
    )
    n = len(data)
    progress.log(f"near-duplicates: {describe_cut(ctx.scale.as_dict())}")
    names = np.array(data.class_names + [None], dtype=object)
    columns: dict[str, Any] = {
        "sample_id": data.sample_ids.tolist(),
        "label": names[np.where(data.labels >= 0, data.labels, data.num_classes)].tolist(),
    }
    for issue_type in types:
        progress.log(f"scoring {issue_type.name} issues of {n} samples")
        found = issue_type.scoring_function()(ctx)
        columns.update((c.name, found[c.name]) for c in issue_type.columns)
    schema = issues_schema()
    table = pa.Table.from_arrays(
        [
            v if isinstance(v, pa.Array) else pa.array(v, type=field.type)
            for field, v in zip(schema, (columns[name] for name in schema.names))
        ],
        schema=schema,
    )
    noise, dups = ctx.label_noise, ctx.duplicates
    scored = np.isfinite(noise.label_quality)
    if data.tags is not None:
        from curate.score.tags import tag_statistics

        classes = tag_statistics(data.tags, data.class_names, ctx.tag_scores, duplicate_copies=dups.is_duplicate)
        noise.notes[:] = []  # the single-label scorer's "unlabelled" note does not apply
    else:
        classes = class_statistics(
            data,
            duplicates=dups,
            noise_rate=noise.noise_rate if scored.any() else None,
            is_label_issue=noise.is_label_issue if scored.any() else None,
            confident_joint=noise.confident_joint if scored.any() else None,
            evidence=noise.evidence,
            seed=seed,
        )
    extra = {
        "similarity_scale": ctx.scale.as_dict(),
        "notes": list(noise.notes),
        "confused_pairs": [[data.class_names[a], data.class_names[b], int(c)] for a, b, c in noise.confused_pairs],
        "num_duplicate_groups": dups.num_groups,
        "num_leak_groups": dups.num_leak_groups,
        "num_leaked_samples": dups.num_leaked_samples,
        "label_evidence": None if noise.evidence is None else noise.evidence.as_dict(data.class_names),
        "captions": ctx.captions.derived,
        **ctx.derived,
    }
    if data.multi_label:
        extra["multi_label"] = _tags_record(ctx.tag_scores)
    write_parquet_atomic(ws.path("issues"), table, fingerprint=fp, inputs=inputs, params=params, extra=extra)
    write_parquet_atomic(ws.path("classes"), classes, fingerprint=fp, inputs=inputs, params=params)
    flagged = {
        t.name: int(np.asarray(table.column(t.flag).to_numpy(zero_copy_only=False), dtype=bool).sum()) for t in types
    }
    summary = {
        "stage": "score",
        "up_to_date": False,
        "num_samples": n,
        "flagged": flagged,
        "label_issues": flagged["label"],
        "duplicates": int(dups.num_duplicates),
        "duplicate_groups": int(dups.num_groups),
        "leak_groups": int(dups.num_leak_groups),
        "outliers": flagged["outlier"],
        "similarity_scale": ctx.scale.as_dict(),
        "captions": ctx.captions.derived,
        "notes": list(noise.notes),
        "label_evidence": extra["label_evidence"],
        "multi_label": data.multi_label,
    }
    for note in noise.notes:
        progress.log(note)
    return summary
