import json

import pytest
from click.testing import CliRunner

from curate.cli import main


def test_cli_pass(summary_ws):
    res = CliRunner().invoke(
        main,
        ["check", str(summary_ws.root), "--max-label-issues", "0.2", "--max-imbalance-ratio", "25", "--no-leakage"],
    )
    assert res.exit_code == 0, res.output
    # in gate order: each issue type's gates (label, duplicates and leaks, outliers), then the dataset's
    assert res.stdout.splitlines() == [
        "PASS  label_issue_rate 0.12 <= 0.2",
        "PASS  leaks 0 <= 0",
        "PASS  imbalance_ratio 20 <= 25",
    ]
    assert res.stderr == ""


def test_cli_fail_names_every_threshold(summary_ws):
    res = CliRunner().invoke(
        main,
        [
            "check",
            str(summary_ws.root),
            "--max-label-issues",
            "0.05",
            "--max-duplicates",
            "0.01",
            "--max-outliers",
            "0.5",
        ],
    )
    assert res.exit_code == 1
    assert "FAIL  label_issue_rate 0.12 > 0.05" in res.stdout and "FAIL  duplicate_rate 0.02 > 0.01" in res.stdout
    assert "PASS  outlier_rate" in res.stdout
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith(
        "Error: 2 of 3 checks failed: label_issue_rate 0.12 > 0.05; duplicate_rate 0.02 > 0.01"
    )


def test_cli_json(summary_ws):
    res = CliRunner().invoke(main, ["check", str(summary_ws.root), "--max-label-issues", "0.05", "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["passed"] is False and out["checks"][0]["value"] == 0.12 and out["checks"][0]["limit"] == 0.05


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--max-label-issues", "-1"],
        ["--max-label-issues", "abc"],
        ["--max-imbalance-ratio", "0.3"],
    ],
)
def test_cli_usage_errors(summary_ws, args):
    res = CliRunner().invoke(main, ["check", str(summary_ws.root), *args])
    assert res.exit_code == 2, res.output


def test_cli_missing_workspace_and_summary(tmp_path):
    res = CliRunner().invoke(main, ["check", str(tmp_path / "nope"), "--max-label-issues", "0.1"])
    assert res.exit_code == 2 and "does not exist" in res.stderr
    res = CliRunner().invoke(main, ["check", str(tmp_path), "--max-label-issues", "0.1"])
    assert res.exit_code == 2 and "curate export" in res.stderr


def test_gate_on_real_export(scored_workspace):
    from curate.export.stage import run_export

    run_export(scored_workspace)
    res = CliRunner().invoke(
        main,
        ["check", str(scored_workspace.root), "--max-label-issues", "0.05", "--max-unreadable", "0", "--no-leakage"],
    )
    assert res.exit_code == 1
    assert "FAIL  label_issue_rate" in res.stdout and "PASS  unreadable_rate 0 <= 0" in res.stdout


def test_max_leaks_and_no_leakage_agree(summary_ws):
    runner = CliRunner()
    a = runner.invoke(main, ["check", str(summary_ws.root), "--no-leakage", "--json"])
    b = runner.invoke(main, ["check", str(summary_ws.root), "--max-leaks", "0", "--json"])
    assert a.exit_code == b.exit_code and json.loads(a.stdout) == json.loads(b.stdout)
    assert runner.invoke(main, ["check", str(summary_ws.root), "--max-leaks", "-1"]).exit_code == 2
