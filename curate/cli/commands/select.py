"""``curate select``: choose a training subset of a budget and bring the plan, manifest and report up to date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import json_option, progress_option, quiet_option, seed_option, workspace_arg
from curate.cli.output import emit
from curate.errors import UsageError
from curate.select.strategies import STRATEGIES


def parse_budget(text: str | None, option: str = "--budget") -> int | float | None:
    """A budget from the command line: ``"3000"`` is a count (``int``), ``"0.3"`` a fraction
    (``float``); anything else is a :class:`UsageError` in one line (click's own errors are not).
    Whether it fits the data is checked by the library."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is neither a fraction in (0, 1] nor a count of samples") from None


def budget_option(*decls: str, **attrs: Any):
    """``--budget`` (``select``) / ``--select-budget`` (``scan``): a fraction or a count of samples,
    as text (:func:`parse_budget` reads it)."""
    return click.option(
        *decls,
        metavar="FRACTION|COUNT",
        help="Samples to train on: a fraction of the selectable samples (0.3) or a count (3000).",
        **attrs,
    )


def strategy_option(*decls: str):
    return click.option(
        *decls,
        default="default",
        show_default=True,
        type=click.Choice(STRATEGIES),
        help="How the budget is filled: default (redundancy and likely label errors out, then coverage of every "
        "class's modes, class prior kept), diverse (k-center), typical, easy, hard (prototype distance and margin), "
        "balanced (equal per class), random.",
    )


def render_selection(s: Mapping[str, Any] | None) -> list[str]:
    """The selection in a few lines: how many of how many, what was left out, the classes."""
    if not s:
        return ["selection: none (every sample keeps its plan weight)"]
    left = ", ".join(f"{n} {tier.replace('_', ' ')}" for tier, n in s["left_out"].items() if n)
    lines = [
        f"selected {s['num_selected']:,} of {s['num_selectable']:,} samples ({s['strategy']}, seed {s['seed']}); "
        f"left out: {left or 'nothing'}"
    ]
    classes = s["per_class"]
    shown = list(classes.items())[:10]
    lines.append(
        "per class (before -> after): "
        + ", ".join(f"{name} {c['before']}->{c['after']}" for name, c in shown)
        + (f", ... ({len(classes) - len(shown)} more)" if len(classes) > len(shown) else "")
    )
    return lines


def render(s: Mapping[str, Any]) -> str:
    lines = render_selection(s["selection"])
    if s["steps"]:
        lines.append("refreshed: " + ", ".join(step["stage"] for step in s["steps"]))
    lines += s["notes"]
    return "\n".join(lines)


@main.command("select")
@workspace_arg
@budget_option("--budget", required=True)
@strategy_option("--strategy")
@seed_option
@json_option
@quiet_option
@progress_option
def select_command(workspace, budget, strategy, seed, as_json):
    """Choose a training subset of WORKSPACE: --budget samples (a fraction or a count), redundant
    copies, likely label errors and defective images left out first, the rest chosen to cover every
    class's modes. plan.parquet and manifest.parquet get `selected` and `select_rank` (0 = chosen
    first, -1 = not chosen) and the unselected samples weight 0; summary.json gets `selection`.

    The selection is kept in the plan's parameters: `curate apply` and later scans choose again
    with the same budget, strategy and seed.
    """
    from curate.select.stage import run_select
    from curate.workspace import Workspace

    summary = run_select(Workspace(workspace), budget=parse_budget(budget), strategy=strategy, seed=seed)
    emit(summary, as_json=as_json, human=render)
