"""``curate example``: write an example dataset with known planted problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import json_option
from curate.cli.output import emit
from curate.examples import EXAMPLES, TRUTH_FILE


def render_written(s: Mapping[str, Any]) -> str:
    return (
        f"wrote {s['num_images']} images in {len(s['class_sizes'])} classes to {s['folder']}: "
        f"{len(s['label_errors'])} label errors, {len(s['duplicates'])} near-duplicates, "
        f"{len(s['outliers'])} outliers and {len(s['image_defects'])} image defects planted (truth in {TRUTH_FILE})\n"
        f"scan it: curate scan {s['folder']} -o ws"
    )


@main.command()
@click.argument("name", metavar="NAME", type=click.Choice(EXAMPLES))
@click.argument("folder", type=click.Path(file_okay=False, path_type=str))
@click.option("--seed", default=0, show_default=True, type=int, help="Which images are planted where.")
@json_option
def example(name, folder, seed, as_json):
    """Write example dataset NAME into FOLDER (new or empty): an image folder with a long tail and
    planted label errors, near-duplicates, outliers and image defects (dark, washed out, blurry,
    blank, a strip, a thumbnail), listed in FOLDER/_truth.json.

    `curate scan --example NAME -o WS` writes and scans it in one go and says how many of the
    planted problems it found.
    """
    from dataclasses import asdict

    from curate.examples import write_example

    truth = write_example(name, folder, seed=seed)
    emit({**asdict(truth), "folder": folder}, as_json=as_json, human=render_written)
