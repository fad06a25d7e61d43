"""Renamed options (docs/architecture.md, "Option conventions"): the new spelling, and the old
one kept working as a hidden alias."""

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main


@pytest.fixture
def calls(monkeypatch):
    """Replace run_negatives / run_report with recorders: these tests are about parsing."""
    seen = {}

    def record(name):
        def stage(ws, **kwargs):
            seen[name] = kwargs
            return {"stage": name}

        return stage

    monkeypatch.setattr("curate.negatives.stage.run_negatives", record("negatives"))
    monkeypatch.setattr("curate.report.stage.run_report", record("report"))
    return seen


@pytest.mark.parametrize("flag", ["--contrastive-batch-size", "--batch-size"])
def test_negatives_contrastive_batch_size_and_its_old_name(tmp_path, calls, flag):
    res = CliRunner().invoke(main, ["negatives", str(tmp_path), flag, "64", "--json"])
    assert res.exit_code == 0, res.output
    assert calls["negatives"]["batch_size"] == 64
    assert res.stderr == ""  # the old name works silently


def test_negatives_default_and_help(tmp_path, calls):
    assert CliRunner().invoke(main, ["negatives", str(tmp_path), "--json"]).exit_code == 0
    assert calls["negatives"]["batch_size"] == 256
    help_text = CliRunner().invoke(main, ["negatives", "--help"]).stdout
    assert "--contrastive-batch-size" in help_text and "  --batch-size" not in help_text


def test_old_name_is_still_validated_and_both_names_are_refused(tmp_path, calls):
    res = CliRunner().invoke(main, ["negatives", str(tmp_path), "--batch-size", "1"])
    assert res.exit_code == 2 and "x>=2" in res.stderr
    for order in (
        ["--batch-size", "8", "--contrastive-batch-size", "16"],
        ["--contrastive-batch-size", "16", "--batch-size", "8"],
    ):
        res = CliRunner().invoke(main, ["negatives", str(tmp_path), *order])
        assert res.exit_code == 2 and "give only --contrastive-batch-size" in res.stderr
    assert "negatives" not in calls


@pytest.mark.parametrize("flag", ["--html", "-o", "--output"])
def test_report_html_and_its_old_names(tmp_path, calls, flag):
    page = str(tmp_path / "page.html")
    res = CliRunner().invoke(main, ["report", str(tmp_path), flag, page, "--json"])
    assert res.exit_code == 0, res.output
    assert calls["report"]["output"] == page


def test_report_html_defaults_to_the_workspace_and_hides_old_names(tmp_path, calls):
    assert CliRunner().invoke(main, ["report", str(tmp_path), "--json"]).exit_code == 0
    assert calls["report"]["output"] is None
    help_text = CliRunner().invoke(main, ["report", "--help"]).stdout
    assert "--html" in help_text and "--output" not in help_text and "-o," not in help_text


@pytest.mark.parametrize("flag", ["--issues-file", "-o", "--output"])
def test_noise_issues_file_and_its_old_names(tmp_path, flag):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "L.npy", rng.integers(0, 3, 60))
    np.save(tmp_path / "P.npy", rng.dirichlet(np.ones(3), 60))
    out = tmp_path / "issues.parquet"
    res = CliRunner().invoke(
        main, ["noise", "--labels", str(tmp_path / "L.npy"), "--pred-probs", str(tmp_path / "P.npy"), flag, str(out)]
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows == 60


def test_noise_issues_file_is_required(tmp_path):
    res = CliRunner().invoke(main, ["noise", "--labels", "L.npy", "--pred-probs", "P.npy"])
    assert res.exit_code == 2 and "Missing option '--issues-file'" in res.stderr
