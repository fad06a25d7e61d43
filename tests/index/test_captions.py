"""Captions of image-text pairs, from every reader that has them, into samples.parquet."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate.errors import DataError
from curate.index.captions import caption_text
from curate.index.stage import run_index
from curate.workspace import Workspace


def test_webdataset_captions_from_txt_and_json(captioned_shards, tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = run_index(captioned_shards.root, ws, workers=0)
    rows = pq.read_table(ws.path("samples")).to_pylist()
    assert {r["sample_id"]: r["caption"] for r in rows} == captioned_shards.captions  # .txt and .json both
    assert all(r["label"] is None for r in rows)  # captions, no class labels
    assert summary["num_captioned"] == len(rows) and summary["num_classes"] == 0


def test_webdataset_caption_field_is_an_option(captioned_shards, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run_index(captioned_shards.root, ws, workers=0, caption_column="alt")  # no such json field
    captions = pq.read_table(ws.path("samples")).column("caption").to_pylist()
    # the first shard's .txt members still give theirs; the second shard's json has no "alt"
    assert sum(c is not None for c in captions) == len(captions) // 2


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_manifest_caption_column(tmp_path):
    (tmp_path / "a.png").write_bytes(_png())
    (tmp_path / "b.png").write_bytes(_png())
    (tmp_path / "m.csv").write_text('path,text\na.png,"a red square, small"\nb.png,\n')
    ws = Workspace(tmp_path / "ws")
    run_index(tmp_path / "m.csv", ws, workers=0, caption_column="text")
    assert pq.read_table(ws.path("samples")).column("caption").to_pylist() == ["a red square, small", None]
    with pytest.raises(DataError, match="no caption column 'words'"):
        run_index(tmp_path / "m.csv", Workspace(tmp_path / "ws2"), workers=0, caption_column="words")
    # the default column is optional: a manifest without one has no captions
    run_index(tmp_path / "m.csv", Workspace(tmp_path / "ws3"), workers=0)
    assert pq.read_table(Workspace(tmp_path / "ws3").path("samples")).column("caption").null_count == 2


def test_parquet_caption_column(tmp_path):
    table = pa.table({"image": [{"bytes": _png(), "path": None}] * 2, "caption": ["one", "  two  "]})
    pq.write_table(table, tmp_path / "train.parquet")
    ws = Workspace(tmp_path / "ws")
    run_index(tmp_path / "train.parquet", ws, workers=0)
    assert pq.read_table(ws.path("samples")).column("caption").to_pylist() == ["one", "two"]
    with pytest.raises(DataError, match="no caption column 'text'"):
        run_index(tmp_path / "train.parquet", Workspace(tmp_path / "ws2"), workers=0, caption_column="text")


def test_caption_text():
    assert caption_text("  a cat ") == "a cat"
    assert caption_text(b"a dog") == "a dog"
    assert caption_text("") is None and caption_text(None) is None and caption_text(float("nan")) is None
