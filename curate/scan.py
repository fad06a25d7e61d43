"""``curate scan``: the whole audit chain with defaults, on images or on embeddings a user has."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate.config import DEFAULT_MODEL, DEFAULT_PRETRAINED
from curate.errors import UsageError
from curate.pipeline import (
    ArrayInput,
    DataSource,
    StageCall,
    plan_stages,
    run_plan,
    stages_for,
    validate_params,
)
from curate.stages import STAGE_ORDER, replaced_by_import
from curate.timing import measure
from curate.workspace import Workspace

#: stages that run on embeddings, whatever produced them
POST_EMBEDDING_STAGES: tuple[str, ...] = tuple(s for s in STAGE_ORDER if not replaced_by_import(s))


def audit_plan(
    data: str | Path | None,
    *,
    embeddings: str | Path | None = None,
    labels: str | Path | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    class_names: list[str] | None = None,
    text_embeddings: str | Path | None = None,
    caption_column: str | None = None,
    label_separator: str | None = None,
    multi_label: bool | None = None,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    engine: str = "local",
    address: str | None = None,
    decode: str = "auto",
    stage_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[DataSource, list[StageCall]]:
    """What :func:`run_scan` will run, with the same arguments: its source and its planned stages.

    ``device``, ``workers``, ``model`` and ``pretrained`` are common options (each goes to every
    stage that takes it: ``device`` to embed, neighbors and score). ``batch_size`` goes to embed
    only: negatives has a ``batch_size`` too, but it means the contrastive batch, not images per
    forward pass. ``engine`` and ``address`` go to embed and neighbors (where they run), ``decode``
    to embed (where it decodes); all three are refused with ``embeddings``, which replace embed.
    ``stage_params`` win over all of these. ``label_column`` is the label column of Parquet
    ``embeddings``, or with ``data`` the index stage's; ``label_separator`` and ``multi_label``
    (how label cells become tag sets: :mod:`curate.index.tags`) go to the import or the index. Parameters for a stage the run would skip
    (index or embed, with ``embeddings``) are a :class:`UsageError`, never silently ignored.
    """
    stage_params = {name: dict(p) for name, p in (stage_params or {}).items()}
    for name, params in stage_params.items():
        validate_params(name, params)
    if (data is None) == (embeddings is None):
        raise UsageError(
            "give either DATA (images) or --embeddings, not both"
            if data is not None
            else "give DATA (a folder or manifest of images) or --embeddings E.npy"
        )
    if labels is not None and embeddings is None:
        raise UsageError("--labels goes with --embeddings; image labels come from DATA")
    if embedding_column is not None and embeddings is None:
        raise UsageError("--embedding-column goes with --embeddings")
    if text_embeddings is not None and embeddings is None:
        raise UsageError("--text-embeddings goes with --embeddings; with DATA the model embeds the captions")
    source: DataSource = data
    if embeddings is not None and (engine != "local" or address is not None):
        raise UsageError("--engine and --address run the embed stage, which --embeddings replaces")
    if embeddings is not None:
        source = ArrayInput(
            embeddings,
            labels,
            embedding_column=embedding_column,
            label_column=label_column,
            class_names=class_names,
            text_embeddings=text_embeddings,
            caption_column=caption_column,
            label_separator=label_separator,
            multi_label=multi_label,
        )
        skipped = sorted(name for name, params in stage_params.items() if params and replaced_by_import(name))
        if skipped:
            raise UsageError(
                f"--embeddings replaces the {' and '.join(skipped)} stage; "
                f"its options ({', '.join(sorted(k for s in skipped for k in stage_params[s]))}) go with DATA"
            )
    else:
        given = {
            "label_column": label_column,
            "caption_column": caption_column,
            "label_separator": label_separator,
            "multi_label": multi_label,
        }
        given = {key: value for key, value in given.items() if value is not None}
        if given:
            stage_params["index"] = {**given, **stage_params.get("index", {})}
    stage_params["embed"] = {"batch_size": batch_size, **stage_params.get("embed", {})}
    common = {"model": model, "pretrained": pretrained, "device": device, "workers": workers}
    if embeddings is None:
        stage_params["embed"] = {"decode": decode, **stage_params["embed"]}
        # where embed runs, and where the neighbour search runs when it is the ivf engine's
        common.update(engine=engine, address=address)
    return source, plan_stages(stages_for(source, STAGE_ORDER), params=stage_params, common=common)


def scan_changes(index: Mapping[str, Any], embed: Mapping[str, Any]) -> dict[str, int]:
    """What a scan found changed in DATA since the workspace's last index, from its index and
    embed steps' summaries: ``added``, ``removed``, ``changed``, ``reused`` (rows kept without
    decoding) and ``embedded`` / ``embeddings_reused`` (images encoded by this run / whose vector
    was taken over by content hash; both 0 when the embeddings were up to date)."""
    return {
        **{key: int(index.get(key, 0)) for key in ("added", "removed", "changed", "reused")},
        "embedded": int(embed.get("images_embedded_now", 0)),
        "embeddings_reused": int(embed.get("images_reused", 0)),
    }


def run_scan(
    data: str | Path | None,
    ws: Workspace,
    *,
    embeddings: str | Path | None = None,
    labels: str | Path | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    class_names: list[str] | None = None,
    text_embeddings: str | Path | None = None,
    caption_column: str | None = None,
    label_separator: str | None = None,
    multi_label: bool | None = None,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    engine: str = "local",
    address: str | None = None,
    decode: str = "auto",
    stage_params: Mapping[str, Mapping[str, Any]] | None = None,
    overwrite: bool = False,
    example: str | None = None,
    decisions: str | Path | None = None,
) -> dict[str, Any]:
    """Run index -> embed -> neighbors -> score -> negatives -> propose -> export -> report.

    With ``embeddings`` (and optional ``labels``) the index and embed stages are replaced by an
    import of those arrays (or of clip-retrieval's output folder); ``text_embeddings`` and
    ``caption_column`` bring the captions of image-text pairs (:class:`curate.pipeline.ArrayInput`). ``stage_params`` sets any stage's keyword parameters by stage name;
    the common options reach every stage that takes them (:func:`audit_plan`); ``engine``
    (``local`` or ``ray``, at ``address``) and ``decode`` say where embed runs and decodes.
    Returns the contents of summary.json, plus ``engine``, ``steps``: each step's ``stage``,
    ``up_to_date`` and ``timing`` (:mod:`curate.timing`), ``timings``: this run's timing per step
    and in ``total``, and (on images) ``changes``: what this run found changed in DATA
    (:func:`scan_changes`). Finding problems in the data is not an error (that is ``curate check``'s
    job); data that cannot be used at all raises :class:`DataError`.

    ``example`` (a name from :data:`curate.examples.EXAMPLES`, instead of ``data``) scans that
    example dataset, written once into ``WS/example-NAME/`` (its truth beside it, in
    ``WS/example-NAME.truth.json``); the summary then has ``example``:
    how many of its planted problems were found (:func:`curate.examples.score_example`).

    ``decisions``: a reviewer's decisions file (as report.html exports it), recorded in the
    workspace once the plan is proposed and honoured from then on (``curate apply`` does the
    same on a scanned workspace); the summary's ``decisions`` says what was recorded.
    """
    truth = None
    if example is not None:
        from curate.examples import prepare_example

        if data is not None or embeddings is not None:
            raise UsageError("--example brings its own images: give it without DATA or --embeddings")
        data = ws.root / f"example-{example}"
        # the truth beside the folder, not in it: a file in DATA that is no sample would be reported
        ws.root.mkdir(parents=True, exist_ok=True)
        truth = prepare_example(example, data, truth_file=ws.root / f"example-{example}.truth.json")
    source, plan = audit_plan(
        data,
        embeddings=embeddings,
        labels=labels,
        embedding_column=embedding_column,
        label_column=label_column,
        class_names=class_names,
        text_embeddings=text_embeddings,
        caption_column=caption_column,
        label_separator=label_separator,
        multi_label=multi_label,
        model=model,
        pretrained=pretrained,
        device=device,
        batch_size=batch_size,
        workers=workers,
        engine=engine,
        address=address,
        decode=decode,
        stage_params=stage_params,
    )
    with measure() as total:
        steps = run_plan(plan, source, ws, overwrite=overwrite, name="scan", decisions=decisions)
    summary = ws.read_json("summary")
    summary["engine"] = engine
    summary["steps"] = [
        {"stage": step["stage"], "up_to_date": bool(step.get("up_to_date")), "timing": step.get("timing")}
        for step in steps
    ]
    # this run's cost per step (summary.json's ``timings`` stop before export, which writes it)
    summary["timings"] = {step["stage"]: step["timing"] for step in steps if step.get("timing")}
    summary["timings"]["total"] = total
    by_stage = {step["stage"]: step for step in steps}
    if "decisions" in by_stage:
        summary["decisions"] = {k: v for k, v in by_stage["decisions"].items() if k not in ("stage", "up_to_date")}
    if "index" in by_stage:
        summary["changes"] = scan_changes(by_stage["index"], by_stage.get("embed", {}))
    if truth is not None:
        from curate.examples import score_example

        summary["example"] = {**score_example(truth, ws.path("manifest"), ws.path("issues")), "data": str(data)}
    return summary
