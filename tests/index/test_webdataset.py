"""WebDataset shards as img2dataset writes them: key.jpg + key.txt + key.json (+ key.cls)."""

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate.data import class_names_of
from curate.errors import DataError
from curate.index.images import read_bytes
from curate.index.stage import run_index
from curate.workspace import Workspace


def jpeg(digits_folder, word, i):
    buf = io.BytesIO()
    Image.open(digits_folder.root / word / f"{i:03d}.png").convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_shard(path, members):
    """members: (name, bytes) in order, like img2dataset's writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def sample(key, image, *, cls=None, meta=None, caption="a digit"):
    members = [(f"{key}.jpg", image), (f"{key}.txt", caption.encode())]
    members.append((f"{key}.json", json.dumps({"key": key, "status": "success", **(meta or {})}).encode()))
    if cls is not None:
        members.append((f"{key}.cls", str(cls).encode()))
    return members


@pytest.fixture
def shards(digits_folder, tmp_path):
    """img2dataset output: 00000.tar, 00001.tar with their .parquet/_stats.json side files."""
    out = tmp_path / "wds"
    write_shard(
        out / "00000.tar",
        [
            *sample("000000000", jpeg(digits_folder, "zero", 0), cls=0),
            *sample("000000001", jpeg(digits_folder, "one", 0), cls=1),
            *sample("000000002", jpeg(digits_folder, "one", 1), meta={"label": "one"}),  # label from the json
        ],
    )
    write_shard(
        out / "00001.tar",
        [
            *sample("000010000", jpeg(digits_folder, "two", 0)),  # unlabelled
            *sample("000010001", jpeg(digits_folder, "two", 1)[:300], cls=2),  # truncated
            ("000010002.json", b"{}"),  # a failed download: metadata only, not a sample
        ],
    )
    pq.write_table(pa.table({"key": ["000000000"]}), out / "00000.parquet")
    (out / "00000_stats.json").write_text("{}")
    return out


def test_webdataset_folder(shards, tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = run_index(shards, ws, workers=0)  # auto: tars win over img2dataset's side parquet
    assert summary["format"] == "webdataset"
    rows = {r["sample_id"]: r for r in pq.read_table(ws.path("samples")).to_pylist()}
    assert list(rows) == [
        "00000.tar/000000000",
        "00000.tar/000000001",
        "00000.tar/000000002",
        "00001.tar/000010000",
        "00001.tar/000010001",
    ]
    assert [r["label"] for r in rows.values()] == ["0", "1", "one", None, "2"]
    first = rows["00000.tar/000000000"]
    assert first["member"] == "000000000.jpg" and first["path"] == str(shards / "00000.tar")
    assert first["source"] == "webdataset" and (first["width"], first["height"]) == (32, 32)
    assert "truncated" in rows["00001.tar/000010001"]["error"]
    assert summary["num_readable"] == 4 and summary["num_unlabelled"] == 1
    assert class_names_of(ws.path("samples")) == ["0", "1", "2", "one"]
    assert len(read_bytes(first["path"], first["member"], "webdataset")) == first["size_bytes"]


def test_single_shard_label_from_json_field(digits_folder, tmp_path):
    shard = tmp_path / "train" / "shard-0.tar"
    write_shard(
        shard,
        [
            *sample("a", jpeg(digits_folder, "five", 0), meta={"digit": "five"}),
            *sample("b", jpeg(digits_folder, "six", 0), meta={"digit": "six"}),
        ],
    )
    ws = Workspace(tmp_path / "ws")
    summary = run_index(tmp_path / "train", ws, label_column="digit", workers=0)
    rows = pq.read_table(ws.path("samples")).to_pylist()
    assert [(r["sample_id"], r["label"], r["split"]) for r in rows] == [
        ("shard-0.tar/a", "five", None),
        ("shard-0.tar/b", "six", None),
    ]
    summary = run_index(shard, Workspace(tmp_path / "ws2"), label_column="digit", workers=0)
    assert summary["format"] == "webdataset" and summary["num_classes"] == 2


def test_split_from_shard_folder(digits_folder, tmp_path):
    write_shard(tmp_path / "wds" / "val" / "00000.tar", sample("k", jpeg(digits_folder, "zero", 0), cls=0))
    summary = run_index(tmp_path / "wds", Workspace(tmp_path / "ws"), workers=0)
    assert summary["splits"] == {"val": 1}


def test_corrupt_tar_is_a_data_error(tmp_path):
    (tmp_path / "00000.tar").write_bytes(b"\0garbage" * 10)
    with pytest.raises(DataError, match="not a readable tar shard"):
        run_index(tmp_path / "00000.tar", Workspace(tmp_path / "ws"))
