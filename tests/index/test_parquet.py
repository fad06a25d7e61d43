"""Parquet files holding image bytes, laid out as Hugging Face ``datasets`` writes them."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.data import class_names_of
from curate.errors import DataError
from curate.index.images import read_bytes
from curate.index.stage import run_index
from curate.workspace import Workspace

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def hf_table(digits_folder, names, labels, *, class_label=True, broken=()):
    """A table like ``datasets.Dataset.to_parquet`` writes: Image struct + ClassLabel ints."""
    images = []
    for i, label in enumerate(labels):
        if i in broken:
            images.append({"bytes": b"not an image", "path": None})
            continue
        word = names[label] if label >= 0 else "four"
        src = digits_folder.root / word / f"{i:03d}.png"
        images.append({"bytes": src.read_bytes(), "path": src.name})
    table = pa.table({"image": pa.array(images, type=IMAGE), "label": pa.array(labels, pa.int64())})
    if class_label:
        features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    return table


def test_hf_parquet_with_class_label_names(digits_folder, tmp_path):
    names = ["zero", "one", "two"]
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(hf_table(digits_folder, names, [0, 1, 2, 1, -1, 0], broken={5}), path)
    ws = Workspace(tmp_path / "ws")
    summary = run_index(path, ws, workers=0)
    assert summary["format"] == "parquet"
    rows = pq.read_table(ws.path("samples")).to_pylist()
    by_id = {r["sample_id"]: r for r in rows}
    assert set(by_id) == {f"train-00000-of-00001.parquet:{i}" for i in range(6)}
    labels = [by_id[f"train-00000-of-00001.parquet:{i}"]["label"] for i in range(6)]
    assert labels == ["zero", "one", "two", "one", None, "zero"]
    first = by_id["train-00000-of-00001.parquet:0"]
    assert first["member"] == "row:0" and first["path"] == str(path) and first["source"] == "parquet"
    assert first["split"] == "train" and (first["width"], first["height"]) == (32, 32)
    assert first["hash"] and first["size_bytes"] == (digits_folder.root / "zero" / "000.png").stat().st_size
    assert "not an image" in by_id["train-00000-of-00001.parquet:5"]["error"]
    assert summary["num_readable"] == 5 and summary["num_unlabelled"] == 1
    assert class_names_of(ws.path("samples")) == ["one", "two", "zero"]
    # the bytes the index validated are the ones embed will read back
    original = (digits_folder.root / "zero" / "000.png").read_bytes()
    assert read_bytes(first["path"], first["member"], "parquet") == original


def test_int_labels_without_metadata_and_a_folder_of_files(digits_folder, tmp_path):
    data = tmp_path / "hf"
    (data / "data").mkdir(parents=True)
    table = hf_table(digits_folder, ["zero", "one"], [0, 1, 0], class_label=False)
    pq.write_table(table, data / "data" / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(0, 2), data / "data" / "test-00000-of-00001.parquet")
    ws = Workspace(tmp_path / "ws")
    summary = run_index(data, ws, workers=0)  # auto: a folder of parquet files
    assert summary["format"] == "parquet" and summary["splits"] == {"test": 2, "train": 3}
    rows = {r["sample_id"]: r for r in pq.read_table(ws.path("samples")).to_pylist()}
    assert rows["data/train-00000-of-00002.parquet:2"]["label"] == "0"
    assert rows["data/test-00000-of-00001.parquet:1"]["split"] == "test"
    assert class_names_of(ws.path("samples")) == ["0", "1"]


def test_binary_column_string_labels_and_null_rows(digits_folder, tmp_path):
    png = (digits_folder.root / "nine" / "000.png").read_bytes()
    table = pa.table(
        {
            "img": pa.array([png, None, png], pa.binary()),
            "label": ["nine", "nine", None],
            "split": ["val", "val", "val"],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=2)
    summary = run_index(tmp_path / "x.parquet", Workspace(tmp_path / "ws"), image_column="img", workers=0)
    assert summary["format"] == "parquet" and summary["splits"] == {"val": 3}
    assert summary["unreadable"] == [
        {"sample_id": "x.parquet:1", "path": str(tmp_path / "x.parquet"), "reason": "no image bytes in this row"}
    ]


def test_null_struct_row(digits_folder, tmp_path):
    png = (digits_folder.root / "one" / "000.png").read_bytes()
    images = pa.array([{"bytes": png, "path": "a.png"}, None], type=IMAGE)
    pq.write_table(pa.table({"image": images}), tmp_path / "x.parquet")
    summary = run_index(tmp_path / "x.parquet", Workspace(tmp_path / "ws"), format="parquet", workers=0)
    assert summary["num_readable"] == 1 and summary["unreadable"][0]["sample_id"] == "x.parquet:1"


def test_missing_image_column_is_a_clear_error(tmp_path):
    pq.write_table(pa.table({"picture": pa.array([b"x"], pa.binary())}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"no image column 'image' \(columns: picture\)"):
        run_index(tmp_path / "x.parquet", Workspace(tmp_path / "ws"), format="parquet")


def test_parquet_of_paths_is_detected_as_a_manifest(digits_folder, tmp_path):
    pq.write_table(
        pa.table({"path": [str(digits_folder.root / "zero" / "000.png")], "label": ["zero"]}), tmp_path / "m.parquet"
    )
    summary = run_index(tmp_path / "m.parquet", Workspace(tmp_path / "ws"), workers=0)
    assert summary["format"] == "manifest" and summary["num_readable"] == 1
