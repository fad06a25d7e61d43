import json

from click.testing import CliRunner

from curate.cli import main


def test_cli_negatives(scored_workspace):
    runner = CliRunner()
    res = runner.invoke(
        main, ["negatives", str(scored_workspace.root), "--num-negatives", "3", "--batch-size", "300", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["num_batches"] == 10
    res = runner.invoke(main, ["negatives", str(scored_workspace.root), "--num-negatives", "3", "--batch-size", "300"])
    assert res.exit_code == 0 and "up to date" in res.stdout
    res = runner.invoke(main, ["negatives", str(scored_workspace.root), "--num-negatives", "4"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr
    res = runner.invoke(main, ["negatives", str(scored_workspace.root), "--num-negatives", "4", "--overwrite"])
    assert res.exit_code == 0 and "negatives:" in res.stdout


def test_cli_negatives_failures(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["negatives", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.stderr.startswith("Error:") and "does not exist" in res.stderr
    res = runner.invoke(main, ["negatives", str(tmp_path), "--num-negatives", "0"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["negatives", str(tmp_path)])
    assert res.exit_code == 1 and "neighbors.parquet is missing" in res.stderr
