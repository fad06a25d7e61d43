"""Exit codes and options: model problems are exit 1, a wrong command line is exit 2, and an
option a command would ignore is refused (items 5 and 6)."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main


def invoke(*args):
    # -q: progress lines are stderr too; the error itself must be its one line
    return CliRunner().invoke(main, [str(a) for a in args] + ([] if "-q" in args else ["-q"]))


def one_line(result) -> str:
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    return result.stderr.strip()


@pytest.fixture
def small_manifest(tmp_path, digits_folder):
    """manifest.csv with a `file` path column and a `klass` label column: 2 classes x 8 images."""
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "klass"])
        for name in ("zero", "one"):
            for i in range(8):
                writer.writerow([digits_folder.root / name / f"{i:03d}.png", f"digit-{name}"])
    return path


@pytest.mark.parametrize(
    "model_args, message",
    [
        (["--model", "local-dir:/nowhere/model"], "folder /nowhere/model does not exist"),
        (["--model", "local-dir:{empty}"], "open_clip_config.json is missing"),
        (["--model", "local-dir:{no_weights}"], "no weights"),
        (["--model", "curate-tiny-test", "--pretrained", "/nowhere/tiny.pt"], "file does not exist"),
    ],
)
def test_item5_every_model_problem_is_exit_1(
    tmp_path, small_manifest, tiny_clip_dir, tiny_clip_checkpoint, model_args, message
):
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "open_clip_config.json").write_text(
        (tiny_clip_dir / "open_clip_config.json").read_text()
    )
    args = [a.format(empty=tmp_path / "empty", no_weights=tmp_path / "no_weights") for a in model_args]
    result = invoke("scan", small_manifest, "--path-column", "file", "-o", tmp_path / "ws", "-q", *args)
    assert result.exit_code == 1 and message in one_line(result)


def test_item6_scan_takes_the_index_column_options(tmp_path, small_manifest, tiny_clip_dir):
    ws = tmp_path / "ws"
    model = ["--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "-q"]
    result = invoke("scan", small_manifest, "-o", ws, "--path-column", "file", "--label-column", "klass", *model)
    assert result.exit_code == 0, result.output
    labels = set(pq.read_table(ws / "manifest.parquet").column("original_label").to_pylist())
    assert labels == {"digit-zero", "digit-one"}


def test_item6_options_a_command_would_ignore_are_refused(tmp_path, digits_folder):
    result = invoke("scan", digits_folder.root, "-o", tmp_path / "ws", "--path-column", "file")
    assert result.exit_code == 2
    assert one_line(result).startswith("Error: --path-column does not apply to folder data")
    result = invoke("index", digits_folder.root, "-o", tmp_path / "ws", "--label-column", "klass")
    assert result.exit_code == 2 and "--label-column does not apply to folder data" in one_line(result)

    np.save(tmp_path / "e.npy", np.eye(4, dtype=np.float32))
    embeddings = ["scan", "--embeddings", tmp_path / "e.npy", "-o", tmp_path / "ws"]
    result = invoke(*embeddings, "--path-column", "file")
    assert result.exit_code == 2 and "--embeddings replaces the index stage" in one_line(result)
    result = invoke(*embeddings, "--model", "ViT-L-14", "--batch-size", "8")
    assert result.exit_code == 2
    assert one_line(result) == "Error: --model, --batch-size configure the image model, which --embeddings replaces"
    result = invoke("scan", digits_folder.root, "-o", tmp_path / "ws", "--embedding-column", "emb")
    assert result.exit_code == 2 and "--embedding-column goes with --embeddings" in one_line(result)
