from click.testing import CliRunner

from curate.cli import main


def test_cli(synthetic_workspace):
    runner = CliRunner()
    ws = str(synthetic_workspace.root)
    missing = runner.invoke(main, ["score", ws])
    assert missing.exit_code == 1 and "curate neighbors" in missing.stderr
    assert runner.invoke(main, ["neighbors", ws, "-q"]).exit_code == 0
    result = runner.invoke(main, ["score", ws, "--label-sources", "knn,probe", "-q"])
    assert result.exit_code == 0, result.output
    assert "label issues" in result.stdout
    bad = runner.invoke(main, ["score", ws, "--label-sources", "magic", "--overwrite"])
    assert bad.exit_code == 2 and "magic" in bad.stderr


def test_cli_failures_are_one_line_without_traceback(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["score", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and missing.stderr.startswith("Error:") and missing.stderr.count("\n") == 1
    for bad in (["--folds", "1"], ["--duplicate-radius", "1.5"], ["--outlier-z", "-1"], ["--device", "tpu"]):
        res = runner.invoke(main, ["score", str(tmp_path), *bad])
        assert res.exit_code == 2, (bad, res.output)
        assert bad[0] in res.stderr and "Traceback" not in res.stderr
