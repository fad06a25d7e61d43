"""`curate apply` on the command line: a summary on stdout, one line per problem on stderr."""

import json

from click.testing import CliRunner

from curate.cli import main
from curate.export.stage import run_export
from curate.plan.stage import run_propose


def test_cli_apply_records_and_refreshes(scored_workspace, tmp_path):
    run_propose(scored_workspace)
    run_export(scored_workspace)
    file = tmp_path / "decisions.jsonl"
    file.write_text(
        '{"sample_id": "0", "decision": "drop", "note": "blurry"}\n{"sample_id": "1", "decision": "keep"}\n'
    )
    res = CliRunner().invoke(main, ["apply", str(scored_workspace.root), str(file)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"recorded 2 decisions from {file} (")
    assert lines[0].endswith(f"2 in {scored_workspace.path('decisions')}")
    assert lines[1].startswith("review: ") and lines[-1] == "refreshed: propose, export"
    res = CliRunner().invoke(main, ["apply", str(scored_workspace.root), str(file), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["replaced"] == 2


def test_cli_apply_bad_files(scored_workspace, tmp_path):
    run_propose(scored_workspace)
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,decision,label\n0,relabel,no-such-class\nnope,drop,\n1,drop,\n1,keep,\n")
    res = CliRunner().invoke(main, ["apply", str(scored_workspace.root), str(bad)])
    assert res.exit_code == 1 and res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[0] == f"Error: {bad}: 3 problems; no decision was recorded"
    assert lines[1].startswith(f"{bad}:2: unknown class 'no-such-class' for 0 (classes: ")
    assert lines[2:] == [
        f"{bad}:3: unknown sample_id 'nope': not in this workspace's samples",
        f"{bad}:5: conflicts with line 4 for 1: drop vs keep",
    ]
    assert not scored_workspace.path("decisions").exists()
    for args, message in [
        ([str(scored_workspace.root), str(tmp_path / "missing.csv")], "does not exist"),
        ([str(tmp_path / "no-ws"), str(bad)], "does not exist"),
    ]:
        res = CliRunner().invoke(main, ["apply", *args])
        assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1
