"""``curate report``: the HTML page that explains a workspace."""

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
    renamed_option,
    seed_option,
    threshold_options,
    workspace_arg,
)
from curate.report.projection import METHODS


def render_summary(s: Mapping[str, Any]) -> str:
    return s["report"]


@main.command()
@workspace_arg
@renamed_option(
    "--html",
    "html_path",
    old=("-o", "--output"),
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Where to write the page [default: WORKSPACE/report.html].",
)
@click.option(
    "--max-thumbnails",
    default=48,
    show_default=True,
    type=click.IntRange(min=0),
    help="Most images shown in each section (label issues, duplicates, outliers, negatives).",
)
@click.option(
    "--map",
    "map_method",
    default="pca",
    show_default=True,
    type=click.Choice(METHODS),
    help="Embedding map projection: pca is instant, tsne (on at most 3,000 points) separates clusters better.",
)
@click.option(
    "--map-points",
    default=5000,
    show_default=True,
    type=click.IntRange(min=3),
    help="Most embeddings sampled for the map.",
)
@threshold_options
@seed_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def report(workspace, html_path, max_thumbnails, map_method, map_points, seed, overwrite, as_json, **thresholds):
    """Write report.html for WORKSPACE: one self-contained page (no network) with the headline
    numbers coloured against the `curate check` thresholds, class distribution, label issues,
    duplicates, outliers, hard negatives and an embedding map. Prints the page's path.

    Sections whose artifacts are missing say which command makes them.
    """
    from curate.cli.output import emit
    from curate.report.stage import run_report
    from curate.workspace import Workspace

    summary = run_report(
        Workspace(workspace),
        output=html_path,
        max_thumbnails=max_thumbnails,
        thresholds=thresholds,
        map_method=map_method,
        map_points=map_points,
        seed=seed,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=render_summary)
