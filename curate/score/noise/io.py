"""Bring-your-own probabilities to a ``curate noise`` Parquet file (a contract, docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.schemas import NOISE
from curate.score.noise.filter import find_issues_from_pred_probs
from curate.score.noise.result import LabelNoiseResult


def noise_table(result: LabelNoiseResult, sample_ids: np.ndarray | None = None) -> pa.Table:
    """The NOISE-schema table of a result; ``sample_ids`` default to row numbers as strings."""
    n = len(result)
    ids = np.arange(n).astype(str) if sample_ids is None else np.asarray(sample_ids).astype(str)
    return pa.Table.from_arrays(
        [
            pa.array(ids, type=pa.string()),
            pa.array(result.label_quality, type=pa.float32()),
            pa.array(result.is_label_issue, type=pa.bool_()),
            pa.array(result.suggested_label, type=pa.int64()),
            pa.array(result.suggested_confidence, type=pa.float32()),
        ],
        schema=NOISE,
    )


def write_noise_table(
    labels_path: str | Path,
    probs_path: str | Path,
    output: str | Path,
    *,
    label_column: str | None = None,
    filter_by: str = "prune_by_noise_rate",
) -> dict[str, Any]:
    """Load labels (N,) and pred_probs (N, K), flag issues, write ``output`` atomically.

    Missing files raise :class:`UsageError` (exit 2); malformed arrays :class:`DataError` (exit 1),
    before anything is written. Returns a JSON-serialisable summary.
    """
    from curate.embed.importer import load_array
    from curate.errors import UsageError
    from curate.workspace import write_parquet_atomic

    output = Path(output)
    if not output.parent.exists():
        raise UsageError(f"output folder {output.parent} does not exist")
    labels = load_array(labels_path, column=label_column)
    pred_probs = load_array(probs_path)
    result = find_issues_from_pred_probs(labels, pred_probs, filter_by=filter_by)
    params = {"filter_by": filter_by}
    write_parquet_atomic(
        output,
        noise_table(result),
        params=params,
        inputs={"labels": str(labels_path), "pred_probs": str(probs_path)},
        extra={"notes": result.notes},
    )
    k = len(result.noise_rate)
    return {
        "num_samples": len(result),
        "num_classes": k,
        "label_issues": result.num_issues,
        "label_issue_rate": result.issue_rate,
        "noise_rate": [float(x) for x in result.noise_rate],
        "confused_pairs": [list(p) for p in result.confused_pairs[:10]],
        "notes": result.notes,
        "output": str(output),
    }
