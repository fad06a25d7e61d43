"""The runner behind ``curate scan`` and recipes: plan a list of stages, then run the plan.

Each stage is a library function ``run_<stage>(ws, *, ..., overwrite=False)`` (index also takes
the data location first) that reads and writes only workspace files; the stage table
(:mod:`curate.stages`) says which function, imported only when a stage runs, so importing this
module stays cheap.

A run has per-stage parameters and common options (``device``, ``seed``, ``workers``, ...): a
common option goes to every stage of the run whose function takes it, and a stage's own
parameter of the same name wins. Bring-your-own embeddings (:class:`ArrayInput`) replace the
stages an import writes for (index, embed) with that import.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curate import progress
from curate.errors import DataError, UsageError
from curate.stages import STAGE_ORDER, STAGES, StageFunction, replaced_by_import
from curate.timing import measure, record_timing

if TYPE_CHECKING:
    from curate.workspace import Workspace


@dataclass
class ArrayInput:
    """Bring-your-own embeddings instead of a data folder: replaces the index and embed stages.

    ``embeddings``: an N x D ``.npy``, Parquet with a list column (``embedding_column``), or
    clip-retrieval's output folder (``img_emb/``, ``text_emb/``, ``metadata/``:
    :mod:`curate.embed.clip_retrieval`); ``labels``: N labels (``.npy``), an N x K 0/1 multi-hot
    ``.npy``, JSON lines or a Parquet list column of tags (:func:`curate.embed.importer.load_labels`),
    or ``label_column`` of the embeddings' Parquet (of clip-retrieval's metadata);
    ``label_separator`` / ``multi_label`` read string labels as tag sets (:mod:`curate.index.tags`). Image-text pairs:
    ``text_embeddings``, an N x D array of caption embeddings in the same space (clip-retrieval's
    ``text_emb/`` by default), and ``caption_column``, the captions' column of the Parquet (of
    the metadata, where ``caption`` is read by default).
    """

    embeddings: str | os.PathLike[str]
    labels: str | os.PathLike[str] | None = None
    embedding_column: str | None = None
    label_column: str | None = None
    class_names: list[str] | None = None
    text_embeddings: str | os.PathLike[str] | None = None
    caption_column: str | None = None
    label_separator: str | None = None
    multi_label: bool | None = None


#: the stages whose timings an import of user embeddings stands in for
IMPORT_REPLACES: tuple[str, ...] = tuple(s for s in STAGE_ORDER if replaced_by_import(s))

#: What a run reads: a dataset location for the index stage, user embeddings, or nothing (a run
#: that starts after index, on a workspace that has its inputs).
DataSource = str | os.PathLike[str] | ArrayInput | None


@dataclass(frozen=True)
class StageCall:
    """One step of a planned run: a stage and the keyword arguments its function will get."""

    stage: str
    kwargs: dict[str, Any]


def step_status(step: Mapping[str, Any]) -> str:
    """How a step of a run ended, in words: ``up to date`` when nothing needed doing."""
    return "up to date" if step.get("up_to_date") else "done"


def _cost(step: Mapping[str, Any]) -> str:
    """`` in 12.3 s, peak 810 MiB`` from a step's ``timing`` (nothing for an up-to-date step)."""
    timing = step.get("timing")
    if not timing or step.get("up_to_date"):
        return ""
    return f" in {timing['seconds']:.1f} s, peak {timing['peak_rss_mib']:.0f} MiB"


def stage_function(name: str) -> StageFunction:
    """The library function of a stage."""
    try:
        return STAGES[name].function()
    except KeyError:
        raise UsageError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_ORDER)}") from None


def stage_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Keyword-only parameters a stage accepts (what a recipe may set), ``overwrite`` excluded."""
    sig = inspect.signature(stage_function(name))
    return {
        p.name: p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "overwrite"
    }


def validate_params(name: str, params: Mapping[str, Any]) -> None:
    """Unknown keys are an error naming the key and the stage."""
    known = stage_parameters(name)
    for key in params:
        if key not in known:
            raise UsageError(f"stage {name!r} has no parameter {key!r}; it takes: {', '.join(sorted(known)) or 'none'}")


def stages_for(source: DataSource, stages: Sequence[str]) -> list[str]:
    """The stages a run on ``source`` executes: with :class:`ArrayInput` the import stands in for
    the stages whose artifacts it writes (index, embed)."""
    if isinstance(source, ArrayInput):
        return [s for s in stages if not replaced_by_import(s)]
    return list(stages)


def plan_stages(
    stages: Sequence[str],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    common: Mapping[str, Any] | None = None,
) -> list[StageCall]:
    """Each stage with its keyword arguments: every ``common`` option the stage's function takes
    (values passed as given, None included), then the stage's own ``params`` over them.

    Unknown parameters of a planned stage are a :class:`UsageError` before anything runs;
    ``params`` of stages not in ``stages`` are left unused.
    """
    params = params or {}
    calls = []
    for name in stages:
        own = dict(params.get(name, {}))
        validate_params(name, own)
        takes = stage_parameters(name)
        shared = {key: value for key, value in (common or {}).items() if key in takes}
        calls.append(StageCall(name, {**shared, **own}))
    return calls


def import_embedding_files(ws: Workspace, arrays: ArrayInput, *, overwrite: bool = False) -> dict[str, Any]:
    """Load an N x D array (.npy, Parquet, or clip-retrieval's output folder), optional labels
    (.npy, or a column of the embeddings' Parquet) and, for image-text pairs, caption embeddings
    and captions, into the workspace (samples + embeddings)."""
    from curate.embed.clip_retrieval import is_clip_retrieval_folder
    from curate.embed.importer import import_arrays, load_array, load_labels

    if is_clip_retrieval_folder(arrays.embeddings):
        emb, labels, text, captions = _clip_retrieval_arrays(arrays)
    else:
        emb = load_array(arrays.embeddings, column=arrays.embedding_column)
        labels = None
        if arrays.labels is not None:
            labels = load_labels(arrays.labels, column=arrays.label_column)
        elif arrays.label_column is not None:
            labels = load_labels(arrays.embeddings, column=arrays.label_column)
        text = None if arrays.text_embeddings is None else load_array(arrays.text_embeddings)
        captions = None
        if arrays.caption_column is not None:
            if os.fspath(arrays.embeddings).endswith(".npy"):
                raise UsageError("--caption-column names a column of Parquet --embeddings; a .npy has none")
            captions = load_array(arrays.embeddings, column=arrays.caption_column).tolist()
    written = import_arrays(
        ws,
        emb,
        labels,
        class_names=arrays.class_names,
        label_separator=arrays.label_separator,
        multi_label=arrays.multi_label,
        overwrite=overwrite,
        text_embeddings=text,
        captions=captions,
    )
    return {
        "num_samples": int(emb.shape[0]),
        "dim": int(emb.shape[1]),
        "labelled": labels is not None,
        "captioned": text is not None,
        "up_to_date": not written,
    }


def check_model_request(plan: Sequence[StageCall]) -> None:
    """Refuse the embed step's ``model`` / ``pretrained`` before any stage runs, when they cannot
    work (an unknown name or tag, a missing local folder or checkpoint: the errors of
    :func:`curate.embed.model.resolve_source`, which touches no network). Otherwise index would
    decode every image first and the run would fail only then."""
    for call in plan:
        if call.stage != "embed":
            continue
        from curate.embed.model import resolve_source

        defaults = stage_parameters("embed")
        resolve_source(
            call.kwargs.get("model", defaults["model"].default),
            call.kwargs.get("pretrained", defaults["pretrained"].default),
        )


def _clip_retrieval_arrays(arrays: ArrayInput) -> tuple[Any, Any, Any, list | None]:
    """(image embeddings, labels or None, caption embeddings or None, captions or None) of a
    clip-retrieval output folder; labels and captions come from its metadata's columns."""
    from curate.embed.clip_retrieval import read_clip_retrieval
    from curate.embed.importer import load_array

    if arrays.embedding_column is not None:
        raise UsageError("--embedding-column is for Parquet embeddings; clip-retrieval's folder has img_emb/")
    found = read_clip_retrieval(arrays.embeddings)
    names = [] if found.metadata is None else found.metadata.column_names

    def column(name: str, what: str) -> list:
        if name not in names:
            raise DataError(
                f"{arrays.embeddings}: its metadata has no {what} column {name!r} (columns: {', '.join(names) or 'none'})"
            )
        assert found.metadata is not None
        return found.metadata.column(name).to_pylist()

    labels = None
    if arrays.labels is not None:
        labels = load_array(arrays.labels)
    elif arrays.label_column is not None:
        import numpy as np

        labels = np.array(column(arrays.label_column, "label"), dtype=object)
    text = found.text if arrays.text_embeddings is None else load_array(arrays.text_embeddings)
    captions = None
    if arrays.caption_column is not None:
        captions = column(arrays.caption_column, "caption")
    elif "caption" in names:
        captions = column("caption", "caption")
    return found.image, labels, text, captions


def run_plan(
    plan: Sequence[StageCall],
    source: DataSource,
    ws: Workspace,
    *,
    overwrite: bool = False,
    name: str = "run",
    decisions: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``plan`` in order on ``source`` into ``ws``; returns each step's summary with its
    ``stage`` (``"import"`` for user embeddings) and ``up_to_date`` (nothing needed doing).

    ``decisions``: a reviewer's decisions file, recorded once the propose stage has run (an
    ``accept`` takes that plan's suggestion; :func:`curate.review.apply.record_decisions`), and
    propose then re-run on them, so the steps after it see them; a step ``"decisions"`` reports
    what was recorded. A plan without the propose stage cannot honour them: a :class:`UsageError`
    before anything runs, as is a missing file; a file that cannot be read is refused then too,
    while what its rows say is checked once the plan exists.

    A model request that cannot work is refused before any stage runs
    (:func:`check_model_request`). Stops with :class:`DataError` when index finds no readable
    image and the plan goes on to stages that need one. ``name`` prefixes the progress lines. The workspace lock is held for
    the whole run (:meth:`Workspace.lock`), so no other process writes between its stages.
    """
    if decisions is not None:
        if "propose" not in [call.stage for call in plan]:
            raise UsageError("--decisions needs the propose stage, which applies them; this run has none")
        from curate.review.decisions import read_decision_file

        read_decision_file(decisions)  # a file that cannot be read fails before any stage runs
    check_model_request(plan)
    with ws.lock(create=True):
        return _run_locked(plan, source, ws, overwrite=overwrite, name=name, decisions=decisions)


def _run_locked(
    plan: Sequence[StageCall],
    source: DataSource,
    ws: Workspace,
    *,
    overwrite: bool,
    name: str,
    decisions: str | os.PathLike[str] | None,
) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = []
    if isinstance(source, ArrayInput):
        with measure() as timing:
            imported = import_embedding_files(ws, source, overwrite=overwrite)
        timing["up_to_date"] = bool(imported["up_to_date"])
        record_timing(ws, "import", timing, replaces=IMPORT_REPLACES)
        summaries.append({**imported, "stage": "import", "timing": timing})
        progress.log(f"[{name}] import of {source.embeddings}: {step_status(summaries[-1])}{_cost(summaries[-1])}")
    for position, call in enumerate(plan):
        stage = STAGES[call.stage]
        function = stage.function()
        if stage.takes_data:
            if source is None or isinstance(source, ArrayInput):
                raise UsageError(f"stage {call.stage!r} reads DATA: give a folder or manifest of images")
            summary = function(source, ws, **call.kwargs, overwrite=overwrite)
        else:
            summary = function(ws, **call.kwargs, overwrite=overwrite)
        if call.stage == "propose" and decisions is not None:
            from curate.review.apply import record_decisions

            recorded = record_decisions(ws, decisions)
            summaries.append({**recorded, "stage": "decisions", "up_to_date": False})
            progress.log(f"[{name}] decisions: recorded {recorded['recorded']} from {decisions}")
            rerun = function(ws, **call.kwargs, overwrite=overwrite)
            summary = {**rerun, "up_to_date": summary.get("up_to_date") and rerun.get("up_to_date")}
        summaries.append({**summary, "stage": call.stage})
        # after the stage, not before: a stage that found its outputs current did not run
        progress.log(f"[{name}] {call.stage}: {step_status(summary)}{_cost(summary)}")
        if call.stage == "index" and position + 1 < len(plan) and summary.get("num_readable", 0) == 0:
            raise DataError(f"none of the {summary.get('num_samples', 0)} inputs in {source} is a readable image")
    return summaries
