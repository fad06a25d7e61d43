"""``curate check``: the gate data-prep jobs run on a workspace (exit 0 pass, 1 fail, 2 bad usage)."""

from __future__ import annotations

import click

from curate.cli import main
from curate.cli.options import json_option, threshold_options, workspace_arg
from curate.cli.output import emit
from curate.errors import CurateError


class ChecksFailed(CurateError):
    """At least one threshold failed (exit 1); the message names every failure."""


@main.command("check")
@workspace_arg
@threshold_options(with_defaults=False)
@click.option(
    "--no-leakage", is_flag=True, help="Fail when any duplicate group spans more than one split (--max-leaks 0)."
)
@json_option
def check_command(workspace, no_leakage, as_json, **limits):
    """Gate on WORKSPACE/summary.json: exit 0 when every threshold passes, 1 when any fails, 2 on bad usage.

    Every check is listed on stdout (PASS/FAIL with value vs limit); when any fails, one line on
    stderr names every failed threshold. A number the workspace has not measured fails its check.
    """
    from curate.check import check_workspace
    from curate.workspace import Workspace

    results = check_workspace(Workspace(workspace), no_leakage=no_leakage, **limits)
    failed = [r for r in results if not r.passed]
    emit(
        {"passed": not failed, "checks": [r.to_dict() for r in results]},
        as_json=as_json,
        human=lambda out: "\n".join(f"{'PASS' if c['passed'] else 'FAIL'}  {c['message']}" for c in out["checks"]),
    )
    if failed:
        raise ChecksFailed(f"{len(failed)} of {len(results)} checks failed: " + "; ".join(r.message for r in failed))
