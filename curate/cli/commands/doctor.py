"""``curate doctor``: one screen on what this machine can do."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from curate.cli import main
from curate.cli.options import json_option, model_source_options
from curate.cli.output import emit


def render_findings(s: Mapping[str, Any]) -> str:
    """One line per finding (ok / FAIL for essentials / warn), each missing piece's fix below it."""
    lines = []
    width = max(len(f["name"]) for f in s["findings"])
    for f in s["findings"]:
        status = "ok" if f["ok"] else "FAIL" if f["essential"] else "warn"
        lines.append(f"{status:<4}  {f['name']:<{width}}  {f['detail']}")
        if f["fix"]:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {f['fix']}")
    lines.append("ready: the essentials are here" if s["ok"] else "not ready: fix the FAIL lines above (exit 1)")
    return "\n".join(lines)


@main.command()
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Also report the free disk space where this workspace is (or would be) written.",
)
@model_source_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds to wait for the weight download host before calling it unreachable [default: 2.5].",
)
@json_option
def doctor(workspace, model, pretrained, timeout, as_json):
    """Say what this machine can do: Python, torch and its CUDA / MPS devices, whether the model
    weights are in the local cache or can be downloaded, optional extras, free disk. Each missing
    piece comes with the command that fixes it.

    Exits 0 when the essentials (Python, dependencies, torch, weights) are there, 1 otherwise.
    """
    from curate.doctor import diagnose

    kwargs = {} if timeout is None else {"timeout": timeout}
    summary = diagnose(workspace, model=model, pretrained=pretrained or None, **kwargs)
    emit(summary, as_json=as_json, human=render_findings)
    if not summary["ok"]:
        sys.exit(1)
