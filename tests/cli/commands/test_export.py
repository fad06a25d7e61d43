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


def test_a_copied_workspace_points_at_itself(tmp_path, synthetic_small):
    """`cp -r ws ws2; curate export ws2` names ws2's manifest, summary.json names its manifest
    relative to the workspace, and ws2's report is redrawn to name ws2."""
    import shutil

    import numpy as np

    from curate.scan import run_scan
    from curate.workspace import Workspace

    np.save(tmp_path / "e.npy", synthetic_small.embeddings[:400].astype(np.float32))
    np.save(tmp_path / "l.npy", synthetic_small.labels[:400])
    run_scan(None, Workspace(tmp_path / "ws"), embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")
    shutil.copytree(tmp_path / "ws", tmp_path / "ws2")
    runner = CliRunner()
    res = runner.invoke(main, ["export", str(tmp_path / "ws2")])
    assert res.exit_code == 0, res.output
    assert f"-> {tmp_path / 'ws2' / 'manifest.parquet'}" in res.stdout
    assert json.loads((tmp_path / "ws2" / "summary.json").read_text())["manifest"] == "manifest.parquet"
    res = runner.invoke(main, ["report", str(tmp_path / "ws2"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["up_to_date"] is False, res.output
    page = (tmp_path / "ws2" / "report.html").read_text()
    assert str((tmp_path / "ws2").resolve()) in page and f"{(tmp_path / 'ws').resolve()}<" not in page
