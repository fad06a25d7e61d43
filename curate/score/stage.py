"""The score stage: label noise, duplicates, outliers and class statistics in one pass.

Reads samples.parquet, embeddings/ and neighbors.parquet; writes issues.parquet (one row per
embedded sample, schema ``ISSUES``) and classes.parquet (schema ``CLASSES``). Each finding comes
from its own library module; this file only wires them together and writes the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from curate import progress
from curate.data import align_rows, load_embedded
from curate.device import resolve_device
from curate.config import DEFAULT_DUPLICATE_RADIUS
from curate.graph.scale import SimilarityScale, measure_scale
from curate.schemas import ISSUES
from curate.stages import STAGES
from curate.workspace import Workspace, write_parquet_atomic

INPUTS = STAGES["score"].inputs


def _image_areas(ws: Workspace, sample_ids: np.ndarray) -> np.ndarray | None:
    """(N,) width*height from samples.parquet in ``sample_ids`` order; None for array inputs."""
    samples = align_rows(ws.read_table("samples", columns=["sample_id", "width", "height"]), sample_ids)
    if samples.column("width").null_count == samples.num_rows:
        return None
    w = samples.column("width").to_numpy(zero_copy_only=False).astype(np.float64)
    h = samples.column("height").to_numpy(zero_copy_only=False).astype(np.float64)
    return w * h


def _nullable(values: np.ndarray, mask: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=mask)


def _describe(scale: SimilarityScale) -> str:
    """One log line: the near-duplicate cut and where it came from."""
    if not scale.derived:
        return f"near-duplicates: cosine >= {scale.duplicate_threshold:.6g} (given)"
    if scale.median_nn_distance is None:
        return "near-duplicates: identical rows only (no neighbour distances to measure the space by)"
    return (f"near-duplicates: cosine >= {scale.duplicate_threshold:.6g} (derived: {scale.duplicate_radius:g} x the "
            f"median nearest-neighbour distance {scale.median_nn_distance:.4g})")


def run_score(
    ws: Workspace,
    *,
    label_sources: Sequence[str] = ("knn", "probe", "zeroshot"),
    folds: int = 5,
    duplicate_threshold: float | None = None,
    duplicate_radius: float = DEFAULT_DUPLICATE_RADIUS,
    outlier_z: float = 3.5,
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
    Unlabelled data and single-class data skip the label-noise part with a note (label columns
    stay empty); the other findings still run.
    """
    from curate.graph.stage import load_neighbors
    from curate.score.classes import class_statistics
    from curate.score.duplicates import find_duplicates
    from curate.score.noise import score_label_noise
    from curate.score.outliers import score_outliers

    params = {"label_sources": sorted(label_sources), "folds": folds,
              "duplicate_threshold": duplicate_threshold, "duplicate_radius": duplicate_radius, "outlier_z": outlier_z, "seed": seed}
    fp, inputs, issues_fresh = ws.plan("issues", "score", params, INPUTS, overwrite=overwrite)
    _, _, classes_fresh = ws.plan("classes", "score", params, INPUTS, overwrite=overwrite)
    if issues_fresh and classes_fresh:
        return {"stage": "score", "up_to_date": True}

    data = load_embedded(ws)
    neighbors = load_neighbors(ws, data.sample_ids)
    n, k_classes = len(data), data.num_classes

    scale = measure_scale(neighbors[1], duplicate_threshold=duplicate_threshold, duplicate_radius=duplicate_radius)
    progress.log(_describe(scale))
    progress.log("finding duplicates")
    dups = find_duplicates(data, neighbors, scale=scale, sizes=_image_areas(ws, data.sample_ids))
    progress.log(f"scoring labels of {n} samples ({', '.join(label_sources)})")
    noise = score_label_noise(data, neighbors=neighbors, sources=tuple(label_sources), folds=folds,
                              seed=seed, device=resolve_device(device), scale=scale,
                              duplicate_groups=dups.component)
    progress.log("scoring outliers")
    outl = score_outliers(data, neighbors, z_threshold=outlier_z)
    scored = np.isfinite(noise.label_quality)
    classes = class_statistics(
        data, duplicates=dups,
        noise_rate=noise.noise_rate if scored.any() else None,
        is_label_issue=noise.is_label_issue if scored.any() else None,
        confident_joint=noise.confident_joint if scored.any() else None,
        seed=seed,
    )

    names = np.array(data.class_names + [None], dtype=object)
    labels = names[np.where(data.labels >= 0, data.labels, k_classes)]
    suggested = names[np.where(scored, noise.suggested_label, k_classes)]
    table = pa.Table.from_arrays(
        [
            pa.array(data.sample_ids.tolist(), type=pa.string()),
            pa.array(labels.tolist(), type=pa.string()),
            _nullable(noise.label_quality.astype(np.float32), ~scored, pa.float32()),
            pa.array(noise.is_label_issue & scored, type=pa.bool_()),
            pa.array(suggested.tolist(), type=pa.string()),
            _nullable(noise.suggested_confidence.astype(np.float32), ~scored, pa.float32()),
            pa.array(dups.is_duplicate, type=pa.bool_()),
            pa.array(dups.group.tolist(), type=pa.string()),
            pa.array(dups.kind.tolist(), type=pa.string()),
            pa.array(dups.keep.tolist(), type=pa.bool_()),
            pa.array(dups.is_leak, type=pa.bool_()),
            pa.array(outl.outlier_score.astype(np.float32), type=pa.float32()),
            pa.array(outl.is_outlier, type=pa.bool_()),
        ],
        schema=ISSUES,
    )
    extra = {
        "similarity_scale": scale.as_dict(),
        "notes": list(noise.notes),
        "confused_pairs": [[data.class_names[a], data.class_names[b], int(c)] for a, b, c in noise.confused_pairs],
        "num_duplicate_groups": dups.num_groups,
        "num_leak_groups": dups.num_leak_groups,
        "num_leaked_samples": dups.num_leaked_samples,
    }
    write_parquet_atomic(ws.path("issues"), table, fingerprint=fp, inputs=inputs, params=params, extra=extra)
    write_parquet_atomic(ws.path("classes"), classes, fingerprint=fp, inputs=inputs, params=params)
    summary = {
        "stage": "score",
        "up_to_date": False,
        "num_samples": n,
        "label_issues": int(table.column("is_label_issue").to_numpy(zero_copy_only=False).sum()),
        "duplicates": int(dups.num_duplicates),
        "duplicate_groups": int(dups.num_groups),
        "leak_groups": int(dups.num_leak_groups),
        "outliers": int(outl.is_outlier.sum()),
        "similarity_scale": scale.as_dict(),
        "notes": list(noise.notes),
    }
    for note in noise.notes:
        progress.log(note)
    return summary
