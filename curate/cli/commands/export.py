"""``curate export``: the curated training manifest and summary.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import (
    json_option,
    overwrite_option,
    progress_option,
    quiet_option,
    train_on_review_option,
    workspace_arg,
)
from curate.cli.output import emit, percent, render_held_back
from curate.config import TRAINING_ACTIONS
from curate.schemas import ACTIONS


def render(s: Mapping[str, Any]) -> str:
    state = "up to date" if s["skipped"] else "written"
    imbalance = "n/a" if s["imbalance_ratio"] is None else f"{s['imbalance_ratio']:.1f}x"
    lines = [
        f"manifest: {s['num_samples']} samples, {s['num_training_samples']} with weight > 0 ({state}) "
        f"-> {s['manifest']}",
        f"  classes {s['num_classes']}, imbalance {imbalance}, label issues {percent(s['label_issue_rate'])}, "
        f"duplicates {percent(s['duplicate_rate'])}, outliers {percent(s['outlier_rate'])}, "
        f"unreadable {s['num_unreadable']}",
    ]
    return "\n".join(lines + [f"  {line}" for line in render_held_back(s)])


@main.command("export")
@workspace_arg
@click.option(
    "--include",
    multiple=True,
    type=click.Choice(ACTIONS),
    help=f"Actions that keep their sampling weight (repeatable) [default: {', '.join(TRAINING_ACTIONS)}]. "
    "Other samples stay in the manifest with weight 0.",
)
@train_on_review_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def export_command(workspace, include, train_on_review, overwrite, as_json):
    """Write WORKSPACE/manifest.parquet (every sample, with action, final label, weight, reasons and
    flags) and WORKSPACE/summary.json (the numbers `curate check` gates on).

    Samples proposed for review are held back (weight 0) until a person decides, unless
    --train-on-review (or --include review)."""
    from curate.export.stage import run_export
    from curate.workspace import Workspace

    actions = tuple(include) or TRAINING_ACTIONS
    if train_on_review and "review" not in actions:
        actions = (*actions, "review")
    summary = run_export(Workspace(workspace), include=actions, overwrite=overwrite)
    emit(summary, as_json=as_json, human=render)
