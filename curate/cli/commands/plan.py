"""``curate propose``: keep / drop / relabel / review and sampling weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import caption_filter_options, json_option, overwrite_option, quiet_option, workspace_arg
from curate.cli.output import emit
from curate.plan.rebalance import STRATEGIES
from curate.plan.rules import OUTLIER_ACTIONS


def render(s: Mapping[str, Any]) -> str:
    if s["skipped"]:
        return f"plan: up to date ({s['plan']})"
    counts = ", ".join(f"{v} {k}" for k, v in s["actions"].items())
    return f"plan: {counts}; strategy {s['strategy']}, max weight {s['max_weight']:.2f} -> {s['plan']}"


@main.command("propose")
@workspace_arg
@click.option(
    "--strategy",
    default="none",
    show_default=True,
    type=click.Choice(STRATEGIES),
    help="Rebalancing: sampling weights per class; 'cap' undersamples to --cap then balances by weight.",
)
@click.option(
    "--cap",
    default=None,
    type=click.IntRange(min=1),
    help="Most samples a class keeps; redundant ones (near duplicates, then the densest) go first.",
)
@click.option(
    "--relabel-threshold",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Relabel only at this suggested-label confidence, and only when the neighbours agree.",
)
@click.option("--drop-near-duplicates", is_flag=True, help="Drop near duplicates instead of keeping them downweighted.")
@click.option(
    "--outliers",
    default="review",
    show_default=True,
    type=click.Choice(OUTLIER_ACTIONS),
    help="What to do with outliers.",
)
@click.option(
    "--beta",
    default=0.999,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="beta of the effective-number strategy.",
)
@caption_filter_options
@overwrite_option
@json_option
@quiet_option
def propose_command(
    workspace,
    strategy,
    cap,
    relabel_threshold,
    drop_near_duplicates,
    outliers,
    beta,
    min_caption_score,
    keep_top_fraction,
    overwrite,
    as_json,
):
    """Propose an action, final label and sampling weight for every sample -> WORKSPACE/plan.parquet."""
    from curate.plan.stage import run_propose
    from curate.workspace import Workspace

    summary = run_propose(
        Workspace(workspace),
        strategy=strategy,
        cap=cap,
        relabel_threshold=relabel_threshold,
        drop_near_duplicates=drop_near_duplicates,
        outliers=outliers,
        beta=beta,
        min_caption_score=min_caption_score,
        keep_top_fraction=keep_top_fraction,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=render)
