"""``curate negatives``: hard negatives and a contrastive batch plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import (
    duplicate_threshold_option,
    json_option,
    overwrite_option,
    progress_option,
    quiet_option,
    renamed_option,
    seed_option,
    workspace_arg,
)
from curate.cli.output import emit
from curate.config import DEFAULT_SEARCH_NPROBE


def render(s: Mapping[str, Any]) -> str:
    if s["skipped"]:
        return f"negatives: up to date ({s['negatives']})"
    lines = []
    if "mean_negatives" in s:
        sim = s["mean_negative_sim"]
        lines.append(
            f"negatives: {s['anchors_with_negatives']} anchors, {s['mean_negatives']:.1f} negatives each on average"
            + (f", mean cosine {sim:.3f}" if sim is not None else "")
            + f" -> {s['negatives']}"
        )
        lines += [
            f"  confused: {p['class_a']} <-> {p['class_b']} ({p['lift']:.1f}x chance)" for p in s["confusion_pairs"]
        ]
    if "num_batches" in s:
        lines.append(f"batches: {s['num_batches']} -> {s['batches']}")
    return "\n".join(lines)


@main.command("negatives")
@workspace_arg
@click.option(
    "--num-negatives", default=10, show_default=True, type=click.IntRange(min=1), help="Hard negatives kept per anchor."
)
@renamed_option(
    "--contrastive-batch-size",
    old=("--batch-size",),
    default=256,
    show_default=True,
    type=click.IntRange(min=2),
    help="Samples per planned contrastive mini-batch (batches.parquet). Not --batch-size: "
    "that is images per forward pass in `curate embed`.",
)
@duplicate_threshold_option("--duplicate-threshold", "--near-duplicate-threshold")
@click.option(
    "--no-issues", is_flag=True, help="Ignore issues.parquet; filter false negatives with a neighbour vote only."
)
@click.option(
    "--search-nprobe",
    default=DEFAULT_SEARCH_NPROBE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Large data on a CPU: inverted lists the search for more negatives visits per anchor "
    "(more: slightly harder negatives, slower).",
)
@seed_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def negatives_command(
    workspace,
    num_negatives,
    contrastive_batch_size,
    duplicate_threshold,
    no_issues,
    search_nprobe,
    seed,
    overwrite,
    as_json,
):
    """Mine hard negatives (false negatives filtered out) and plan contrastive batches.

    Writes WORKSPACE/negatives.parquet and WORKSPACE/batches.parquet.
    """
    from curate.negatives.stage import run_negatives
    from curate.workspace import Workspace

    summary = run_negatives(
        Workspace(workspace),
        num_negatives=num_negatives,
        batch_size=contrastive_batch_size,
        near_duplicate_threshold=duplicate_threshold,
        use_issues=not no_issues,
        search_nprobe=search_nprobe,
        seed=seed,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=render)
