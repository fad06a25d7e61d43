"""Data a stage or a reader cannot use is one clear error naming what is wrong (items 8, 10)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import DataError
from curate.export.stage import run_export
from curate.torch import ManifestDataset


def test_a_manifest_of_embeddings_is_refused_by_the_image_dataset(arrays_and_workspace):
    """Item 8: rows with an empty path (an embeddings import) are one clear DataError at
    construction, not FileNotFoundError('') from the first batch."""
    _, _, ws = arrays_and_workspace
    run_export(ws)
    with pytest.raises(DataError, match=r"has no image paths: it was built from --embeddings"):
        ManifestDataset(ws.path("manifest"))


def _bad_embeddings(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(12, 8)).astype(np.float32), np.arange(12) % 3
    if kind == "nan":
        emb[[4, 9], 2] = np.nan
    elif kind == "inf":
        emb[7, 0] = -np.inf
    elif kind == "zero":
        emb[[3, 5, 11]] = 0.0
    elif kind == "many-nan":
        emb[1:9, 5] = np.nan
    elif kind == "short-labels":
        labels = labels[:10]
    return emb, labels


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "Error: embeddings have NaN or infinite values in 2 rows (rows 4, 9)"),
        ("inf", "Error: embeddings have NaN or infinite values in 1 row (row 7)"),
        ("many-nan", "Error: embeddings have NaN or infinite values in 8 rows (rows 1, 2, 3, 4, 5, ...)"),
        ("zero", "Error: embeddings have an all-zero vector (no direction to normalise) in 3 rows (rows 3, 5, 11)"),
        ("short-labels", "Error: labels have 10 rows but embeddings have 12"),
    ],
)
@pytest.mark.parametrize("command", ["scan", "run"])
def test_unusable_embeddings_are_named_in_one_line(tmp_path, kind, message, command):
    """Item 10: NaN / inf / zero-norm rows and a label count that does not match are named (rows,
    count) in one stderr line, exit 1, and nothing is written."""
    emb, labels = _bad_embeddings(kind)
    np.save(tmp_path / "e.npy", emb)
    np.save(tmp_path / "l.npy", labels)
    head = ["scan"] if command == "scan" else ["run", "audit"]
    ws = tmp_path / "ws"
    args = [*head, "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "-o", ws, "-q"]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    assert res.stderr.splitlines() == [message]
    assert not (ws / "samples.parquet").exists()
