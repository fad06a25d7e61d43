"""`curate select` and `curate scan --select-budget` on the command line."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.export.stage import run_export
from curate.plan.stage import run_propose


def test_cli_select_says_what_it_chose(scored_workspace):
    run_propose(scored_workspace)
    run_export(scored_workspace)
    res = CliRunner().invoke(main, ["select", str(scored_workspace.root), "--budget", "0.2", "--seed", "4"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("selected 600 of 3,000 samples (default, seed 4); left out: ")
    assert lines[1].startswith("per class (before -> after): ") and lines[-1] == "refreshed: propose, export"
    res = CliRunner().invoke(main, ["select", str(scored_workspace.root), "--budget", "150", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["selection"]["num_selected"] == 150


@pytest.mark.parametrize(
    "budget, message",
    [
        ("0", "at least 1"),
        ("-3", "at least 1"),
        ("0.0", "(0, 1]"),
        ("1.5", "(0, 1]"),
        ("3001", "more than the 3,000"),
        ("lots", "neither a fraction"),
    ],
)
def test_cli_select_bad_budget_is_one_line_exit_2(scored_workspace, budget, message):
    run_propose(scored_workspace)
    res = CliRunner().invoke(main, ["select", str(scored_workspace.root), "--budget", budget])
    assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_cli_select_without_a_workspace_or_a_plan(scored_workspace, tmp_path):
    res = CliRunner().invoke(main, ["select", str(tmp_path / "nowhere"), "--budget", "0.5"])
    assert res.exit_code == 2 and "does not exist" in res.stderr and res.stderr.count("\n") == 1
    res = CliRunner().invoke(main, ["select", str(scored_workspace.root), "--budget", "0.5"])
    assert res.exit_code == 1 and "curate propose" in res.stderr and res.stderr.count("\n") == 1
    res = CliRunner().invoke(main, ["select", str(scored_workspace.root)])
    assert res.exit_code == 2 and "--budget" in res.stderr


def test_scan_select_budget(tmp_path, synthetic_small):
    np.save(tmp_path / "e.npy", synthetic_small.embeddings[:600].astype(np.float32))
    np.save(tmp_path / "l.npy", synthetic_small.labels[:600])
    ws = tmp_path / "ws"
    args = ["scan", "--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"), "-o", str(ws)]
    res = CliRunner().invoke(main, [*args, "--select-budget", "0.5", "--select-strategy", "balanced"])
    assert res.exit_code == 0, res.output
    assert "selected 300 of 600 samples (balanced, seed 0)" in res.stdout
    manifest = pq.read_table(ws / "manifest.parquet", columns=["selected", "weight"]).to_pydict()
    assert sum(manifest["selected"]) == 300
    assert json.loads((ws / "summary.json").read_text())["selection"]["count"] == 300
    res = CliRunner().invoke(main, [*args, "--select-strategy", "typical"])
    assert res.exit_code == 2 and "--select-budget" in res.stderr
