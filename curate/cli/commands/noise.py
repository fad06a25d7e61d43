"""``curate noise``: label issues from a model's out-of-sample probabilities (no images needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import json_option, progress_option, quiet_option, renamed_option
from curate.cli.output import emit, percent
from curate.score.noise.confident import FILTERS


def render_summary(s: Mapping[str, Any]) -> str:
    lines = [
        f"{s['num_samples']} samples, {s['num_classes']} classes: {s['label_issues']} label issues "
        f"({percent(s['label_issue_rate'])})"
    ]
    for given, suggested, count in s["confused_pairs"][:3]:
        lines.append(f"  most confused: given {given} -> likely {suggested} ({count})")
    lines.extend(f"note: {note}" for note in s["notes"])
    lines.append(f"written: {s['output']}")
    return "\n".join(lines)


@main.command()
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(path_type=str),
    help="N integer class indices (.npy, or .parquet with --label-column).",
)
@click.option(
    "--pred-probs",
    "probs_path",
    required=True,
    type=click.Path(path_type=str),
    help="N x K out-of-sample predicted probabilities, float16/32/64 (.npy, or a .parquet list column).",
)
@renamed_option(
    "--issues-file",
    "issues_path",
    old=("-o", "--output"),
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="Parquet file to write: sample_id, label_quality, is_label_issue, suggested_label, suggested_confidence.",
)
@click.option("--label-column", default=None, help="With a Parquet --labels file: the column to use.")
@click.option(
    "--filter-by",
    default="prune_by_noise_rate",
    show_default=True,
    type=click.Choice(FILTERS),
    help="cleanlab's rule for which samples to flag.",
)
@json_option
@quiet_option
@progress_option
def noise(labels_path, probs_path, issues_path, label_column, filter_by, as_json):
    """Find label issues from your own model's out-of-sample probabilities.

    Rows are matched by position; sample_id is the row number as a string. Each row of
    --pred-probs must come from a model that did not train on that row (cross-validation).
    """
    from curate.score.noise.io import write_noise_table

    summary = write_noise_table(labels_path, probs_path, issues_path, label_column=label_column, filter_by=filter_by)
    emit(summary, as_json=as_json, human=render_summary)
