"""The stage chain behind ``curate scan`` and recipes.

Each stage is a library function ``run_<stage>(ws, *, ..., overwrite=False)`` (index also takes
the data location first) that reads and writes only workspace files. The registry maps a stage
name to that function by import path, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from curate.errors import UsageError

#: The full chain in order; ``curate scan`` runs all of it.
STAGE_ORDER: tuple[str, ...] = (
    "index", "embed", "neighbors", "score", "negatives", "propose", "export", "report",
)

STAGES: dict[str, str] = {
    "index": "curate.index.stage:run_index",
    "embed": "curate.embed.runner:run_embed",
    "neighbors": "curate.graph.stage:run_neighbors",
    "score": "curate.score.stage:run_score",
    "negatives": "curate.negatives.stage:run_negatives",
    "propose": "curate.plan.stage:run_propose",
    "export": "curate.export.stage:run_export",
    "report": "curate.report.stage:run_report",
}


def stage_function(name: str) -> Callable[..., Any]:
    """The library function of a stage."""
    try:
        module, attr = STAGES[name].split(":")
    except KeyError:
        raise UsageError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_ORDER)}") from None
    return getattr(importlib.import_module(module), attr)


def stage_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Keyword-only parameters a stage accepts (what a recipe may set), ``overwrite`` excluded."""
    sig = inspect.signature(stage_function(name))
    return {
        p.name: p for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "overwrite"
    }


def validate_params(name: str, params: Mapping[str, Any]) -> None:
    """Unknown keys are an error naming the key and the stage."""
    known = stage_parameters(name)
    for key in params:
        if key not in known:
            raise UsageError(
                f"stage {name!r} has no parameter {key!r}; it takes: {', '.join(sorted(known)) or 'none'}"
            )
