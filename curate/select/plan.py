"""A selection applied to a plan: each row's tier from what the audit found, the chosen rows'
``selected`` / ``select_rank`` columns, and the ``selection`` record summary.json shows.

``select_rank`` is 0 for the row chosen first and counts up over the chosen rows; it is -1 for a
row not chosen, and null (like ``selected``) in a plan made without a selection. An unchosen row
keeps its action and reasons (with ``not selected`` added) and gets weight 0.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from curate.config import IMAGE_DEFECTS
from curate.data import align_rows
from curate.select.strategies import TIERS, budget_count, select_rows

#: the reason an unchosen row carries in plan.parquet and manifest.parquet
NOT_SELECTED = "not selected: outside the training budget"

#: the ``per_class`` key of unlabelled rows in the selection record
UNLABELLED = "(unlabelled)"

#: issue flags that make an image a defective one (its tier is ``defect``)
DEFECT_FLAGS: tuple[str, ...] = tuple(f"is_{name}" for name in IMAGE_DEFECTS) + ("is_outlier",)


def row_tiers(plan: pa.Table, readable: np.ndarray, embedded: np.ndarray, issues: pa.Table | None) -> np.ndarray:
    """(N,) int64 tier of every plan row (index into :data:`curate.select.strategies.TIERS`):
    ``dropped`` (action drop), ``defect`` (an image-defect or outlier flag, or held for review
    for another reason), ``label_issue`` (flagged label, relabelled, or queued for review),
    ``redundant`` (a copy of a duplicate group's keeper), else ``candidate``; -1 for rows that
    are unreadable or have no embedding (never selectable)."""
    n = plan.num_rows
    action = np.array(plan.column("action").to_pylist(), dtype=object)
    flags: dict[str, np.ndarray] = {}
    if issues is not None:
        aligned = align_rows(issues, plan.column("sample_id").to_pylist())
        for name in ("is_duplicate", "is_label_issue", *DEFECT_FLAGS):
            if name in aligned.column_names:
                flags[name] = np.array([bool(v) for v in aligned.column(name).to_pylist()], dtype=bool)
    none = np.zeros(n, dtype=bool)
    defect = np.logical_or.reduce([flags.get(f, none) for f in DEFECT_FLAGS])
    label_issue = flags.get("is_label_issue", none) | (action == "relabel")
    tiers = np.full(n, TIERS.index("candidate"), dtype=np.int64)
    tiers[flags.get("is_duplicate", none)] = TIERS.index("redundant")
    tiers[(action == "review") & ~defect] = TIERS.index("label_issue")
    tiers[label_issue] = TIERS.index("label_issue")
    tiers[defect] = TIERS.index("defect")
    tiers[action == "drop"] = TIERS.index("dropped")
    tiers[~(readable & embedded)] = -1
    return tiers


def apply_selection(
    plan: pa.Table,
    embeddings: np.ndarray,
    tiers: np.ndarray,
    *,
    budget: int | float,
    strategy: str,
    seed: int,
    nearest: np.ndarray | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """The plan with ``budget`` rows selected (:func:`curate.select.strategies.select_rows`):
    ``selected`` and ``select_rank`` filled, unchosen rows at weight 0 with :data:`NOT_SELECTED`
    among their reasons. Returns it with the selection's record (:func:`selection_record`).

    plan:       plan.parquet rows (schema PLAN)
    embeddings: (N, D) float32 L2-normalised, row i the embedding of plan row i (zeros where none)
    tiers:      (N,) int64 from :func:`row_tiers`
    budget:     an ``int`` count or a ``float`` fraction of the selectable rows (tier >= 0);
                ValueError when it does not fit (:func:`curate.select.strategies.budget_count`)
    nearest:    (N,) int64 each plan row's nearest neighbour (a plan row), -1 for none, or None
    """
    labels_text = plan.column("label").to_pylist()
    names = sorted({lab for lab in labels_text if lab is not None})
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([-1 if lab is None else index[lab] for lab in labels_text], dtype=np.int64)
    count = budget_count(budget, int((tiers >= 0).sum()))
    chosen = select_rows(embeddings, labels, tiers, count, strategy=strategy, seed=seed, nearest=nearest)
    selected = chosen.selected
    weight = np.where(selected, np.asarray(plan.column("weight").to_numpy(zero_copy_only=False)), 0.0)
    reasons = [list(r) if s else [*r, NOT_SELECTED] for r, s in zip(plan.column("reasons").to_pylist(), selected)]
    out = plan.set_column(plan.schema.get_field_index("weight"), "weight", pa.array(weight, type=pa.float64()))
    out = out.set_column(out.schema.get_field_index("reasons"), "reasons", pa.array(reasons, pa.list_(pa.string())))
    out = out.set_column(out.schema.get_field_index("selected"), "selected", pa.array(selected, type=pa.bool_()))
    out = out.set_column(
        out.schema.get_field_index("select_rank"), "select_rank", pa.array(chosen.rank, type=pa.int64())
    )
    record = selection_record(labels_text, tiers, selected, budget=budget, count=count, strategy=strategy, seed=seed)
    return out, record


def selection_record(
    labels: list[str | None],
    tiers: np.ndarray,
    selected: np.ndarray,
    *,
    budget: int | float,
    count: int,
    strategy: str,
    seed: int,
) -> dict[str, Any]:
    """summary.json's ``selection``: the ``budget`` as given and the ``count`` it came to, the
    ``strategy`` and ``seed``, ``num_selectable`` rows, ``num_selected``, ``per_class``
    (``{class: {"before", "after"}}``: selectable rows and chosen ones, by final label;
    unlabelled rows under :data:`UNLABELLED`), ``selected_by_tier`` (chosen rows per tier) and
    ``left_out`` (selectable rows not chosen, per tier: ``redundant`` copies, ``label_issue``,
    ``defect``, ``dropped`` and ``candidate``s the coverage did not need)."""
    selectable = tiers >= 0
    before = Counter(lab for lab, ok in zip(labels, selectable) if ok)
    after = Counter(lab for lab, s in zip(labels, selected) if s)
    order = sorted(before, key=lambda name: (name is None, name or ""))
    return {
        "budget": budget,
        "count": count,
        "strategy": strategy,
        "seed": seed,
        "num_selectable": int(selectable.sum()),
        "num_selected": int(selected.sum()),
        "per_class": {
            UNLABELLED if name is None else name: {"before": before[name], "after": after.get(name, 0)}
            for name in order
        },
        "selected_by_tier": {t: int((selected & (tiers == i)).sum()) for i, t in enumerate(TIERS)},
        "left_out": {t: int((~selected & (tiers == i)).sum()) for i, t in enumerate(TIERS)},
    }
