import json

from click.testing import CliRunner

from curate.cli import main


def test_cli_export(scored_workspace, tmp_path):
    runner = CliRunner()
    ws = str(scored_workspace.root)
    res = runner.invoke(main, ["export", ws])
    assert res.exit_code == 0, res.output
    assert "manifest: 3000 samples" in res.stdout and "label issues" in res.stdout
    res = runner.invoke(main, ["export", ws, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["skipped"] is True
    res = runner.invoke(main, ["export", ws, "--include", "keep"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr
    res = runner.invoke(main, ["export", ws, "--include", "nope"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["export", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_cli_export_failures_are_one_line_without_traceback(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["export", str(tmp_path / "missing")])
    assert missing.exit_code == 2 and missing.stderr.startswith("Error:") and missing.stderr.count("\n") == 1
    empty = runner.invoke(main, ["export", str(tmp_path)])
    assert empty.exit_code == 1 and "curate index" in empty.stderr and empty.stderr.count("\n") == 1
    res = runner.invoke(main, ["export", str(tmp_path), "--include", "nope"])
    assert res.exit_code == 2 and "--include" in res.stderr and "Traceback" not in res.stderr
