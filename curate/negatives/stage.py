"""The negatives stage: negatives.parquet (hard negatives per anchor) and batches.parquet
(a contrastive mini-batch plan)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from curate import progress
from curate.config import DEFAULT_SEARCH_NPROBE
from curate.data import Embedded, align_rows, list_columns_to_arrays, load_embedded
from curate.errors import DataError, UsageError
from curate.graph.scale import SimilarityScale, measure_scale
from curate.graph.stage import load_neighbors
from curate.negatives.mining import (
    DEFAULT_MAX_SEARCH_K,
    LabelHints,
    confusion_pairs,
    mine_hard_negatives,
    plan_batches,
)
from curate.schemas import BATCHES, NEGATIVES
from curate.stages import STAGES
from curate.timing import timed
from curate.workspace import Workspace, locked, write_parquet_atomic


def _hints_from_issues(ws: Workspace, data: Embedded) -> LabelHints:
    table = align_rows(
        ws.read_table("issues", ["sample_id", "is_label_issue", "suggested_label", "duplicate_group"]),
        data.sample_ids,
    )
    return LabelHints.from_issues(
        table.column("is_label_issue").to_pylist(),
        table.column("suggested_label").to_pylist(),
        table.column("duplicate_group").to_pylist(),
        data.labels,
        data.class_names,
    )


def _scale(
    ws: Workspace, neighbors: tuple[np.ndarray, np.ndarray], threshold: float | None, with_issues: bool
) -> SimilarityScale:
    """The near-duplicate decision: the given threshold, else the one the score stage derived
    (so duplicates and negatives agree), else one measured from the neighbour graph."""
    if threshold is None and with_issues:
        recorded = ws.record("issues").get("extra", {}).get("similarity_scale")
        if recorded:
            return SimilarityScale.from_dict(recorded)
    return measure_scale(neighbors[1], duplicate_threshold=threshold)


@locked
@timed("negatives")
def run_negatives(
    ws: Workspace,
    *,
    num_negatives: int = 10,
    batch_size: int = 256,
    near_duplicate_threshold: float | None = None,
    use_issues: bool = True,
    max_search_k: int = DEFAULT_MAX_SEARCH_K,
    search_nprobe: int = DEFAULT_SEARCH_NPROBE,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Mine hard negatives and plan contrastive batches.

    Reads samples.parquet, embeddings/, neighbors.parquet and, when present and ``use_issues``,
    issues.parquet (suggested labels and duplicate groups; without it a neighbour vote stands in).
    Writes negatives.parquet (every embedded sample; empty lists where it has none, e.g.
    unlabelled) and batches.parquet. Returns a summary dict. ``search_nprobe``: inverted lists
    the extra search for anchors short of negatives visits on the ivf engine (large data on a
    CPU; ignored by exact search).
    """
    if num_negatives < 1:
        raise UsageError(f"num_negatives must be at least 1, got {num_negatives}")
    if batch_size < 2:
        raise UsageError(f"batch_size must be at least 2, got {batch_size}")
    if near_duplicate_threshold is not None and not 0.0 < near_duplicate_threshold <= 1.0:
        raise UsageError(f"near_duplicate_threshold must be in (0, 1], got {near_duplicate_threshold}")
    if max_search_k < 1:
        raise UsageError(f"max_search_k must be at least 1, got {max_search_k}")
    if search_nprobe < 1:
        raise UsageError(f"search_nprobe must be at least 1, got {search_nprobe}")
    ws.require("neighbors")
    inputs = STAGES["negatives"].inputs_present(lambda artifact: use_issues and ws.exists(artifact))
    with_issues = "issues" in inputs
    params = {
        "num_negatives": num_negatives,
        "near_duplicate_threshold": near_duplicate_threshold,
        "use_issues": with_issues,
        "max_search_k": max_search_k,
    }
    if search_nprobe != DEFAULT_SEARCH_NPROBE:  # only when set, so earlier workspaces stay up to date
        params["search_nprobe"] = search_nprobe
    batch_params = {"batch_size": batch_size, "seed": seed}
    neg_fp, neg_inputs, neg_fresh = ws.plan("negatives", "negatives", params, inputs, overwrite=overwrite)
    summary: dict[str, Any] = {
        "stage": "negatives",
        "negatives": str(ws.path("negatives")),
        "batches": str(ws.path("batches")),
    }
    bat_fresh = False
    if neg_fresh:  # the batch plan follows the negatives, so it can only be current if they are
        _, _, bat_fresh = ws.plan(
            "batches", "batches", batch_params, ["samples", "embeddings", "negatives"], overwrite=overwrite
        )
    summary["up_to_date"] = summary["skipped"] = neg_fresh and bat_fresh
    if summary["up_to_date"]:
        return summary

    data = load_embedded(ws)
    if len(data) == 0:
        raise DataError("no embedded samples to mine negatives from")
    if not neg_fresh:
        progress.log(f"mining {num_negatives} hard negatives for {len(data)} samples")
        neighbors = load_neighbors(ws, data.sample_ids)
        hints = _hints_from_issues(ws, data) if with_issues else None
        scale = _scale(ws, neighbors, near_duplicate_threshold, with_issues)
        groups = " and the members of its duplicate group (issues.parquet)" if hints is not None else ""
        progress.log(
            f"near duplicates of an anchor are not its negatives: cosine >= {scale.duplicate_threshold:.6g}{groups}"
        )
        neg_idx, neg_sims = mine_hard_negatives(
            data,
            neighbors,
            num_negatives=num_negatives,
            hints=hints,
            scale=scale,
            max_search_k=max_search_k,
            search_nprobe=search_nprobe,
        )
        found = neg_idx >= 0
        ids = data.sample_ids
        table = pa.table(
            {
                "sample_id": ids.tolist(),
                "negative_ids": [ids[row[ok]].tolist() for row, ok in zip(neg_idx, found)],
                "negative_sims": [row[ok].tolist() for row, ok in zip(neg_sims, found)],
            },
            schema=NEGATIVES,
        )
        pairs = [
            {"class_a": data.class_names[a], "class_b": data.class_names[b], "count": c, "lift": round(lift, 3)}
            for a, b, c, lift in confusion_pairs(data.labels, neg_idx, data.num_classes)
        ]
        write_parquet_atomic(
            ws.path("negatives"),
            table,
            fingerprint=neg_fp,
            inputs=neg_inputs,
            params=params,
            extra={"confusion_pairs": pairs, "similarity_scale": scale.as_dict()},
        )
        summary.update(
            anchors_with_negatives=int(found.any(axis=1).sum()),
            mean_negatives=float(found.sum(axis=1).mean()),
            mean_negative_sim=float(np.nanmean(neg_sims)) if found.any() else None,
            confusion_pairs=pairs[:5],
        )
    else:
        neg_idx, _ = list_columns_to_arrays(
            ws.read_table("negatives"), data.sample_ids, "negative_ids", "negative_sims"
        )
    if not bat_fresh:
        bat_fp, bat_inputs, _ = ws.plan(
            "batches", "batches", batch_params, ["samples", "embeddings", "negatives"], overwrite=overwrite
        )
        progress.log(f"planning contrastive batches of {batch_size}")
        batch = plan_batches(data.embeddings, neg_idx, batch_size=batch_size, seed=seed)
        order = np.argsort(batch, kind="stable")
        table = pa.table({"batch": batch[order], "sample_id": data.sample_ids[order].tolist()}, schema=BATCHES)
        write_parquet_atomic(ws.path("batches"), table, fingerprint=bat_fp, inputs=bat_inputs, params=batch_params)
        summary["num_batches"] = int(batch.max()) + 1
    return summary
