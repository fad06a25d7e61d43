"""``curate select``: choose a training subset of a scanned workspace and bring the plan, the
manifest and the report up to date with it.

The selection is part of the plan (propose's ``select_budget``, ``select_strategy`` and
``seed``, recorded in plan.parquet's parameters), not a stage of its own: plan.parquet carries
``selected`` / ``select_rank`` and the weights a trainer reads, and every re-run of propose —
``curate apply`` after a review, a re-scan of grown data — chooses again with the recorded
budget, strategy and seed, so the subset follows the decisions and the data.
"""

from __future__ import annotations

from typing import Any

from curate import progress
from curate.errors import StaleWorkspaceError
from curate.plan.stage import check_selection
from curate.stages import STAGES
from curate.workspace import Workspace, locked

#: the stages :func:`run_select` re-runs, in order: propose selects, export and report follow
REFRESHED = ("propose", "export", "report")


@locked
def run_select(
    ws: Workspace,
    *,
    budget: int | float | None,
    strategy: str = "default",
    seed: int = 0,
) -> dict[str, Any]:
    """Re-run propose with the parameters it was last run with and this selection (``budget``: an
    ``int`` count or a ``float`` fraction of the selectable samples; ``strategy``:
    :data:`curate.select.strategies.STRATEGIES`; ``budget=None`` removes a selection), then
    export and the report with theirs, where they exist.

    Needs plan.parquet (``curate propose`` or ``curate scan`` first). Returns summary.json's
    ``selection`` (when exported), ``steps`` (each re-run stage, up to date or not, with its
    ``timing``) and ``notes``.
    """
    if budget is not None:
        check_selection(budget, strategy)
    ws.require("plan")
    params = dict(ws.record("plan").get("params", {}))
    for key in ("select_budget", "select_strategy", "seed"):
        params.pop(key, None)
    if budget is not None:
        params.update(select_budget=budget, select_strategy=strategy, seed=seed)
    steps: list[dict[str, Any]] = []
    notes: list[str] = []
    for stage in REFRESHED:
        output = STAGES[stage].outputs[0]
        if stage != "propose" and not ws.exists(output):
            continue
        function = STAGES[stage].function()
        own = params if stage == "propose" else ws.record(output).get("params", {})
        try:
            # only the plan's selection changes here: replacing the plan is what was asked for
            result = function(ws, **own, overwrite=stage == "propose")
        except StaleWorkspaceError:
            if stage != "report":
                raise
            notes.append("report.html was made with other options; re-run `curate report` with them")
            continue
        steps.append({"stage": stage, "up_to_date": bool(result.get("up_to_date")), "timing": result.get("timing")})
        progress.log(f"[select] {stage}: {'up to date' if result.get('up_to_date') else 'done'}")
    if not ws.exists("manifest"):
        notes.append("no manifest.parquet yet: run `curate export` to write the selection into it")
    return {
        "stage": "select",
        "workspace": str(ws.root),
        "selection": ws.record("plan").get("extra", {}).get("selection"),
        "steps": steps,
        "notes": notes,
        "up_to_date": all(step["up_to_date"] for step in steps),
    }
