"""`curate index`: exit codes, one-line errors, human and JSON summaries."""

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_index_digits_human_summary(runner, digits_folder, tmp_path):
    ws = tmp_path / "ws"
    result = runner.invoke(main, ["index", str(digits_folder.root), "-o", str(ws), "--workers", "0", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("304 samples (301 readable) in 10 classes [folder]")
    assert "3 unreadable:" in result.stdout
    assert "  seven/empty.jpg: empty file (0 bytes)" in result.stdout
    assert result.stderr == ""
    assert (ws / "samples.parquet").exists()
    again = runner.invoke(main, ["index", str(digits_folder.root), "-o", str(ws), "--workers", "0"])
    assert again.exit_code == 0 and "up to date" in again.stdout


def test_index_json(runner, digits_split_folder, tmp_path):
    result = runner.invoke(
        main, ["index", str(digits_split_folder.root), "-o", str(tmp_path / "ws"), "--workers", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["num_samples"] == 72 and summary["splits"] == {"train": 51, "val": 21}
    assert summary["unreadable"] == [] and summary["format"] == "folder"


def test_manifest_options(runner, digits_folder, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"file,cls\n{digits_folder.root / 'zero' / '000.png'},zero\n")
    result = runner.invoke(
        main,
        [
            "index",
            str(manifest),
            "-o",
            str(tmp_path / "ws"),
            "--format",
            "manifest",
            "--path-column",
            "file",
            "--label-column",
            "cls",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_classes"] == 1


def one_line_error(result, code, text):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_path_exits_2(runner, tmp_path):
    result = runner.invoke(main, ["index", str(tmp_path / "nope"), "-o", str(tmp_path / "ws")])
    one_line_error(result, 2, "does not exist")


def test_empty_folder_exits_1(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, ["index", str(tmp_path / "empty"), "-o", str(tmp_path / "ws")])
    one_line_error(result, 1, "no images found in")
    assert not (tmp_path / "ws" / "samples.parquet").exists()


def test_missing_column_exits_1(runner, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,label\na.png,x\n")
    result = runner.invoke(main, ["index", str(manifest), "-o", str(tmp_path / "ws")])
    one_line_error(result, 1, "no path column 'path' (columns: filename, label)")


def test_stale_exits_1_and_overwrite_replaces(runner, digits_split_folder, digits_folder, tmp_path):
    ws = str(tmp_path / "ws")
    assert runner.invoke(main, ["index", str(digits_split_folder.root), "-o", ws, "--workers", "0"]).exit_code == 0
    stale = runner.invoke(main, ["index", str(digits_folder.root), "-o", ws, "--workers", "0", "-q"])
    one_line_error(stale, 1, "--overwrite")
    replaced = runner.invoke(
        main, ["index", str(digits_folder.root), "-o", ws, "--workers", "0", "--overwrite", "--json"]
    )
    assert replaced.exit_code == 0 and json.loads(replaced.stdout)["num_samples"] == 304


def test_bad_option_values_exit_2(runner, digits_folder, tmp_path):
    base = ["index", str(digits_folder.root), "-o", str(tmp_path)]
    assert runner.invoke(main, [*base, "--format", "zip"]).exit_code == 2
    assert runner.invoke(main, [*base, "--workers", "-1"]).exit_code == 2


def test_real_process_with_worker_pool(digits_folder, tmp_path):
    """`python -m curate` with a process pool: workers must not re-run the command line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "curate",
            "index",
            str(digits_folder.root),
            "-o",
            str(tmp_path / "ws"),
            "--workers",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["num_samples"], summary["num_readable"]) == (304, 301)


def test_stdin_paths_one_per_line(runner, digits_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(digits_folder.root)  # relative paths, as `find . -name '*.png'` prints them
    lines = "".join(f"./{c}/{i:03d}.png\n" for c in ("zero", "one") for i in range(3))
    result = runner.invoke(
        main, ["index", "-", "-o", str(tmp_path / "ws"), "--workers", "0", "--json"], input=lines + "\n"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["format"] == "manifest" and summary["num_readable"] == 6 and summary["num_classes"] == 2
    assert "standard input read as one path per line" in result.stderr
    labels = set(pq.read_table(tmp_path / "ws" / "samples.parquet", columns=["label"]).column(0).to_pylist())
    assert labels == {"zero", "one"}


def test_stdin_jsonl_and_csv_manifests(runner, digits_folder, tmp_path):
    zero = digits_folder.root / "zero" / "000.png"
    jsonl = json.dumps({"path": str(zero), "label": "nought"}) + "\n"
    result = runner.invoke(main, ["index", "-", "-o", str(tmp_path / "a"), "--json", "-q"], input=jsonl)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_classes"] == 1
    csv_text = f"id,path,label\nx,{zero},nought\ny,{digits_folder.root / 'one' / '000.png'},one\n"
    result = runner.invoke(
        main, ["index", "-", "-o", str(tmp_path / "b"), "--json", "-q", "--exclude", "*/one/*"], input=csv_text
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["num_samples"] == 1 and summary["num_skipped_files"] == 1


def test_stdin_errors_are_one_line(runner, tmp_path):
    empty = runner.invoke(main, ["index", "-", "-o", str(tmp_path / "ws"), "-q"], input="")
    assert empty.exit_code == 1 and empty.stderr == "Error: no images found in standard input\n"
    wrong = runner.invoke(main, ["index", "-", "-o", str(tmp_path / "ws"), "--format", "folder"], input="a.png\n")
    assert wrong.exit_code == 2 and wrong.stderr.count("\n") == 1 and "standard input" in wrong.stderr
    assert not (tmp_path / "ws").exists()


def test_headline_counts_skipped_files(runner, digits_folder, tmp_path):
    result = runner.invoke(main, ["index", str(digits_folder.root), "-o", str(tmp_path / "ws"), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "1 file skipped: 1 .txt (not an image) (all in --json)" in result.stdout


def test_a_manifest_whose_relative_paths_all_miss_says_where_it_looked(runner, digits_folder, tmp_path):
    """Relative paths resolve against the manifest's folder, not the current one: say so."""
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "m.csv"
    manifest.write_text("path,label\n" + "".join(f"zero/00{i}.png,zero\n" for i in range(3)))
    result = runner.invoke(main, ["index", str(manifest), "-o", str(tmp_path / "ws"), "-q"])
    assert result.exit_code == 0, result.output
    looked = tmp_path / "lists" / "zero" / "000.png"
    assert f"zero/000.png: file not found (looked for {looked})" in result.stdout
    assert "relative paths resolve against the manifest's folder" in result.stdout
