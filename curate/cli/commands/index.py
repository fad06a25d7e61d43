"""``curate index``: list and validate every image of a dataset into samples.parquet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import (
    index_column_options,
    json_option,
    multi_label_options,
    output_option,
    overwrite_option,
    progress_option,
    quiet_option,
    selection_options,
)
from curate.cli.output import emit
from curate.index.walk import describe_skipped

#: unreadable inputs shown in the human summary (all of them are in --json and samples.parquet)
SHOWN_UNREADABLE = 5
#: (extension, reason) groups of skipped files named in the human summary
SHOWN_SKIPPED_GROUPS = 4


#: the reason index records for a path that names no file
NOT_FOUND = "file not found"


def _unreadable_line(u: Mapping[str, Any]) -> str:
    """One unreadable input; a missing file also says where it was looked for, since a manifest's
    relative path resolves against the manifest's folder, not the current one."""
    where = (
        f" (looked for {u['path']})" if u["reason"] == NOT_FOUND and u.get("path") not in (None, u["sample_id"]) else ""
    )
    return f"  {u['sample_id']}: {u['reason']}{where}"


def render_summary(s: Mapping[str, Any]) -> str:
    status = "up to date" if s["up_to_date"] else "written"
    what = "tags, multi-label" if s.get("multi_label") else "classes"
    lines = [
        f"{s['num_samples']} samples ({s['num_readable']} readable) in {s['num_classes']} {what} "
        f"[{s['format']}]; {s['samples']} {status}"
    ]
    if s["num_unlabelled"]:
        lines.append(f"{s['num_unlabelled']} samples have no {'tag' if s.get('multi_label') else 'label'}")
    if s.get("num_captioned"):
        lines.append(f"{s['num_captioned']} samples have a caption")
    if s["splits"]:
        lines.append("splits: " + ", ".join(f"{name} {count}" for name, count in s["splits"].items()))
    unreadable = s["unreadable"]
    if unreadable:
        lines.append(f"{len(unreadable)} unreadable:")
        lines.extend(_unreadable_line(u) for u in unreadable[:SHOWN_UNREADABLE])
        if len(unreadable) > SHOWN_UNREADABLE:
            lines.append(f"  ... and {len(unreadable) - SHOWN_UNREADABLE} more (see --json or samples.parquet)")
    if s.get("skipped_files"):
        lines.append(describe_skipped(s["skipped_files"], limit=SHOWN_SKIPPED_GROUPS) + " (all in --json)")
    if s["num_readable"] == 0:
        lines.append("warning: none of the samples is a readable image")
        if s["format"] == "manifest" and unreadable and all(u["reason"] == NOT_FOUND for u in unreadable):
            lines.append(
                f"none of the manifest's paths exists: relative paths resolve against the manifest's folder "
                f"(e.g. {unreadable[0]['sample_id']} -> {unreadable[0]['path']})"
            )
    return "\n".join(lines)


@main.command()
@click.argument("data", type=click.Path(path_type=str))
@output_option
@index_column_options(label_help="Manifest / Parquet column, or WebDataset .json field, holding the label.")
@multi_label_options
@selection_options
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=0),
    help="Processes decoding images [default: CPU count, at most 8; 0 = none].",
)
@overwrite_option
@json_option
@quiet_option
@progress_option
def index(
    data,
    workspace,
    fmt,
    path_column,
    label_column,
    split_column,
    image_column,
    caption_column,
    label_separator,
    multi_label,
    include,
    exclude,
    workers,
    overwrite,
    as_json,
):
    """Index DATA into WORKSPACE/samples.parquet: one row per sample with its label, split,
    size, dimensions, content hash, and whether it decodes.

    \b
    DATA is one of:
      DATA/<class>/<img>             image folder (DATA/<split>/<class>/<img> fills the split)
      manifest.csv / .jsonl / ...    a table with a path column (and optional label, split)
      *.parquet                      Hugging Face style Parquet with image bytes
      *.tar                          WebDataset shards as img2dataset writes them
      -                              standard input: one path per line (find ... | curate index -),
                                     or a CSV / JSONL manifest

    DATA may be a URL: s3://bucket/prefix (pip install 'curate[s3]'), gs://... ('curate[gcs]'),
    https://host/shard.tar or any fsspec URL; images are read where they are, with retries on
    transient errors, and the workspace stays local.

    Multi-label data: a label column of lists (Parquet lists, JSON lists, WebDataset .json lists)
    or of delimited strings ('cat|sofa', --label-separator, detected when most labels contain one
    separator) gives each sample a set of tags (samples.parquet's `labels`); a sample with no tag
    is valid. --multi-label forces it, --single-label turns detection off.

    Unreadable files are recorded with a reason and the command still exits 0. Files that are
    not samples (hidden, excluded, not an image, an unsupported format) are counted by
    extension and reason.
    """
    from curate.index.stage import run_index
    from curate.workspace import Workspace

    summary = run_index(
        data,
        Workspace(workspace),
        format=fmt,
        path_column=path_column,
        label_column=label_column,
        split_column=split_column,
        image_column=image_column,
        caption_column=caption_column,
        include=include,
        exclude=exclude,
        label_separator=label_separator,
        multi_label=multi_label,
        workers=workers,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=render_summary)
