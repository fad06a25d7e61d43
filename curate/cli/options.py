"""Options shared by several commands, so a flag means the same thing everywhere."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from curate import progress
from curate.device import DEVICES


def workspace_arg(f: Callable) -> Callable:
    return click.argument("workspace", type=click.Path(file_okay=False, path_type=str))(f)


def output_option(f: Callable) -> Callable:
    def local_only(ctx: click.Context, param: click.Parameter, value: str) -> str:
        from curate.index.remote import is_url

        if is_url(value):  # DATA may be remote; the workspace is a local folder
            raise click.BadParameter(f"{value} is a URL; the workspace is a local folder", ctx, param)
        return value

    return click.option(
        "-o",
        "--output",
        "workspace",
        required=True,
        type=click.Path(file_okay=False, path_type=str),
        callback=local_only,
        help="Workspace folder the artifacts are written to (created if missing; local, even when DATA is a URL).",
    )(f)


def renamed_option(*decls: str, old: tuple[str, ...], **attrs: Any) -> Callable[[Callable], Callable]:
    """``click.option(*decls, **attrs)`` that still accepts its former spellings ``old``, hidden
    from --help, so scripts written against the old name keep working.

    The old spelling works silently: no note on stderr, because the contract is that stderr
    carries one line per error and scripts that parse it must not break; --help and
    docs/architecture.md ("Option conventions") name the new one. Giving both spellings is a usage
    error. ``required=True`` is checked here, after both are read.
    """
    required = attrs.pop("required", False)
    if required:  # click only marks options it checks itself
        attrs["help"] = f"{attrs.get('help', '')}  [required]".strip()
    new = max(decls, key=lambda d: (d.startswith("--"), len(d)))
    dest = click.Option(list(decls)).name
    meta_key = f"curate.renamed_option:{new}"
    both_given = f"{' / '.join(old)} is the old name of {new}; give only {new}"

    def remember_old(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        if ctx.get_parameter_source(dest) is ParameterSource.COMMANDLINE:
            raise click.UsageError(both_given, ctx)
        ctx.meta[meta_key] = value

    def take_either(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if meta_key in ctx.meta:
            if ctx.get_parameter_source(dest) is ParameterSource.COMMANDLINE:
                raise click.UsageError(both_given, ctx)
            return ctx.meta[meta_key]
        if value is None and required:
            raise click.MissingParameter(ctx=ctx, param=param)
        return value

    old_option = click.option(
        *old, type=attrs.get("type"), default=None, hidden=True, expose_value=False, callback=remember_old
    )
    new_option = click.option(*decls, callback=take_either, **attrs)
    return lambda f: new_option(old_option(f))


def overwrite_option(f: Callable) -> Callable:
    return click.option(
        "--overwrite",
        is_flag=True,
        help="Replace artifacts that were made with other parameters (another model, another option) "
        "instead of refusing. Not needed when only the data or an earlier stage changed: that is recomputed.",
    )(f)


def seed_option(f: Callable) -> Callable:
    return click.option(
        "--seed", default=0, show_default=True, type=int, help="Random seed (results are deterministic)."
    )(f)


def device_option(f: Callable) -> Callable:
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        type=click.Choice(DEVICES),
        help="Where tensors run: auto picks cuda, then mps, then cpu.",
    )(f)


def duplicate_threshold_option(*flags: str) -> Callable[[Callable], Callable]:
    """An explicit near-duplicate cosine; unset, the cut is derived from the embedding space."""
    return click.option(
        *(flags or ("--duplicate-threshold",)),
        "duplicate_threshold",
        default=None,
        type=click.FloatRange(0.0, 1.0, min_open=True),
        help="Cosine at or above which two samples are near duplicates. Default: derived from the data "
        "(a share of the median nearest-neighbour distance; see --duplicate-radius on score).",
    )


def engine_options(f: Callable | None = None, *, defaults: bool = True, decode: bool = True) -> Callable:
    """--engine / --address / --decode: where the embed stage (and the ivf neighbour search) runs,
    and where images are decoded (:func:`curate.embed.runner.run_embed`,
    :func:`curate.graph.stage.run_neighbors`). ``defaults=False`` leaves unset options None, for
    commands that pass only what was given (`run`, over a recipe's own values); ``decode=False``
    leaves --decode out (`neighbors`, which decodes nothing)."""
    from curate.embed.decode import DECODES
    from curate.engine import ENGINES

    def decorate(func: Callable) -> Callable:
        if not decode:
            return _engine_and_address(func, ENGINES, defaults)
        func = click.option(
            "--decode",
            type=click.Choice(DECODES),
            default="auto" if defaults else None,
            show_default=defaults,
            help="Where images are decoded and resized: cpu (worker processes), gpu (JPEGs with nvJPEG, "
            "resize on the GPU; needs CUDA), auto (gpu on a CUDA device, else cpu; cpu again for a workspace "
            "embedded with cpu). Part of the embeddings' fingerprint.",
        )(func)
        return _engine_and_address(func, ENGINES, defaults)

    return decorate if f is None else decorate(f)


def _engine_and_address(func: Callable, engines: tuple[str, ...], defaults: bool) -> Callable:
    func = click.option(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="With --engine ray: the Ray cluster's head address [default: the ambient cluster "
        "(RAY_ADDRESS), else a local one].",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(engines),
        default="local" if defaults else None,
        show_default=defaults,
        help="Where the work runs: this process, or a Ray cluster (pip install 'curate[ray]'). embed: "
        "Ray Data, CPU tasks decode and one actor per GPU encodes; neighbors: the ivf search as tasks over "
        "the embedding shards. Both write the same workspace.",
    )(func)


def cache_option(f: Callable) -> Callable:
    """--cache DIR: an embedding cache shared by several workspaces (curate.embed.cache)."""
    return click.option(
        "--cache",
        default=None,
        envvar="CURATE_CACHE",
        type=click.Path(file_okay=False, path_type=str),
        help="A folder of embeddings shared by several workspaces: an image whose content, model and "
        "preprocessing are there is not encoded again, and what this run encodes is added "
        "[env: CURATE_CACHE].",
    )(f)


def decisions_option(f: Callable) -> Callable:
    """--decisions FILE on `scan` and `run`: a reviewer's decisions, recorded like `curate apply`."""
    return click.option(
        "--decisions",
        type=click.Path(dir_okay=False, path_type=str),
        default=None,
        help="A decisions file (CSV or JSON Lines: sample_id, decision, label, note), as exported from "
        "report.html: recorded in the workspace like `curate apply`, and honoured by propose and export.",
    )(f)


def train_on_review_option(f: Callable) -> Callable:
    """--train-on-review on `scan` and `export`: samples proposed for review keep their sampling
    weight instead of 0 (the default holds them back until a person decides)."""
    return click.option(
        "--train-on-review",
        is_flag=True,
        help="Train on the samples proposed for review: they keep their sampling weight in "
        "manifest.parquet. By default they have weight 0 until a person decides (report.html, `curate apply`).",
    )(f)


def json_option(f: Callable) -> Callable:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print a machine-readable JSON summary instead of text."
    )(f)


def quiet_option(f: Callable) -> Callable:
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        progress.set_quiet(value)
        return value

    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=callback,
        help="No progress bars or log lines on stderr.",
    )(f)


def progress_option(f: Callable) -> Callable:
    """--progress: how a long stage shows progress on stderr, whatever -q and the terminal say."""

    def callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
        progress.set_mode(value)
        return value

    return click.option(
        "--progress",
        type=click.Choice(progress.MODES),
        default="auto",
        show_default=True,
        expose_value=False,
        is_eager=True,
        callback=callback,
        help="How long stages show progress on stderr: a bar, a log line every few seconds (done / total, "
        "rate, ETA), or none. auto: a bar on a terminal, log lines otherwise (CI logs, redirected "
        "stderr), none with -q.",
    )(f)


def model_source_options(f: Callable) -> Callable:
    """--model / --pretrained: which open_clip model and weights (passed straight to open_clip)."""
    from curate.config import DEFAULT_MODEL, DEFAULT_PRETRAINED

    f = click.option(
        "--pretrained",
        default=DEFAULT_PRETRAINED,
        show_default=True,
        help="open_clip pretrained tag, or a local checkpoint file. Empty for local-dir/hf-hub models.",
    )(f)
    return click.option(
        "--model",
        default=DEFAULT_MODEL,
        show_default=True,
        help="open_clip model name, hf-hub:ORG/REPO, or local-dir:PATH (a folder with "
        "open_clip_config.json and the weights).",
    )(f)


def model_options(f: Callable) -> Callable:
    """--model / --pretrained / --batch-size / --workers, passed straight to open_clip."""

    @model_source_options
    @click.option(
        "--batch-size",
        default=None,
        type=click.IntRange(min=1),
        help="Images per forward pass [default: 256 on cuda, 64 on cpu].",
    )
    @click.option(
        "--workers",
        default=None,
        type=click.IntRange(min=0),
        help="DataLoader decoding processes [default: CPU count, at most 8].",
    )
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)

    return wrapper


def threshold_options(f: Callable | None = None, *, with_defaults: bool = True) -> Callable:
    """One option per gate of `curate check` (:func:`curate.issues.gates`: each issue type's,
    then the dataset's), as ``max_label_issues=...`` keyword arguments; unset is None.
    ``with_defaults`` names each default in the help (the report colours by them; `check`
    itself gates only on what it is given). Values are validated by the library, which names
    the flag (:func:`curate.check.check_limit`)."""
    from curate.config import DEFAULT_THRESHOLDS
    from curate.issues import gates

    def decorate(func: Callable) -> Callable:
        for g in reversed(gates()):
            default = f" [default: {DEFAULT_THRESHOLDS[g.keyword]:g}]" if with_defaults else ""
            func = click.option(
                g.flag, g.keyword, type=int if g.kind == "count" else float, default=None, help=g.help + default
            )(func)
        return func

    return decorate if f is None else decorate(f)


def index_column_options(*, label_help: str) -> Callable[[Callable], Callable]:
    """--format and the column options of `index` (and `scan` on DATA), as ``fmt``,
    ``path_column``, ``label_column``, ``split_column``, ``image_column``, ``caption_column``; a column left unset is
    None, so the library can refuse one the format would ignore."""
    from curate.index.stage import COLUMN_DEFAULTS, FORMATS

    def column(name: str, help: str) -> Callable[[Callable], Callable]:
        return click.option(
            f"--{name}-column", default=None, help=f"{help} [default: {COLUMN_DEFAULTS[f'{name}_column']}]"
        )

    def decorate(f: Callable) -> Callable:
        for option in reversed(
            (
                click.option(
                    "--format",
                    "fmt",
                    default="auto",
                    show_default=True,
                    type=click.Choice(("auto", *FORMATS)),
                    help="How DATA is laid out; auto tells an image folder, a manifest file, Parquet "
                    "with image bytes and WebDataset .tar shards apart.",
                ),
                column("path", "Manifest column of image paths."),
                column("label", label_help),
                column("split", "Manifest / Parquet column holding the split (train, val, ...)."),
                column("image", "Parquet column holding the image bytes (Hugging Face Image struct)."),
                column(
                    "caption",
                    "Manifest / Parquet column, or WebDataset .json field (after the .txt member), holding "
                    "each image's caption (image-text pairs).",
                ),
            )
        ):
            f = option(f)
        return f

    return decorate


def multi_label_options(f: Callable) -> Callable:
    """--label-separator / --multi-label / --single-label: how label cells become tag sets
    (curate.index.tags), as ``label_separator`` (None: not given) and ``multi_label`` (None:
    detected)."""
    f = click.option(
        "--multi-label/--single-label",
        "multi_label",
        default=None,
        help="Read every label cell as a set of tags (a plain string is one tag), or each as one class "
        "(no separator detection) [default: detected: lists, JSON lists, or a separator most labels contain].",
    )(f)
    return click.option(
        "--label-separator",
        default=None,
        metavar="SEP",
        help="Split string labels into tags on SEP (e.g. '|': 'cat|sofa' is two tags); without it a "
        "separator most labels contain (| ; ,) is detected and said on stderr.",
    )(f)


def selection_options(f: Callable) -> Callable:
    """--include / --exclude: glob patterns narrowing the files of DATA that are indexed, as
    ``include`` and ``exclude`` tuples (curate.index.walk.Selection)."""
    f = click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out files matching GLOB (repeatable); counted as excluded in the skipped files.",
    )(f)
    return click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Index only files matching GLOB (repeatable). A GLOB without / matches the file name "
        "(*.jpg), one with / the path relative to DATA (train/*); a manifest's paths as written.",
    )(f)


def caption_filter_options(f: Callable) -> Callable:
    """--min-caption-score / --keep-top-fraction: the CLIP-score filters of image-text pairs
    (curate.plan.captions), as ``min_caption_score`` and ``keep_top_fraction`` (None: not given)."""
    f = click.option(
        "--keep-top-fraction",
        default=None,
        type=click.FloatRange(0.0, 1.0, min_open=True),
        metavar="F",
        help="Image-text pairs: keep only this best-scoring share of the pairs by caption score "
        "(DataComp-style, e.g. 0.3); the rest are dropped.",
    )(f)
    return click.option(
        "--min-caption-score",
        default=None,
        type=click.FloatRange(-1.0, 1.0),
        metavar="S",
        help="Image-text pairs: drop pairs whose caption score (image-caption cosine) is below S "
        "(LAION-style; 0.28 was LAION's for ViT-B/32, other models need their own).",
    )(f)
