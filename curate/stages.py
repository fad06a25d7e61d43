"""The stage table: every stage of the chain, what it reads and writes, and who runs it.

This is the one place stage facts live. The workspace's artifact names, file names and
"run `curate X` first" hints, each stage's input list, the artifacts ``summary.json`` records and
the ones the report reads, the chain ``curate scan`` and recipes run: all are read from
:data:`ARTIFACT_TABLE` and :data:`STAGES`. Adding a stage is one :class:`Stage` row (and its artifacts'
:class:`Artifact` rows); see docs/architecture.md.

The table holds each stage's library function by module and name and imports it only when asked
(:meth:`Stage.function`), so importing it costs nothing and ``curate --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curate.storage import KINDS_WITH_PARAMS, StorageKind

#: A stage's library function: ``run_<stage>([data,] ws, *, ..., overwrite=False) -> summary``.
StageFunction = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Artifact:
    """A file or folder a stage leaves in the workspace."""

    name: str
    #: the name inside the workspace folder
    filename: str
    #: how it is stored, which says where it keeps its fingerprint (:mod:`curate.storage`)
    kind: StorageKind
    #: for what people put in the workspace rather than a stage computes (decisions.parquet):
    #: the command that records it. No stage makes it; the stages that read it take it as an
    #: input from outside the chain, like DATA.
    recorded_by: str | None = None


@dataclass(frozen=True)
class Stage:
    """One stage of the chain.

    ``inputs`` must exist before the stage runs; ``optional_inputs`` are used when present
    (each adds to the result, none is required). ``takes_data``: the function takes the dataset
    location before the workspace (only index does).
    """

    name: str
    module: str
    function_name: str
    command: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    takes_data: bool = False

    def function(self) -> StageFunction:
        """The stage's library function, imported on first use."""
        return getattr(importlib.import_module(self.module), self.function_name)

    def inputs_present(self, exists: Callable[[str], bool]) -> list[str]:
        """The required inputs, then the optional ones for which ``exists(name)`` holds."""
        return list(self.inputs) + [name for name in self.optional_inputs if exists(name)]


_ARTIFACT_ROWS = (
    Artifact("samples", "samples.parquet", "parquet"),
    Artifact("embeddings", "embeddings", "shards"),
    Artifact("neighbors", "neighbors.parquet", "parquet"),
    Artifact("issues", "issues.parquet", "parquet"),
    Artifact("classes", "classes.parquet", "parquet"),
    Artifact("negatives", "negatives.parquet", "parquet"),
    Artifact("batches", "batches.parquet", "parquet"),
    Artifact("decisions", "decisions.parquet", "parquet", recorded_by="curate apply"),
    Artifact("plan", "plan.parquet", "parquet"),
    Artifact("manifest", "manifest.parquet", "parquet"),
    Artifact("summary", "summary.json", "json"),
    Artifact("report", "report.html", "html"),
)

_STAGE_ROWS = (
    Stage("index", "curate.index.stage", "run_index", "curate index", outputs=("samples",), takes_data=True),
    Stage("embed", "curate.embed.runner", "run_embed", "curate embed", outputs=("embeddings",), inputs=("samples",)),
    Stage(
        "neighbors",
        "curate.graph.stage",
        "run_neighbors",
        "curate neighbors",
        outputs=("neighbors",),
        inputs=("samples", "embeddings"),
    ),
    Stage(
        "score",
        "curate.score.stage",
        "run_score",
        "curate score",
        outputs=("issues", "classes"),
        inputs=("samples", "embeddings", "neighbors"),
    ),
    Stage(
        "negatives",
        "curate.negatives.stage",
        "run_negatives",
        "curate negatives",
        outputs=("negatives", "batches"),
        inputs=("samples", "embeddings", "neighbors"),
        optional_inputs=("issues",),
    ),
    Stage(
        "propose",
        "curate.plan.stage",
        "run_propose",
        "curate propose",
        outputs=("plan",),
        inputs=("samples",),
        # embeddings: only when it selects a training subset (curate.select)
        optional_inputs=("issues", "neighbors", "decisions", "embeddings"),
    ),
    Stage(
        "export",
        "curate.export.stage",
        "run_export",
        "curate export",
        outputs=("manifest", "summary"),
        inputs=("samples",),
        optional_inputs=("plan", "issues", "classes", "negatives"),
    ),
    Stage(
        "report",
        "curate.report.stage",
        "run_report",
        "curate report",
        outputs=("report",),
        inputs=("samples",),
        optional_inputs=("embeddings", "issues", "classes", "negatives", "plan", "summary"),
    ),
)

#: artifact name -> :class:`Artifact`, in the order the chain writes them
ARTIFACT_TABLE: dict[str, Artifact] = {a.name: a for a in _ARTIFACT_ROWS}

#: stage name -> :class:`Stage`, in chain order
STAGES: dict[str, Stage] = {s.name: s for s in _STAGE_ROWS}

#: the stage names in chain order; ``curate scan`` runs all of them
STAGE_ORDER: tuple[str, ...] = tuple(STAGES)

#: artifact name -> the stage that writes it
PRODUCING_STAGE: dict[str, Stage] = {out: stage for stage in _STAGE_ROWS for out in stage.outputs}

#: artifacts people record (no stage makes them), in chain order
RECORDED_ARTIFACTS: tuple[str, ...] = tuple(a.name for a in _ARTIFACT_ROWS if a.recorded_by is not None)

#: what an import of user embeddings (``curate scan --embeddings``) writes in place of stages
IMPORTED_ARTIFACTS: tuple[str, ...] = ("samples", "embeddings")

#: artifacts that record the parameters they were made with, in chain order (summary.json
#: lists each one's fingerprint and parameters)
ARTIFACTS_WITH_PARAMS: tuple[str, ...] = tuple(a.name for a in _ARTIFACT_ROWS if a.kind in KINDS_WITH_PARAMS)


def replaced_by_import(stage: str) -> bool:
    """Whether an import of user embeddings writes everything ``stage`` would (index, embed)."""
    return set(STAGES[stage].outputs) <= set(IMPORTED_ARTIFACTS)
