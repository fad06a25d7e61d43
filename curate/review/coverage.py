"""How far review has come: the numbers summary.json, the report and ``curate check
--max-unreviewed`` read.

A *proposal* is a readable sample the rules would change: ``proposed_action`` relabel, review or
drop (an unreadable input is dropped as a fact, not proposed). It is *reviewed* once a person's
decision applies to it, *accepted* when the decision took curate's suggestion and *overruled*
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from curate.data import align_rows

#: the actions that make a sample a proposal
PROPOSING_ACTIONS = ("relabel", "review", "drop")

#: summary.json's reason when there is no plan to count proposals in
NOT_MEASURED = "no plan with proposals: run `curate propose` (or `curate scan`)"


def review_summary(
    samples: pa.Table, plan: pa.Table | None, applied: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """summary.json's ``unreviewed_rate`` (unreviewed proposals / proposals; 0 without any
    proposal, None without a plan) and ``review``: ``proposals``, ``reviewed``, ``accepted``,
    ``overruled``, ``unreviewed``, ``decisions`` (decisions applied to any sample, proposal or
    not) and, from the propose stage (``applied``: :func:`curate.plan.stage.decisions_applied`),
    ``recorded``, ``missing`` and ``missing_examples``: decisions for samples no longer in the
    data, and ``unknown_class``: decisions giving a class the data no longer has (not applied).
    """
    if plan is None or "proposed_action" not in plan.column_names:
        return {"unreviewed_rate": None, "review": None}
    ids = samples.column("sample_id").to_pylist()
    p = align_rows(plan.select(["sample_id", "proposed_action", "reviewed"]), ids).to_pydict()
    readable = samples.column("readable").to_pylist()
    proposals = reviewed = accepted = decided = 0
    for ok, proposed, review in zip(readable, p["proposed_action"], p["reviewed"]):
        decided += review is not None
        if not ok or proposed not in PROPOSING_ACTIONS:
            continue
        proposals += 1
        if review is not None:
            reviewed += 1
            accepted += review == "accepted"
    applied = dict(applied or {})
    return {
        "unreviewed_rate": (proposals - reviewed) / proposals if proposals else 0.0,
        "review": {
            "proposals": proposals,
            "reviewed": reviewed,
            "accepted": accepted,
            "overruled": reviewed - accepted,
            "unreviewed": proposals - reviewed,
            "decisions": decided,
            "recorded": int(applied.get("recorded", 0)),
            "missing": int(applied.get("missing", 0)),
            "missing_examples": list(applied.get("missing_examples", [])),
            "unknown_class": int(applied.get("unknown_class", 0)),
        },
    }
