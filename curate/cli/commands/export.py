"""``curate export``: the curated training manifest and summary.json."""

from __future__ import annotations

import json

import click

from curate.cli import main
from curate.cli.options import json_option, overwrite_option, quiet_option, workspace_arg


def _fmt(value, pattern: str = "{:.1%}") -> str:
    return "n/a" if value is None else pattern.format(value)


@main.command("export")
@workspace_arg
@click.option("--include", multiple=True, type=click.Choice(["keep", "relabel", "review", "drop"]),
              help="Actions that keep their sampling weight (repeatable) [default: keep, relabel, review]. "
                   "Other samples stay in the manifest with weight 0.")
@overwrite_option
@json_option
@quiet_option
def export_command(workspace, include, overwrite, as_json):
    """Write WORKSPACE/manifest.parquet (every sample, with action, final label, weight, reasons and
    flags) and WORKSPACE/summary.json (the numbers `curate check` gates on)."""
    from curate.export.stage import run_export
    from curate.workspace import Workspace

    summary = run_export(Workspace(workspace), include=include or ("keep", "relabel", "review"), overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    state = "up to date" if summary["skipped"] else "written"
    click.echo(f"manifest: {summary['num_samples']} samples, {summary['num_training_samples']} with weight > 0 "
               f"({state}) -> {summary['manifest']}")
    click.echo(f"  classes {summary['num_classes']}, imbalance {_fmt(summary['imbalance_ratio'], '{:.1f}x')}, "
               f"label issues {_fmt(summary['label_issue_rate'])}, duplicates {_fmt(summary['duplicate_rate'])}, "
               f"outliers {_fmt(summary['outlier_rate'])}, unreadable {summary['num_unreadable']}")
