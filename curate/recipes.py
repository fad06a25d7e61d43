"""Recipes: a named chain of stages and their parameters, in a TOML file.

    [recipe]
    name = "clean"
    description = "Drop duplicates and apply confident relabels."
    stages = ["index", "embed", "neighbors", "score", "propose", "export", "report"]

    [stages.propose]
    relabel_threshold = 0.95

Stages run in the order listed (which must follow the chain order of
:data:`curate.stages.STAGE_ORDER`); a ``[stages.<name>]`` table sets keyword parameters of that
stage's library function. Unknown keys, unknown stages and values of the wrong type are
:class:`UsageError` naming the key, raised when the recipe is loaded — before anything runs.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from curate.errors import CurateError, UsageError
from curate.pipeline import (
    ArrayInput,  # noqa: F401  (re-exported: a recipe runs on data or an ArrayInput)
    DataSource,
    plan_stages,
    run_plan,
    stage_function,
    stage_parameters,
    stages_for,
    validate_params,
)
from curate.stages import STAGE_ORDER
from curate.workspace import Workspace

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomllib is new in 3.11; tomli is the same parser (a dependency on 3.10 only)
    import tomli as tomllib

#: where the recipes shipped with curate live (``curate run audit`` finds ``recipes/audit.toml``).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class Recipe:
    """A loaded, validated recipe. ``params`` maps stage name -> keyword parameters."""

    name: str
    description: str
    stages: list[str]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None


def _checked_stage_parameters(stage: str) -> dict[str, inspect.Parameter]:
    try:
        return stage_parameters(stage)
    except ImportError as exc:
        raise CurateError(f"stage {stage!r} is not available in this installation ({exc})") from None


def _matches(value: Any, tp: Any) -> bool:
    """Whether a TOML value fits a parameter annotation (the subset stage signatures use)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp in (Path, os.PathLike) or origin is os.PathLike:
        return isinstance(value, str)
    return isinstance(value, tp) if isinstance(tp, type) else True


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "none"
    if origin in (list, tuple, Sequence):
        return "a list"
    return getattr(tp, "__name__", str(tp))


def check_stage_params(stage: str, params: Mapping[str, Any]) -> None:
    """Unknown keys and values whose type does not fit the stage function's signature -> UsageError."""
    known = _checked_stage_parameters(stage)
    validate_params(stage, params)
    try:
        hints = typing.get_type_hints(stage_function(stage))
    except Exception:  # an annotation that cannot be resolved: fall back to the defaults' types
        hints = {}
    for key, value in params.items():
        tp = hints.get(key)
        if tp is None:
            default = known[key].default
            tp = Any if default is None or default is known[key].empty else type(default)
        if not _matches(value, tp):
            raise UsageError(f"stage {stage!r} parameter {key!r} must be {_describe(tp)}, got {value!r}")


def _validate(data: dict[str, Any], source: str) -> Recipe:
    unknown = set(data) - {"recipe", "stages"}
    if unknown:
        raise UsageError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} (expected [recipe] and [stages.*])")
    head = data.get("recipe")
    if not isinstance(head, dict):
        raise UsageError(f"{source}: missing [recipe] table with name, description and stages")
    unknown = set(head) - {"name", "description", "stages"}
    if unknown:
        raise UsageError(
            f"{source}: unknown key {sorted(unknown)[0]!r} in [recipe] (expected name, description, stages)"
        )
    stages = head.get("stages")
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages):
        raise UsageError(f"{source}: [recipe] stages must be a non-empty list of stage names")
    for s in stages:
        if s not in STAGE_ORDER:
            raise UsageError(f"{source}: unknown stage {s!r} in stages; stages are: {', '.join(STAGE_ORDER)}")
    positions = [STAGE_ORDER.index(s) for s in stages]
    if positions != sorted(set(positions)):
        raise UsageError(f"{source}: stages must be listed once each in chain order ({' -> '.join(STAGE_ORDER)})")
    tables = data.get("stages", {})
    if not isinstance(tables, dict):
        raise UsageError(f"{source}: [stages.<name>] must be tables of parameters")
    params: dict[str, dict[str, Any]] = {}
    for stage, table in tables.items():
        if stage not in stages:
            raise UsageError(f"{source}: [stages.{stage}] sets parameters of a stage the recipe does not run")
        if not isinstance(table, dict):
            raise UsageError(f"{source}: [stages.{stage}] must be a table of parameters")
        try:
            check_stage_params(stage, table)
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from None
        params[stage] = dict(table)
    for key in ("name", "description"):
        if key in head and not isinstance(head[key], str):
            raise UsageError(f"{source}: [recipe] {key} must be a string")
    return Recipe(
        name=head.get("name", Path(source).stem),
        description=head.get("description", ""),
        stages=list(stages),
        params=params,
    )


def resolve_recipe(name_or_path: str | os.PathLike[str]) -> Path:
    """A recipe file: an existing path, or the name of one shipped in ``recipes/`` ("audit")."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{path.name}.toml" if path.suffix == "" else None
    if shipped is not None and shipped.is_file():
        return shipped
    available = sorted(p.stem for p in RECIPES_DIR.glob("*.toml")) if RECIPES_DIR.is_dir() else []
    raise UsageError(
        f"recipe {str(name_or_path)!r} not found; give a .toml path"
        + (f" or one of: {', '.join(available)}" if available else "")
    )


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe (see the module docstring)."""
    path = resolve_recipe(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    recipe = _validate(data, str(path))
    recipe.path = path
    return recipe


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"stage.key=value"`` -> (stage, key, value); the value is read as TOML (``0.5``, ``true``,
    ``["keep"]``), or taken as a plain string when it is not valid TOML (``strategy=sqrt``)."""
    target, sep, raw = text.partition("=")
    stage, dot, key = target.strip().partition(".")
    if not sep or not dot or not stage or not key:
        raise UsageError(f"--set expects stage.key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return stage, key.strip(), value


def apply_overrides(
    recipe: Recipe, overrides: Sequence[str] = (), *, common: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The recipe's own parameters with ``--set`` overrides applied, validated.

    ``common`` (e.g. ``{"model": "...", "device": "cpu"}``; None values ignored) is checked here
    but handed to the stages by the runner (:func:`curate.pipeline.plan_stages`): each option must
    fit a stage of the recipe (else UsageError), and it replaces the recipe file's value of the
    same key — the command line wins over the file, and ``--set`` over both.
    """
    params = {stage: dict(p) for stage, p in recipe.params.items()}
    for key, value in _given(common).items():
        takers = [s for s in recipe.stages if key in _checked_stage_parameters(s)]
        if not takers:
            raise UsageError(f"--{key.replace('_', '-')} has no effect: no stage of recipe {recipe.name!r} takes it")
        for stage in takers:
            check_stage_params(stage, {key: value})
            params.get(stage, {}).pop(key, None)
    for text in overrides:
        stage, key, value = parse_override(text)
        if stage not in recipe.stages:
            raise UsageError(
                f"--set {text}: recipe {recipe.name!r} does not run stage {stage!r} "
                f"(it runs: {', '.join(recipe.stages)})"
            )
        params.setdefault(stage, {})[key] = value
    for stage, p in params.items():
        check_stage_params(stage, p)
    return params


def _given(common: Mapping[str, Any] | None) -> dict[str, Any]:
    """The common options that were given (a None value means the flag was not)."""
    return {key: value for key, value in (common or {}).items() if value is not None}


def run_recipe(
    recipe: Recipe,
    data: DataSource,
    ws: Workspace,
    overrides: Sequence[str] = (),
    *,
    common: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    decisions: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Run the recipe's stages in order on ``data`` into ``ws``; returns each step's summary
    (``stage``, ``up_to_date`` and the stage's own figures).

    ``data`` is the dataset location handed to the index stage, or an :class:`ArrayInput`, in which
    case the arrays are imported (:func:`curate.pipeline.import_embedding_files`) in place of index
    and embed (as ``curate scan --embeddings`` does). ``overrides`` are ``"stage.key=value"``
    strings; everything is validated before the first stage runs. ``decisions``: a reviewer's
    decisions file, recorded and honoured as :func:`curate.pipeline.run_plan` says.
    """
    if data is None and "index" in recipe.stages:
        raise UsageError(f"recipe {recipe.name!r} starts by indexing: give DATA or --embeddings")
    kept = stages_for(data, recipe.stages)  # arrays stand in for index + embed and their parameters
    recipe = replace(recipe, stages=kept, params={s: p for s, p in recipe.params.items() if s in kept})
    params = apply_overrides(recipe, overrides, common=common)
    plan = plan_stages(recipe.stages, params=params, common=_given(common))
    return run_plan(plan, data, ws, overwrite=overwrite, name=recipe.name, decisions=decisions)
