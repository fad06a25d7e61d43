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


def test_decisions_about_samples_with_no_proposal_are_not_counted_as_accepted(scored_workspace, tmp_path):
    """The recorded line and the review line count the same thing: decisions about proposals."""
    import pyarrow.parquet as pq

    run_propose(scored_workspace)
    run_export(scored_workspace)
    plan = pq.read_table(scored_workspace.path("plan")).to_pydict()
    kept = [sid for sid, a in zip(plan["sample_id"], plan["proposed_action"]) if a == "keep"][:2]
    file = tmp_path / "decisions.csv"
    file.write_text("sample_id,decision,label,note\n" + "".join(f"{sid},accept,,\n" for sid in kept))
    res = CliRunner().invoke(main, ["apply", str(scored_workspace.root), str(file)])
    assert res.exit_code == 0, res.output
    recorded, review = res.stdout.splitlines()[:2]
    assert "(0 accepted, 0 overruled, 2 about samples with no proposal)" in recorded
    assert "(0 accepted, 0 overruled)" in review


def test_a_file_that_is_not_a_regular_file_is_not_called_missing(scored_workspace):
    res = CliRunner().invoke(main, ["apply", str(scored_workspace.root), "/dev/null"])
    assert res.exit_code == 2 and "does not exist" not in res.stderr
    assert "must be CSV" in res.stderr and res.stderr.count("\n") == 1
