"""``curate score``: label noise, duplicates, outliers and class statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import (
    device_option,
    duplicate_threshold_option,
    json_option,
    overwrite_option,
    progress_option,
    quiet_option,
    seed_option,
    workspace_arg,
)
from curate.cli.output import emit
from curate.config import (
    DEFAULT_DUPLICATE_RADIUS,
    DEFAULT_IMAGE_FENCE,
    DEFAULT_MAX_DEFECT_SHARE,
    DEFAULT_PHASH_DISTANCE,
    IMAGE_DEFECTS,
)


def _render(s: Mapping[str, Any]) -> str:
    if s.get("up_to_date"):
        return "issues.parquet and classes.parquet are up to date"
    lines = [
        f"{s['num_samples']} samples: {s['label_issues']} label issues, {s['duplicates']} redundant "
        f"duplicates in {s['duplicate_groups']} groups, {s['outliers']} outliers"
    ]
    images = {name: n for name, n in s.get("flagged", {}).items() if name in IMAGE_DEFECTS and n}
    if images:
        lines.append("image defects: " + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in images.items()))
    if s["leak_groups"]:
        lines.append(f"LEAKAGE: {s['leak_groups']} duplicate groups span more than one split")
    scale = s.get("similarity_scale")
    if scale:
        from curate.graph.scale import describe_cut

        lines.append(f"near duplicates: {describe_cut(scale)}")
    lines += [f"note: {n}" for n in s.get("notes", [])]
    return "\n".join(lines)


@main.command()
@workspace_arg
@click.option(
    "--label-sources",
    default="knn,euclidean,probe,zeroshot",
    show_default=True,
    help="Comma-separated sources of out-of-sample label probabilities: knn (cosine vote), euclidean (vote over the features as given; imported features that are not unit length only), probe, zeroshot.",
)
@click.option(
    "--folds",
    default=5,
    show_default=True,
    type=click.IntRange(min=2),
    help="Cross-validation folds of the linear probe.",
)
@duplicate_threshold_option()
@click.option(
    "--duplicate-radius",
    default=DEFAULT_DUPLICATE_RADIUS,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="Without --duplicate-threshold: near duplicates are closer than this share of the median "
    "nearest-neighbour distance (cleanlab's rule), whatever the embedding model.",
)
@click.option(
    "--outlier-z",
    default=3.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Robust z-score above which a sample is an outlier.",
)
@click.option(
    "--image-fence",
    default=DEFAULT_IMAGE_FENCE,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Interquartile ranges below this dataset's lower quartile at which an image measure "
    "(brightness, sharpness, entropy, shape, size) is a defect (Tukey's far-out fence).",
)
@click.option(
    "--image-threshold",
    "image_thresholds",
    multiple=True,
    metavar="TYPE=VALUE",
    help="An explicit cut for one image defect, in its measure's units (e.g. blurry=0.2, dark=0.15); "
    "replaces the derived cut. Repeatable.",
)
@click.option(
    "--max-defect-share",
    default=DEFAULT_MAX_DEFECT_SHARE,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Largest share of the images an image defect may flag; above it none is (it is what the "
    "dataset is: a grayscale dataset has no grayscale issue).",
)
@click.option(
    "--phash-distance",
    default=DEFAULT_PHASH_DISTANCE,
    show_default=True,
    type=click.IntRange(-1, 32),
    help="Bits (of 64) within which two images' perceptual hashes make them near copies, in one "
    "duplicate group with the embedding's near duplicates; -1 turns it off.",
)
@seed_option
@device_option
@overwrite_option
@json_option
@quiet_option
@progress_option
def score(
    workspace,
    label_sources,
    folds,
    duplicate_threshold,
    duplicate_radius,
    outlier_z,
    image_fence,
    image_thresholds,
    max_defect_share,
    phash_distance,
    seed,
    device,
    overwrite,
    as_json,
):
    """Score every sample -> WORKSPACE/issues.parquet and WORKSPACE/classes.parquet."""
    from curate.score.stage import run_score
    from curate.workspace import Workspace

    thresholds: dict[str, float] = {}
    for item in image_thresholds:
        name, sep, value = item.partition("=")
        try:
            thresholds[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{item!r} is not TYPE=NUMBER", param_hint="--image-threshold")

    sources = tuple(s.strip() for s in label_sources.split(",") if s.strip())
    summary = run_score(
        Workspace(workspace),
        label_sources=sources,
        folds=folds,
        duplicate_threshold=duplicate_threshold,
        duplicate_radius=duplicate_radius,
        outlier_z=outlier_z,
        image_fence=image_fence,
        image_thresholds=thresholds,
        max_defect_share=max_defect_share,
        phash_distance=phash_distance,
        seed=seed,
        device=device,
        overwrite=overwrite,
    )
    emit(summary, as_json=as_json, human=_render)
