"""Multi-label inputs: list cells, JSON lists and delimited strings become samples.parquet's tags."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.data import class_names_of, is_multi_label
from curate.errors import UsageError
from curate.index.stage import run_index
from curate.index.tags import detect_separator, read_cells
from curate.workspace import Workspace
from tests.index.test_webdataset import jpeg, sample, write_shard


def rows_of(ws):
    return {r["sample_id"]: r for r in pq.read_table(ws.path("samples")).to_pylist()}


def test_read_cells_lists_json_and_separators():
    labels, tags, reading = read_cells([["b", "a", "a"], None, '["c"]', []])
    assert reading.multi_label and labels == [None] * 4
    assert tags == [("a", "b"), (), ("c",), ()]
    _, tags, reading = read_cells(["cat|sofa", "dog", "cat|dog", None], separator="|")
    assert tags == [("cat", "sofa"), ("dog",), ("cat", "dog"), ()] and not reading.detected
    labels, tags, reading = read_cells(["cat", "dog"])
    assert tags is None and labels == ["cat", "dog"] and not reading.multi_label
    _, tags, _ = read_cells(["cat", "dog"], multi_label=True)
    assert tags == [("cat",), ("dog",)]


def test_separator_detection_needs_most_labels():
    assert detect_separator(["a|b", "c|d", "e"]) == "|"
    assert detect_separator(["a|b", "c", "e"]) is None  # a third is not most
    assert detect_separator(["a|b;c", "c;d|e", "x"]) is None  # two separators equally common
    _, tags, reading = read_cells(["a;b", "b;c", "a"])
    assert reading.detected and reading.separator == ";" and tags[0] == ("a", "b")
    labels, tags, _ = read_cells(["a;b", "b;c"], multi_label=False)
    assert tags is None and labels == ["a;b", "b;c"]


@pytest.mark.parametrize(
    "cells, kwargs, message",
    [
        (["a|b", "c"], {"separator": " "}, "visible"),
        (["a|b", "c"], {"separator": ","}, "occurs in none"),
        ([["a"], ["b"]], {"separator": "|"}, "already lists"),
        ([["a"], ["b"]], {"multi_label": False}, "are lists"),
    ],
)
def test_bad_separator_input_is_a_usage_error(cells, kwargs, message):
    with pytest.raises(UsageError, match=message):
        read_cells(cells, **kwargs)


def test_manifest_with_delimited_and_json_labels(digits_folder, tmp_path):
    root = digits_folder.root
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label\n"
        f"{root}/zero/000.png,zero|round\n"
        f"{root}/one/000.png,one\n"
        f"{root}/two/000.png,two|round\n"
        f"{root}/two/001.png,\n"
    )
    ws = Workspace(tmp_path / "ws")
    summary = run_index(manifest, ws, label_separator="|")
    assert summary["multi_label"] and summary["num_classes"] == 4 and summary["num_unlabelled"] == 1
    rows = rows_of(ws)
    assert rows[f"{root}/zero/000.png"]["labels"] == ["round", "zero"]
    assert rows[f"{root}/two/001.png"]["labels"] == []  # no tag is valid
    assert all(r["label"] is None for r in rows.values())
    assert class_names_of(ws.path("samples")) == ["one", "round", "two", "zero"]
    assert is_multi_label(ws.path("samples"))

    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"path": f"{root}/{w}/000.png", "label": t}) for w, t in [("zero", ["a", "b"]), ("one", [])]
        )
    )
    ws2 = Workspace(tmp_path / "ws2")
    assert run_index(jsonl, ws2)["multi_label"]
    rows = rows_of(ws2)
    assert rows[f"{root}/zero/000.png"]["labels"] == ["a", "b"] and rows[f"{root}/one/000.png"]["labels"] == []


def test_parquet_list_column_and_single_label_unchanged(digits_folder, tmp_path):
    root = digits_folder.root
    table = pa.table({"path": [f"{root}/zero/000.png", f"{root}/one/000.png"], "label": [["x", "y"], ["y"]]})
    pq.write_table(table, tmp_path / "m.parquet")
    ws = Workspace(tmp_path / "ws")
    run_index(tmp_path / "m.parquet", ws)
    assert sorted(r["labels"] == ["x", "y"] for r in rows_of(ws).values()) == [False, True]
    single = tmp_path / "s.csv"
    single.write_text(f"path,label\n{root}/zero/000.png,zero\n{root}/one/000.png,one\n")
    ws3 = Workspace(tmp_path / "ws3")
    assert not run_index(single, ws3)["multi_label"]
    assert [r["labels"] for r in rows_of(ws3).values()] == [None, None]
    assert not is_multi_label(ws3.path("samples"))


def test_webdataset_json_lists(digits_folder, tmp_path):
    write_shard(
        tmp_path / "wds" / "00000.tar",
        [
            *sample("0", jpeg(digits_folder, "zero", 0), meta={"label": ["round", "zero"]}),
            *sample("1", jpeg(digits_folder, "one", 0), meta={"label": []}),
        ],
    )
    ws = Workspace(tmp_path / "ws")
    assert run_index(tmp_path / "wds", ws)["multi_label"]
    assert [r["labels"] for r in rows_of(ws).values()] == [["round", "zero"], []]


def test_folder_stays_single_label(digits_folder, tmp_path):
    with pytest.raises(UsageError, match="image folder"):
        run_index(digits_folder.root, Workspace(tmp_path / "ws"), multi_label=True)


def test_cli_labels_array_failures(tmp_path):
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
    np.save(tmp_path / "short.npy", np.zeros((5, 3), dtype=np.int8))
    np.save(tmp_path / "half.npy", np.full((6, 3), 0.5))
    (tmp_path / "bad.csv").write_text("path,label\nx.png,a|b\n")
    runner = CliRunner()
    for labels, message in (("short.npy", "has 5 rows but embeddings have 6"), ("half.npy", "only 0 and 1")):
        result = runner.invoke(
            main,
            [
                "scan",
                "--embeddings",
                str(tmp_path / "e.npy"),
                "--labels",
                str(tmp_path / labels),
                "-o",
                str(tmp_path / "ws"),
            ],
        )
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0]
    result = runner.invoke(
        main, ["index", str(tmp_path / "bad.csv"), "--label-separator", ";", "-o", str(tmp_path / "w2")]
    )
    assert result.exit_code == 2 and "occurs in none" in result.stderr
