"""``curate propose``: keep / drop / relabel / review and sampling weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import (
    caption_filter_options,
    json_option,
    overwrite_option,
    progress_option,
    quiet_option,
    workspace_arg,
)
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
    default=0.95,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Relabel only where the calibrated probability that the suggestion is right reaches this, the "
    "neighbours agree and the label evidence is not weak for the pair.",
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
@click.option(
    "--tag-confidence",
    default=None,
    type=click.FloatRange(0.5, 1.0),
    metavar="P",
    help="Multi-label data: add a tag named missing when its P(present) is at least P, remove one named "
    "spurious at 1 - P or less [default: a bar per tag, derived from the rows whose tag is confirmed].",
)
@overwrite_option
@json_option
@quiet_option
@progress_option
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
    tag_confidence,
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
        tag_confidence=tag_confidence,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=render)
