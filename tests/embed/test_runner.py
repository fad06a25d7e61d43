import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.data import load_embedded
from curate.embed import store
from curate.embed.runner import run_embed
from curate.errors import DataError, StaleWorkspaceError


def embed(ws, tiny_clip_dir, **kw):
    kw.setdefault("workers", 0)
    return run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", **kw)


def test_embeds_readable_images_and_reports_failures(image_workspace, tiny_clip_dir):
    summary = embed(image_workspace, tiny_clip_dir, workers=2, batch_size=4, shard_size=5)
    assert summary["num_samples"] == 13 and summary["num_embedded"] == 12 and summary["num_failed"] == 1
    assert summary["failed"][0]["sample_id"] == "img_05_corrupt.jpg"
    assert "corrupt or truncated" in summary["failed"][0]["error"]
    assert summary["dim"] == 16 and summary["num_shards"] == 3 and summary["text_embeddings"] == 2
    assert set(summary["seconds"]) >= {"read", "decode_cpu", "encode", "write", "total"}
    assert summary["images_per_s"] > 0

    data = load_embedded(image_workspace)
    assert len(data) == 12 and "img_05_corrupt.jpg" not in set(data.sample_ids)
    assert "missing.png" not in set(data.sample_ids)
    np.testing.assert_allclose(np.linalg.norm(data.embeddings, axis=1), 1.0, atol=2e-3)
    assert data.text_embeddings.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(data.text_embeddings, axis=1), 1.0, atol=1e-5)
    assert data.class_names == ["red_square", "blue circle"]
    # shards follow samples.parquet order
    ids = pq.read_table(image_workspace.path("samples")).column("sample_id").to_pylist()
    expected = [s for s in ids if s not in ("img_05_corrupt.jpg", "missing.png")]
    assert list(data.sample_ids) == expected
