import json

from click.testing import CliRunner

from curate.cli import main


def test_cli_propose(scored_workspace, tmp_path):
    runner = CliRunner()
    ws = str(scored_workspace.root)
    res = runner.invoke(main, ["propose", ws, "--strategy", "sqrt", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert sum(summary["actions"].values()) == 3000 and summary["actions"]["relabel"] > 0
    res = runner.invoke(main, ["propose", ws, "--strategy", "sqrt"])
    assert res.exit_code == 0 and "up to date" in res.stdout
    res = runner.invoke(main, ["propose", ws, "--strategy", "inverse"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr
    res = runner.invoke(main, ["propose", ws, "--strategy", "cap", "--overwrite"])
    assert res.exit_code == 2 and "needs --cap" in res.stderr
    res = runner.invoke(main, ["propose", ws, "--strategy", "cap", "--cap", "200", "--overwrite"])
    assert res.exit_code == 0 and "plan:" in res.stdout and "drop" in res.stdout
    res = runner.invoke(main, ["propose", ws, "--strategy", "wrong"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["propose", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
