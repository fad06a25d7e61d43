import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from curate.embed.reader import ImageDataset, collate, make_loader, readable_rows, shard_batches
from curate.embed.writer import ShardWriter


def test_shard_batches_never_straddle_a_shard():
    assert shard_batches([range(5), range(5, 10), range(10, 12)], 3) == [
        [0, 1, 2],
        [3, 4],
        [5, 6, 7],
        [8, 9],
        [10, 11],
    ]
    assert shard_batches([range(8, 12)], 64) == [[8, 9, 10, 11]]  # resuming at shard 2
    assert shard_batches([[0, 2, 3], [5]], 2) == [[0, 2], [3], [5]]  # reused rows left out
    assert shard_batches([], 4) == []


def test_dataset_decodes_and_reports_failures(image_workspace):
    rows = readable_rows(pq.read_table(image_workspace.path("samples")))
    assert len(rows) == 13  # the unreadable row is not read again
    preprocess = lambda im: torch.from_numpy(np.asarray(im.resize((8, 8)), dtype=np.float32))  # noqa: E731
    dataset = ImageDataset(rows, preprocess, image_size=(8, 8))
    batches = list(make_loader(dataset, shard_batches([range(13)], 5), workers=2, pin_memory=False))
    assert [len(b.indices) + len(b.failed) for b in batches] == [5, 5, 3]
    failed = [f for b in batches for f in b.failed]
    assert [rows.sample_id(i) for i, _ in failed] == ["img_05_corrupt.jpg"]
    assert "corrupt or truncated" in failed[0][1]
    assert batches[1].images.shape == (4, 8, 8, 3) and batches[0].decode_seconds > 0
    assert torch.cat([b.indices for b in batches]).tolist() == [i for i in range(13) if i != 6]


def test_missing_file_and_broken_preprocess_are_failures(image_workspace, tmp_path):
    rows = readable_rows(pq.read_table(image_workspace.path("samples")))
    rows.paths = pa.array([str(tmp_path / "gone.jpg")] + rows.paths.to_pylist()[1:])

    def preprocess(image):
        raise ValueError("boom")

    dataset = ImageDataset(rows, preprocess, image_size=None)
    batch = collate([dataset[0], dataset[1]])
    assert batch.images is None and len(batch.indices) == 0
    assert batch.failed[0][1].startswith("cannot read") and "boom" in batch.failed[1][1]


def test_writer_refuses_batches_out_of_shard_order(image_workspace, tmp_path):
    rows = readable_rows(pq.read_table(image_workspace.path("samples")))
    writer = ShardWriter(tmp_path, rows, shard_size=4, dim=2)
    writer.add([0, 1], np.ones((2, 2), np.float16), [])
    with pytest.raises(RuntimeError, match="before shard 0"):
        writer.add([4], np.ones((1, 2), np.float16), [])
    writer.add([2], np.ones((1, 2), np.float16), [(3, "bad")])
    assert writer.shards_written == 1 and writer.failures == {rows.sample_id(3): "bad"}
