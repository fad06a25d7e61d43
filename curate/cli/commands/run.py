"""``curate run``: run a recipe (a TOML chain of stages) on a dataset."""

from __future__ import annotations

import click

from curate.cli import main
from curate.cli.options import (
    cache_option,
    decisions_option,
    engine_options,
    json_option,
    output_option,
    overwrite_option,
    progress_option,
    quiet_option,
)
from curate.cli.output import emit, render_held_back, render_warnings
from curate.errors import UsageError
from curate.pipeline import step_status

#: how a recipe run trains on the samples proposed for review (what scan's --train-on-review does)
TRAIN_ON_REVIEW_SET = """--set export.include='["keep","relabel","review"]'"""


@main.command("run")
@click.argument("recipe")
@click.argument("data", required=False)
@output_option
@click.option(
    "--embeddings",
    type=click.Path(dir_okay=True, path_type=str),
    help="Use these embeddings (N x D .npy or Parquet) instead of DATA; replaces index and embed.",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False, path_type=str),
    help="Labels for --embeddings (N integers or strings, .npy or Parquet).",
)
@click.option("--model", default=None, help="open_clip model for the embed stage (overrides the recipe).")
@click.option("--pretrained", default=None, help="open_clip pretrained tag or checkpoint for the embed stage.")
@click.option(
    "--device",
    default=None,
    type=click.Choice(["auto", "cuda", "mps", "cpu"]),
    help="Device for every stage that takes one (overrides the recipe).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="STAGE.KEY=VALUE",
    help="Override a recipe parameter, e.g. --set propose.strategy=sqrt (repeatable; value read as TOML).",
)
@engine_options(defaults=False)
@cache_option
@decisions_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def run_command(
    recipe,
    data,
    workspace,
    embeddings,
    labels,
    model,
    pretrained,
    device,
    overrides,
    engine,
    address,
    decode,
    cache,
    decisions,
    overwrite,
    as_json,
):
    """Run RECIPE (a path, or the name of one in recipes/: audit, clean, rebalance, contrastive) on DATA
    into the workspace given by -o."""
    from curate.pipeline import ArrayInput
    from curate.recipes import load_recipe, run_recipe
    from curate.workspace import Workspace

    if embeddings and data:
        raise UsageError("give DATA or --embeddings, not both")
    if labels and not embeddings:
        raise UsageError("--labels goes with --embeddings")
    loaded = load_recipe(recipe)
    source = ArrayInput(embeddings, labels) if embeddings else data
    summaries = run_recipe(
        loaded,
        source,
        Workspace(workspace),
        overrides,
        common={
            "model": model,
            "pretrained": pretrained,
            "device": device,
            "cache": cache,
            "engine": engine,
            "address": address,
            "decode": decode,
        },
        overwrite=overwrite,
        decisions=decisions,
    )
    embed = next((st for st in summaries if st["stage"] == "embed"), {})
    result = {
        "recipe": loaded.name,
        "engine": embed.get("engine", "local"),
        "workspace": workspace,
        "stages": summaries,
    }
    emit(
        result,
        as_json=as_json,
        human=lambda r: "\n".join(
            [f"{st['stage']}: {step_status(st)}" for st in r["stages"]]
            + [line for st in r["stages"] for line in render_warnings(st.get("warnings"))]
            + [line for st in r["stages"] for line in render_held_back(st, opt_in=TRAIN_ON_REVIEW_SET)]
            + [f"recipe {r['recipe']}: {len(r['stages'])} steps -> {r['workspace']}"]
        ),
    )
