"""``curate embed``: CLIP image embeddings (and class-name text embeddings) for a workspace."""

from __future__ import annotations

import json

import click

from curate.cli import main
from curate.cli.options import (
    cache_option,
    device_option,
    engine_options,
    json_option,
    model_options,
    overwrite_option,
    progress_option,
    quiet_option,
    workspace_arg,
)


@main.command("embed")
@workspace_arg
@model_options
@device_option
@engine_options
@cache_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def embed(
    workspace: str,
    model: str,
    pretrained: str,
    batch_size: int | None,
    workers: int | None,
    device: str,
    engine: str,
    address: str | None,
    decode: str,
    cache: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Embed every readable image of WORKSPACE (from `curate index`) into WORKSPACE/embeddings/.

    Resumes an interrupted run, skipping finished shards. Offline, point --model at a local-dir:
    folder or --pretrained at a checkpoint file.
    """
    from curate.embed.runner import run_embed
    from curate.workspace import Workspace

    summary = run_embed(
        Workspace(workspace),
        model=model,
        pretrained=pretrained or None,
        device=device,
        batch_size=batch_size,
        workers=workers,
        cache=cache,
        decode=decode,
        engine=engine,
        address=address,
        overwrite=overwrite,
    )
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    if summary["skipped"]:
        click.echo(
            f"embeddings/ is up to date: {summary['num_embedded']:,} images with {summary['model']} (nothing to do)"
        )
    else:
        click.echo(
            f"Embedded {summary['num_embedded']:,} of {summary['num_samples']:,} images with "
            f"{summary['model']} on {summary['device']}"
            + (f" ({summary['cluster']['nodes']}-node Ray cluster)" if summary["engine"] == "ray" else "")
            + f" in {summary['seconds']['total']:.1f} s "
            f"({summary['images_per_s']:,.1f} images/s); dim {summary['dim']}, "
            f"{summary['num_shards']} shard(s)"
            + (f", {summary['shards_resumed']} resumed" if summary["shards_resumed"] else "")
        )
        if summary["text_embeddings"]:
            click.echo(f"Text embeddings for {summary['text_embeddings']} class names.")
    if summary["num_failed"]:
        first = summary["failed"][0]
        click.echo(
            f"{summary['num_failed']} image(s) failed to decode and were left out "
            f"(first: {first['sample_id']}: {first['error']})."
        )
