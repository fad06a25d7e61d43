"""``curate apply``: record a reviewer's decisions in the workspace and bring the plan, the
manifest and the report up to date with them.

Decisions live in ``decisions.parquet`` (:data:`curate.schemas.DECISIONS`), keyed by content;
the propose stage reads it and lets every decision win over the rules, export copies the review
progress to summary.json, and the report shows it. A second file adds to the first: a new
decision for the same content replaces the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from curate import progress
from curate.data import class_names_of
from curate.errors import StaleWorkspaceError
from curate.review.coverage import PROPOSING_ACTIONS
from curate.review.decisions import merge_decisions, read_decision_file, resolve_decisions
from curate.stages import STAGES
from curate.workspace import Workspace, fingerprint, locked, write_parquet_atomic

#: the stages whose outputs depend on the decisions, re-run by :func:`apply_decisions` in order
REFRESHED = ("propose", "export", "report")


@locked
def record_decisions(ws: Workspace, decisions_file: str | os.PathLike[str]) -> dict[str, Any]:
    """Check ``decisions_file`` against the workspace and add its decisions to decisions.parquet.

    Every problem in the file is reported, one line each, and then nothing is recorded
    (:class:`curate.review.decisions.DecisionFileError`). ``accept`` takes the suggestion of the
    current plan.parquet (which must then exist and be fresh). Returns ``recorded`` (rows of
    this file), ``replaced`` (earlier decisions about the same content), ``total`` (decisions in
    the workspace now), ``accepted`` and ``overruled`` (of this file's rows about proposals, as
    summary.json's ``review`` counts them) and ``not_proposals`` (rows about samples the plan
    proposed nothing for: they count as neither).
    """
    ws.require("samples")
    rows = read_decision_file(decisions_file)
    columns = ["sample_id", "label", "hash"]
    if "labels" in ws.read_table("samples").column_names:
        columns.append("labels")  # multi-label: decisions give tag sets
    samples = ws.read_table("samples", columns)
    plan = ws.read_table("plan") if ws.exists("plan") else None
    new = resolve_decisions(decisions_file, rows, samples, class_names=class_names_of(ws.path("samples")), plan=plan)
    previous = ws.read_table("decisions") if ws.exists("decisions") else None
    merged = merge_decisions(previous, new)
    replaced = (
        0 if previous is None else len(set(previous.column("hash").to_pylist()) & set(new.column("hash").to_pylist()))
    )
    digest = hashlib.sha256(json.dumps(merged.to_pylist(), sort_keys=True).encode()).hexdigest()
    write_parquet_atomic(
        ws.path("decisions"),
        merged,
        fingerprint=fingerprint("decisions", {"content": digest}, {}),
        inputs={},
        params={},
    )
    proposed = (
        {} if plan is None else dict(zip(*(plan.column(c).to_pylist() for c in ("sample_id", "proposed_action"))))
    )
    on_proposal = [proposed.get(sid) in PROPOSING_ACTIONS for sid in new.column("sample_id").to_pylist()]
    accepted = sum(a for a, p in zip(new.column("accepted").to_pylist(), on_proposal) if p)
    return {
        "decisions": str(ws.path("decisions")),
        "file": str(decisions_file),
        "recorded": new.num_rows,
        "replaced": replaced,
        "total": merged.num_rows,
        "accepted": accepted,
        "overruled": sum(on_proposal) - accepted,
        "not_proposals": new.num_rows - sum(on_proposal),
    }


def apply_decisions(ws: Workspace, decisions_file: str | os.PathLike[str]) -> dict[str, Any]:
    """Record ``decisions_file`` (:func:`record_decisions`), then re-run propose, export and the
    report, each with the parameters it was last run with, so manifest.parquet, summary.json and
    report.html follow the decisions. A stage whose output is not in the workspace yet is left
    for ``curate scan`` / the stage's command to run.

    Returns the record's summary with ``steps`` (each re-run stage, whether it was up to date and its ``timing``),
    ``review`` (summary.json's review progress, once exported) and ``notes`` (what was left).
    """
    with ws.lock():
        summary = record_decisions(ws, decisions_file)
        steps: list[dict[str, Any]] = []
        notes: list[str] = []
        if not ws.exists("plan"):
            notes.append("no plan.parquet yet: the decisions apply when `curate propose` (or `curate scan`) runs")
        for stage in REFRESHED if ws.exists("plan") else ():
            output = STAGES[stage].outputs[0]
            if not ws.exists(output):
                continue
            function = STAGES[stage].function()
            params = ws.record(output).get("params", {})
            try:
                result = function(ws, **params)
            except StaleWorkspaceError:
                if stage != "report":
                    raise
                # a page from an older curate records a digest of its options, not the options:
                # one made with other options is left alone rather than replaced with the defaults
                notes.append("report.html was made with other options; re-run `curate report` with them")
                continue
            steps.append({"stage": stage, "up_to_date": bool(result.get("up_to_date")), "timing": result.get("timing")})
            progress.log(f"[apply] {stage}: {'up to date' if result.get('up_to_date') else 'done'}")
        if ws.exists("summary"):
            summary["review"] = ws.read_json("summary").get("review")
        summary["steps"] = steps
        summary["notes"] = notes
        return summary
