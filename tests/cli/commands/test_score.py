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
