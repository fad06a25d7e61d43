"""``curate neighbors``: the k-nearest-neighbour graph every scoring stage reuses."""

from __future__ import annotations

import json

import click

from curate.cli import main
from curate.cli.options import (
    device_option,
    engine_options,
    json_option,
    overwrite_option,
    progress_option,
    quiet_option,
    workspace_arg,
)
from curate.config import DEFAULT_K
from curate.graph.neighbors import DEFAULT_NPROBE, METHODS


@main.command("neighbors")
@workspace_arg
@click.option(
    "-k", "k", default=DEFAULT_K, show_default=True, type=click.IntRange(min=1), help="Neighbours stored per sample."
)
@click.option(
    "--method",
    default="auto",
    show_default=True,
    type=click.Choice(METHODS),
    help="exact: blockwise exact search; ivf: cluster-batched inverted-file search "
    "(approximate, recall is measured and reported); faiss: faiss's IndexIVFFlat "
    "(approximate, slower reference); auto: exact on a GPU or for small data, ivf otherwise.",
)
@click.option(
    "--nprobe",
    default=None,
    type=click.IntRange(min=1),
    help=f"ivf/faiss: lists searched per query [default: {DEFAULT_NPROBE}]. Raise it when the "
    "reported recall is too low; time grows about linearly.",
)
@device_option
@engine_options(decode=False)
@overwrite_option
@json_option
@quiet_option
@progress_option
def neighbors(
    workspace: str,
    k: int,
    method: str,
    nprobe: int | None,
    device: str,
    engine: str,
    address: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Find the k nearest neighbours (cosine) of every embedded sample -> WORKSPACE/neighbors.parquet."""
    from curate.graph.stage import run_neighbors
    from curate.workspace import Workspace

    summary = run_neighbors(
        Workspace(workspace),
        k=k,
        method=method,
        nprobe=nprobe,
        device=device,
        engine=engine,
        address=address,
        overwrite=overwrite,
    )
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    if summary["skipped"]:
        click.echo(f"neighbors.parquet is up to date ({summary.get('num_samples', '?')} samples)")
        return
    recall = (
        ""
        if summary["method"] == "exact"
        else (
            f", nprobe {summary['nprobe']}, recall@{summary['k']} {summary['recall_at_k']:.3f} "
            f"on {summary['recall_queries']} queries"
        )
    )
    click.echo(
        f"{summary['num_samples']} samples, k={summary['k']}, {summary['method']} search"
        f"{' on the Ray cluster' if summary.get('engine') == 'ray' else ''}{recall}, {summary['seconds']:.1f}s -> {summary['artifact']}"
    )
