"""`curate example NAME DIR`: writes the example dataset and says what was planted."""

import json

from click.testing import CliRunner

from curate.cli import main
from curate.examples import read_truth


def test_example_writes_the_dataset_and_refuses_a_full_folder(tmp_path):
    folder = tmp_path / "digits"
    result = CliRunner().invoke(main, ["example", "digits", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["num_images"] == 537 and written["folder"] == str(folder)
    assert read_truth(folder).outliers == written["outliers"]

    human = CliRunner().invoke(main, ["example", "digits", str(tmp_path / "again")])
    assert "25 label errors, 12 near-duplicates, 8 outliers and 6 image defects planted" in human.stdout
    assert f"curate scan {tmp_path / 'again'} -o ws" in human.stdout

    full = CliRunner().invoke(main, ["example", "digits", str(folder)])
    assert full.exit_code == 2 and full.stderr == f"Error: {folder} is not empty; give a new folder for the example\n"
    unknown = CliRunner().invoke(main, ["example", "cats", str(tmp_path / "cats")])
    assert unknown.exit_code == 2 and "'cats' is not 'digits'" in unknown.stderr
