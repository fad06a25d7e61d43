"""``curate apply``: record a reviewer's decisions and bring the plan, manifest and report up to date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import json_option, progress_option, quiet_option, workspace_arg
from curate.cli.output import emit, render_review


def render(s: Mapping[str, Any]) -> str:
    replacing = f", {s['replaced']} replacing earlier ones" if s["replaced"] else ""
    others = s.get("not_proposals", 0)
    unproposed = f", {others} about samples with no proposal" if others else ""
    lines = [
        f"recorded {s['recorded']} decisions from {s['file']} ({s['accepted']} accepted, {s['overruled']} overruled"
        f"{unproposed}{replacing}); {s['total']} in {s['decisions']}"
    ]
    lines += render_review(s.get("review"))
    if s["steps"]:
        lines.append("refreshed: " + ", ".join(step["stage"] for step in s["steps"]))
    lines += s["notes"]
    return "\n".join(lines)


@main.command("apply")
@workspace_arg
@click.argument("decisions_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
@json_option
@quiet_option
@progress_option
def apply_command(workspace, decisions_file, as_json):
    """Record the decisions in FILE (CSV or JSON Lines with sample_id, decision, label, note and
    optionally hash, as report.html exports them) in WORKSPACE/decisions.parquet, then re-run
    propose, export and report so the manifest follows them.

    decision is accept (take curate's suggestion), keep (the given label stands), relabel (to
    label) or drop. Decisions are keyed by image content: they survive re-scans, renames and
    grown datasets. A file with problems (unknown sample ids or classes, conflicting rows) is
    refused with one line per problem and nothing is recorded (exit 1).
    """
    from curate.review.apply import apply_decisions
    from curate.workspace import Workspace

    emit(apply_decisions(Workspace(workspace), decisions_file), as_json=as_json, human=render)
