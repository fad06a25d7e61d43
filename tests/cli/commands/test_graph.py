import json

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.data import load_embedded
from curate.embed.importer import import_arrays
from curate.errors import StaleWorkspaceError
from curate.graph.stage import load_neighbors


def test_cli_neighbors_text_and_json(synthetic_workspace):
    runner = CliRunner()
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "exact"])
    assert res.exit_code == 0, res.output
    assert "k=4" in res.output and "exact" in res.output
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "exact", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["skipped"] is True


def test_cli_missing_workspace_is_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["neighbors", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("Error:") and len(res.output.strip().splitlines()) == 1


def test_cli_workspace_without_embeddings(tmp_path):
    (tmp_path / "ws").mkdir()
    res = CliRunner().invoke(main, ["neighbors", str(tmp_path / "ws")])
    assert res.exit_code == 1
    assert "curate index" in res.output or "curate embed" in res.output


def test_cli_rebuilt_embeddings_are_recomputed(synthetic_workspace, synthetic_small):
    """Stale neighbours are never read; re-running neighbors rebuilds them without --overwrite
    (only its input changed), while other parameters still need it."""
    runner = CliRunner()
    assert runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "3"]).exit_code == 0
    import_arrays(
        synthetic_workspace,
        synthetic_small.embeddings[:500],
        synthetic_small.labels[:500],
        class_names=synthetic_small.class_names,
        overwrite=True,
    )
    data = load_embedded(synthetic_workspace)
    with pytest.raises(StaleWorkspaceError):
        load_neighbors(synthetic_workspace, data.sample_ids)
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "3"])
    assert res.exit_code == 0 and "500 samples" in res.output
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4"])
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--overwrite"])
    assert res.exit_code == 0 and "500 samples" in res.output


def test_cli_bad_k_is_usage_error(synthetic_workspace):
    res = CliRunner().invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "0"])
    assert res.exit_code == 2


def test_cli_nprobe(synthetic_workspace):
    runner = CliRunner()
    res = runner.invoke(
        main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "ivf", "--nprobe", "2"]
    )
    assert res.exit_code == 0, res.output
    assert "nprobe 2, recall@4" in res.output
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "--nprobe", "0"])
    assert res.exit_code == 2 and "--nprobe" in res.output
