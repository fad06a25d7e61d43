import json

from click.testing import CliRunner

from curate.cli import main


def test_report_prints_the_path(report_image_ws):
    result = CliRunner().invoke(main, ["report", str(report_image_ws.root), "--max-thumbnails", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(report_image_ws.path("report"))
    assert report_image_ws.path("report").exists()


def test_report_json_output_and_custom_path(report_image_ws, tmp_path):
    out = tmp_path / "elsewhere" / "r.html"
    result = CliRunner().invoke(
        main, ["report", str(report_image_ws.root), "-o", str(out), "--json", "--max-label-issues", "0.2"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["report"] == str(out) and out.exists() and summary["bytes"] == out.stat().st_size


def test_report_refuses_to_replace_a_different_report_without_overwrite(report_image_ws):
    ws = str(report_image_ws.root)
    runner = CliRunner()
    assert runner.invoke(main, ["report", ws]).exit_code == 0
    stale = runner.invoke(main, ["report", ws, "--max-duplicates", "0.5"])
    assert stale.exit_code == 1
    assert stale.stderr.startswith("Error:") and "--overwrite" in stale.stderr and len(stale.stderr.splitlines()) == 1
    assert runner.invoke(main, ["report", ws, "--max-duplicates", "0.5", "--overwrite"]).exit_code == 0


def test_report_usage_and_data_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and missing.stderr.startswith("Error:")
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(main, ["report", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "curate index" in empty.stderr and len(empty.stderr.splitlines()) == 1
    bad = runner.invoke(main, ["report", str(tmp_path / "empty"), "--max-label-issues", "2"])
    assert bad.exit_code == 2
