"""``curate negatives``: hard negatives and a contrastive batch plan."""

from __future__ import annotations

import json

import click

from curate.cli import main
from curate.cli.options import json_option, overwrite_option, quiet_option, seed_option, workspace_arg


@main.command("negatives")
@workspace_arg
@click.option("--num-negatives", default=10, show_default=True, type=click.IntRange(min=1),
              help="Hard negatives kept per anchor.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=2),
              help="Size of the planned contrastive mini-batches (batches.parquet).")
@click.option("--near-duplicate-threshold", default=0.95, show_default=True,
              type=click.FloatRange(0.0, 1.0, min_open=True),
              help="Candidates at least this similar to the anchor are treated as duplicates, not negatives.")
@click.option("--no-issues", is_flag=True,
              help="Ignore issues.parquet; filter false negatives with a neighbour vote only.")
@seed_option
@overwrite_option
@json_option
@quiet_option
def negatives_command(workspace, num_negatives, batch_size, near_duplicate_threshold, no_issues, seed,
                      overwrite, as_json):
    """Mine hard negatives (false negatives filtered out) and plan contrastive batches.

    Writes WORKSPACE/negatives.parquet and WORKSPACE/batches.parquet.
    """
    from curate.negatives.stage import run_negatives
    from curate.workspace import Workspace

    summary = run_negatives(Workspace(workspace), num_negatives=num_negatives, batch_size=batch_size,
                            near_duplicate_threshold=near_duplicate_threshold, use_issues=not no_issues,
                            seed=seed, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif summary["skipped"]:
        click.echo(f"negatives: up to date ({summary['negatives']})")
    else:
        if "mean_negatives" in summary:
            sim = summary["mean_negative_sim"]
            click.echo(f"negatives: {summary['anchors_with_negatives']} anchors, "
                       f"{summary['mean_negatives']:.1f} negatives each on average"
                       + (f", mean cosine {sim:.3f}" if sim is not None else "") + f" -> {summary['negatives']}")
            for pair in summary["confusion_pairs"]:
                click.echo(f"  confused: {pair['class_a']} <-> {pair['class_b']} ({pair['lift']:.1f}x chance)")
        if "num_batches" in summary:
            click.echo(f"batches: {summary['num_batches']} -> {summary['batches']}")
