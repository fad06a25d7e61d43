"""``curate scan``: the full audit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from curate.cli import main
from curate.cli.commands.select import budget_option, parse_budget, render_selection, strategy_option
from curate.cli.options import (
    cache_option,
    caption_filter_options,
    decisions_option,
    device_option,
    engine_options,
    index_column_options,
    json_option,
    model_options,
    multi_label_options,
    output_option,
    overwrite_option,
    progress_option,
    quiet_option,
    selection_options,
    train_on_review_option,
)
from curate.cli.output import emit, percent, render_held_back, render_review, render_warnings
from curate.config import TRAINING_ACTIONS_WITH_REVIEW
from curate.errors import UsageError
from curate.examples import EXAMPLES
from curate.index.walk import describe_skipped


def given(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not its default)."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def render_steps(steps: Sequence[Mapping[str, Any]]) -> str:
    """Which steps did work and which found their output up to date, in chain order."""
    done = [step["stage"] for step in steps if not step["up_to_date"]]
    current = [step["stage"] for step in steps if step["up_to_date"]]
    parts = ([f"done: {', '.join(done)}"] if done else []) + ([f"up to date: {', '.join(current)}"] if current else [])
    return "; ".join(parts)


def render_example(found: Mapping[str, Any]) -> str:
    """The example's headline: how many of its planted problems the scan found, and how many
    samples it flagged in all (a scan that flags everything finds everything)."""

    def part(kind: str, what: str) -> str:
        k = found[kind]
        return f"{k['found']} of {k['planted']} {what} ({k['flagged']} flagged)"

    return (
        f"example {found['name']}: found {part('label_errors', 'planted label errors')}, "
        f"{part('duplicates', 'duplicates')}, {part('outliers', 'outliers')}, "
        f"{part('image_defects', 'image defects')}"
    )


def render_changes(c: Mapping[str, int]) -> str:
    """What this scan found changed in DATA, and what it had to embed."""
    return (
        f"data: {c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['reused']} unchanged "
        f"(not decoded); embedded {c['embedded']} images, reused {c['embeddings_reused']} embeddings"
    )


def render_summary(s: Mapping[str, Any]) -> str:
    what = "tags (multi-label)" if s.get("multi_label") else "classes"
    lines = [
        f"{s['num_samples']} samples, {s['num_classes']} {what}, imbalance ratio {s['imbalance_ratio']:.1f}"
        if s.get("imbalance_ratio") is not None
        else f"{s['num_samples']} samples, {s['num_classes']} {what}",
        f"label issues {percent(s.get('label_issue_rate'))}, duplicates {percent(s.get('duplicate_rate'))}, "
        f"outliers {percent(s.get('outlier_rate'))}",
    ]
    from curate.score.noise.evidence import describe_evidence

    evidence = describe_evidence(s.get("label_evidence"))
    if evidence:
        lines.append(evidence)
    if s.get("changes"):
        lines.append(render_changes(s["changes"]))
    if s.get("example"):
        lines.append(render_example(s["example"]))
    if s.get("skipped_files"):
        lines.append(describe_skipped(s["skipped_files"]) + " (listed in summary.json)")
    unreadable = s.get("unreadable") or []
    if unreadable:
        lines.append(
            f"{len(unreadable)} unreadable inputs (listed in summary.json), e.g. "
            f"{unreadable[0]['path']}: {unreadable[0]['reason']}"
        )
    lines.extend(render_warnings(s.get("warnings")))
    lines.extend(render_held_back(s))
    lines.extend(render_review(s.get("review")))
    if s.get("selection"):
        lines.extend(render_selection(s["selection"]))
    if s.get("leaks"):
        lines.append(f"LEAKAGE: {s['leaks']} duplicate groups span more than one split")
    if s.get("steps"):
        lines.append(render_steps(s["steps"]))
    if s.get("workspace"):
        lines.append(f"manifest: {s['workspace']}/manifest.parquet  report: {s['workspace']}/report.html")
    return "\n".join(lines)


@main.command()
@click.argument("data", required=False, type=click.Path(path_type=str))
@output_option
@click.option(
    "--embeddings",
    type=click.Path(dir_okay=True, path_type=str),
    help="Use these embeddings instead of images: an N x D .npy, Parquet with an embedding column, or "
    "clip-retrieval's output folder (img_emb/, text_emb/, metadata/).",
)
@click.option(
    "--text-embeddings",
    type=click.Path(path_type=str),
    help="With --embeddings: N x D caption embeddings in the same space, row by row (.npy or Parquet); "
    "clip-retrieval's text_emb/ is read without it.",
)
@click.option(
    "--labels",
    type=click.Path(path_type=str),
    help="With --embeddings: N labels (.npy of integers or strings), or multi-label tags: an N x K 0/1 .npy, "
    "JSON lines (a list of tags per line) or a Parquet list column.",
)
@click.option("--embedding-column", default=None, help="With Parquet --embeddings: the list column to use.")
@index_column_options(
    label_help="With DATA: the manifest / Parquet column, or WebDataset .json field, holding the label. "
    "With Parquet --embeddings: a label column in the same file."
)
@multi_label_options
@selection_options
@click.option(
    "--example",
    type=click.Choice(EXAMPLES),
    default=None,
    help="Instead of DATA, scan a small example dataset with known planted problems (written into "
    "WORKSPACE/example-NAME/) and say how many of them were found.",
)
@model_options
@device_option
@engine_options
@cache_option
@decisions_option
@caption_filter_options
@budget_option("--select-budget", default=None)
@strategy_option("--select-strategy")
@train_on_review_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def scan(
    data,
    workspace,
    embeddings,
    text_embeddings,
    labels,
    embedding_column,
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
    example,
    model,
    pretrained,
    batch_size,
    workers,
    device,
    engine,
    address,
    decode,
    cache,
    decisions,
    min_caption_score,
    keep_top_fraction,
    select_budget,
    select_strategy,
    train_on_review,
    overwrite,
    as_json,
):
    """Run the full audit on DATA (an image folder, manifest, Parquet or WebDataset shards)
    and leave every artifact in the workspace: samples, embeddings, neighbors, issues, classes,
    negatives, plan, manifest.parquet, report.html and summary.json.

    First time? `curate scan --example digits -o ws` scans a small dataset whose problems are
    known and says how many it found.

    Re-running it on a grown or changed DATA is incremental: only new or changed images are
    decoded and embedded (embeddings are reused by content, model and preprocessing), and the
    result equals a fresh scan; it says what it found added, removed, changed and unchanged.
    --overwrite is for other parameters (another model, another option).

    Samples proposed for review are held back (weight 0 in manifest.parquet) until a person
    decides; --train-on-review keeps their sampling weight instead.

    --select-budget B chooses a training subset after the plan (as `curate select` does): B samples
    (a fraction or a count) with `selected` in the manifest and weight 0 for the others.

    Exits 0 when the audit completes, even when it finds problems; gate on the result with
    `curate check`.

    With --embeddings, the options that read DATA or run the model (--format, --path-column,
    --model, --batch-size, ...) are refused rather than ignored.
    """
    from curate.scan import run_scan
    from curate.workspace import Workspace

    ctx = click.get_current_context()
    if embeddings is not None:
        model_flags = [
            f"--{n.replace('_', '-')}" for n in ("model", "pretrained", "batch_size", "workers") if given(ctx, n)
        ]
        if model_flags:
            verb = "configures" if len(model_flags) == 1 else "configure"
            raise UsageError(f"{', '.join(model_flags)} {verb} the image model, which --embeddings replaces")
        if cache is not None:
            raise UsageError("--cache holds image embeddings for the embed stage, which --embeddings replaces")
        engine_flags = [f"--{n}" for n in ("engine", "address", "decode") if given(ctx, n)]
        if engine_flags:
            verb = "says" if len(engine_flags) == 1 else "say"
            raise UsageError(
                f"{', '.join(engine_flags)} {verb} where the embed stage runs, which --embeddings replaces"
            )
    index_params = {
        "path_column": path_column,
        "split_column": split_column,
        "image_column": image_column,
    }
    index_params = {key: value for key, value in index_params.items() if value is not None}
    if fmt != "auto":
        index_params["format"] = fmt
    propose_params = {"min_caption_score": min_caption_score, "keep_top_fraction": keep_top_fraction}
    propose_params = {key: value for key, value in propose_params.items() if value is not None}
    if select_budget is not None:  # a training subset, chosen by propose (curate.select)
        budget = parse_budget(select_budget, "--select-budget")
        propose_params.update(select_budget=budget, select_strategy=select_strategy)
    elif given(ctx, "select_strategy"):
        raise UsageError("--select-strategy says how --select-budget is filled; give --select-budget too")
    if include or exclude:
        index_params.update(include=list(include), exclude=list(exclude))
    summary = run_scan(
        data,
        Workspace(workspace),
        embeddings=embeddings,
        labels=labels,
        embedding_column=embedding_column,
        label_column=label_column,
        text_embeddings=text_embeddings,
        caption_column=caption_column,
        label_separator=label_separator,
        multi_label=multi_label,
        model=model,
        pretrained=pretrained or None,
        device=device,
        batch_size=batch_size,
        workers=workers,
        engine=engine,
        address=address,
        decode=decode,
        stage_params={
            "index": index_params,
            **({"embed": {"cache": cache}} if cache is not None else {}),
            **({"propose": propose_params} if propose_params else {}),
            **({"export": {"include": list(TRAINING_ACTIONS_WITH_REVIEW)}} if train_on_review else {}),
        },
        overwrite=overwrite,
        example=example,
        decisions=decisions,
    )
    summary = {**summary, "workspace": workspace}
    emit(summary, as_json=as_json, human=render_summary)
