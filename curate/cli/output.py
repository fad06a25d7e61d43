"""One output helper: human text or JSON on stdout, nothing else there."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import click


def emit(summary: Mapping[str, Any], *, as_json: bool, human: Callable[[Mapping[str, Any]], str]) -> None:
    """Print ``summary`` as JSON (``--json``) or as the text ``human`` renders from it."""
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human(summary))


def percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_warnings(warnings: list[Mapping[str, Any]] | None) -> list[str]:
    """summary.json's ``warnings`` (a plan that drops most samples or empties a class) as
    headline lines, loud enough not to be missed."""
    return [f"WARNING: {w['message']}" for w in warnings or []]


def render_held_back(summary: Mapping[str, Any], *, opt_in: str = "--train-on-review") -> list[str]:
    """The headline line saying whether the samples proposed for review are trained on: held
    back (weight 0, the default) or kept by the explicit option ``opt_in``."""
    held = summary.get("held_back_for_review") or 0
    proposed = (summary.get("actions") or {}).get("review", 0)
    if held:
        return [
            f"{held:,} samples held back for review: weight 0 in manifest.parquet until a person decides "
            f"(report.html, `curate apply`); {opt_in} trains on them"
        ]
    if proposed and summary.get("held_back_for_review") == 0:
        return [f"{proposed:,} samples proposed for review are trained on ({opt_in})"]
    return []


def render_review(review: Mapping[str, Any] | None) -> list[str]:
    """summary.json's ``review`` as headline lines: how far people reviewed the proposals, and
    the decisions whose samples are gone (never dropped without a word)."""
    if not review or not (review["proposals"] or review["decisions"] or review["missing"]):
        return []
    lines = [
        f"review: {review['reviewed']} of {review['proposals']} proposals decided "
        f"({review['accepted']} accepted, {review['overruled']} overruled), {review['unreviewed']} unreviewed"
    ]
    if review["missing"]:
        shown = ", ".join(m["sample_id"] for m in review["missing_examples"][:3])
        lines.append(f"{review['missing']} recorded decisions are for samples no longer in the data (e.g. {shown})")
    return lines
