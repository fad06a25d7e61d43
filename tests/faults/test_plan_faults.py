"""A plan that drops most samples, or empties a class, says so loudly: in the run / scan
headline, in summary.json's ``warnings`` and atop the report (item 7)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from curate.cli import main
from curate.config import DROP_WARNING_FRACTION
from tests.fixtures.recipes import write_recipe

#: negatives -> propose -> export -> report on imported arrays
RECIPE = """
[recipe]
name = "harsh"
stages = ["negatives", "propose", "export", "report"]
"""


def run(tmp_path, ws, emb, labels, *sets: str):
    recipe = str(write_recipe(tmp_path, RECIPE))
    args = ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), "--labels", str(labels), "-q"]
    for s in sets:
        args += ["--set", s]
    return CliRunner().invoke(main, args)


def test_a_plan_that_trains_on_nothing_says_so_everywhere(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    res = run(tmp_path, ws, emb, labels, 'export.include=["relabel"]')
    assert res.exit_code == 0, res.output
    summary = json.loads(ws.path("summary").read_text())
    readable = summary["num_readable"]
    kept = summary["num_training_samples"]
    most = [w for w in summary["warnings"] if w["kind"] == "most_dropped"]
    assert most == [
        {
            "kind": "most_dropped",
            "dropped": readable - kept,
            "readable": readable,
            "fraction": (readable - kept) / readable,
            "limit": DROP_WARNING_FRACTION,
            "message": most[0]["message"],
        }
    ]
    emptied = {w["class_name"] for w in summary["warnings"] if w["kind"] == "class_emptied"}
    weighted = {c for c, n in summary["class_counts"].items() if n > 0}
    assert emptied and emptied <= weighted
    lines = res.stdout.splitlines()
    assert (
        f"WARNING: the plan leaves {readable - kept:,} of {readable:,} readable samples out of training"
        in "\n".join(lines)
    )
    assert sum(line.startswith("WARNING: class ") for line in lines) == len(emptied)
    assert lines[-1].startswith("recipe harsh: 5 steps"), res.stdout
    html = ws.path("report").read_text()
    assert 'class="alert plan-warning"' in html and f"{readable - kept:,} of {readable:,} readable samples" in html


def test_a_gentle_plan_warns_of_nothing(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    res = run(tmp_path, ws, emb, labels)
    assert res.exit_code == 0, res.output
    assert json.loads(ws.path("summary").read_text())["warnings"] == []
    assert "WARNING" not in res.stdout and "plan-warning" not in ws.path("report").read_text()


def test_scan_headline_carries_the_warnings():
    from curate.cli.commands.scan import render_summary

    summary = {
        "num_samples": 4,
        "num_classes": 2,
        "warnings": [{"kind": "class_emptied", "class_name": "a", "samples": 2, "message": "class 'a' had 2"}],
    }
    assert "WARNING: class 'a' had 2" in render_summary(summary).splitlines()
