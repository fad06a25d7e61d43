"""The propose stage: plan.parquet from samples, issues and neighbours."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import pyarrow.compute as pc

from curate import progress
from curate.data import class_names_of
from curate.errors import UsageError
from curate.graph.stage import load_neighbors
from curate.plan.propose import propose
from curate.plan.rebalance import STRATEGIES
from curate.plan.rules import OUTLIER_ACTIONS
from curate.stages import STAGES
from curate.workspace import Workspace, locked, write_parquet_atomic


@locked
def run_propose(
    ws: Workspace,
    *,
    strategy: Literal["none", "inverse", "sqrt", "effective-number", "cap"] = "none",
    cap: int | None = None,
    relabel_threshold: float = 0.9,
    drop_near_duplicates: bool = False,
    outliers: Literal["review", "drop", "keep"] = "review",
    beta: float = 0.999,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write plan.parquet: an action, final label, sampling weight and reasons for every sample.

    Reads samples.parquet and, when present, issues.parquet and neighbors.parquet (see
    :func:`curate.plan.propose.propose` for the rules). Returns a summary dict.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    if strategy == "cap" and cap is None:
        raise UsageError("strategy 'cap' needs --cap (the most samples a class keeps)")
    if cap is not None and cap < 1:
        raise UsageError(f"cap must be at least 1, got {cap}")
    if not 0.0 <= relabel_threshold <= 1.0:
        raise UsageError(f"relabel_threshold must be in [0, 1], got {relabel_threshold}")
    if outliers not in OUTLIER_ACTIONS:
        raise UsageError(f"outliers must be one of: {', '.join(OUTLIER_ACTIONS)}; got {outliers!r}")
    if not 0.0 < beta < 1.0:
        raise UsageError(f"beta must be in (0, 1), got {beta}")
    ws.require("samples")
    inputs = STAGES["propose"].inputs_present(ws.exists)
    params = {
        "strategy": strategy,
        "cap": cap,
        "relabel_threshold": relabel_threshold,
        "drop_near_duplicates": drop_near_duplicates,
        "outliers": outliers,
        "beta": beta,
    }
    fp, input_fps, fresh = ws.plan("plan", "propose", params, inputs, overwrite=overwrite)
    summary: dict[str, Any] = {
        "stage": "propose",
        "plan": str(ws.path("plan")),
        "up_to_date": fresh,
        "skipped": fresh,
        "used": inputs,
    }
    if fresh:
        return summary
    samples = ws.read_table("samples", ["sample_id", "label", "readable", "error"])
    issues = ws.read_table("issues") if "issues" in inputs else None
    neighbors = (
        load_neighbors(ws, samples.column("sample_id").to_pylist(), strict=False) if "neighbors" in inputs else None
    )
    if issues is None:
        progress.log("issues.parquet not found: proposing from class counts only (run `curate score` first)")
    plan = propose(
        samples,
        issues,
        neighbors,
        class_names=class_names_of(ws.path("samples")),
        strategy=strategy,
        cap=cap,
        relabel_threshold=relabel_threshold,
        drop_near_duplicates=drop_near_duplicates,
        outliers=outliers,
        beta=beta,
    )
    write_parquet_atomic(ws.path("plan"), plan, fingerprint=fp, inputs=input_fps, params=params)
    actions = Counter(plan.column("action").to_pylist())
    weights = plan.column("weight")
    summary.update(
        actions={a: actions.get(a, 0) for a in ("keep", "drop", "relabel", "review")},
        max_weight=float(pc.max(weights).as_py() or 0.0),
        strategy=strategy,
    )
    return summary
