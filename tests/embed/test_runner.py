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


def _embedding_bytes(ws):
    folder = ws.path("embeddings")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "_meta.json"}


def test_interrupted_run_resumes_to_identical_bytes(tmp_path, image_workspace, tiny_clip_dir, monkeypatch):
    embed(image_workspace, tiny_clip_dir, batch_size=2, shard_size=4)
    reference = _embedding_bytes(image_workspace)
    assert sum(name.endswith(".parquet") and name.startswith("part-") for name in reference) == 4

    # Same data, fresh folder; the writer dies after two shards (as a kill would).
    image_workspace_2 = type(image_workspace)(tmp_path / "ws2")
    image_workspace_2.root.mkdir()
    (image_workspace_2.root / "samples.parquet").write_bytes(image_workspace.path("samples").read_bytes())
    real_write_shard = store.write_shard
    written = []

    def dying_write_shard(*args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt
        real_write_shard(*args, **kwargs)
        written.append(args[1])

    monkeypatch.setattr(store, "write_shard", dying_write_shard)
    with pytest.raises(KeyboardInterrupt):
        embed(image_workspace_2, tiny_clip_dir, batch_size=2, shard_size=4)
    folder = image_workspace_2.path("embeddings")
    assert not store.is_complete(folder) and written == [0, 1]
    monkeypatch.setattr(store, "write_shard", real_write_shard)

    summary = embed(image_workspace_2, tiny_clip_dir, batch_size=2, shard_size=4)
    assert summary["shards_resumed"] == 2 and summary["images_embedded_now"] == 13 - 8
    assert summary["num_failed"] == 1  # the failure recorded before the interruption is still reported
    assert _embedding_bytes(image_workspace_2) == reference


def test_up_to_date_is_skipped_and_other_params_are_refused(image_workspace, tiny_clip_dir, tiny_clip_checkpoint):
    first = embed(image_workspace, tiny_clip_dir)
    before = _embedding_bytes(image_workspace)
    again = embed(image_workspace, tiny_clip_dir, batch_size=3, workers=1)  # speed knobs: same meaning
    assert again["skipped"] and again["num_embedded"] == first["num_embedded"] and again["num_failed"] == 1
    assert _embedding_bytes(image_workspace) == before

    name, ckpt = tiny_clip_checkpoint
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        run_embed(image_workspace, model=name, pretrained=str(ckpt), device="cpu", workers=0)
    assert _embedding_bytes(image_workspace) == before  # refused means untouched
    other = run_embed(image_workspace, model=name, pretrained=str(ckpt), device="cpu", workers=0, overwrite=True)
    assert not other["skipped"] and other["num_embedded"] == 12
    assert _embedding_bytes(image_workspace) != before


def test_workers_do_not_change_results(image_workspace, tiny_clip_dir, tmp_path):
    embed(image_workspace, tiny_clip_dir, workers=0, batch_size=5)
    serial = load_embedded(image_workspace).embeddings
    embed(image_workspace, tiny_clip_dir, workers=2, batch_size=5, shard_size=7, overwrite=True)
    parallel = load_embedded(image_workspace).embeddings
    np.testing.assert_allclose(parallel, serial, atol=1e-3)


def test_embeddings_match_a_direct_forward_pass(image_workspace, tiny_clip_dir):
    """The stage must equal open_clip's own model on the same pixels, normalised (not the raw
    encode_image default)."""
    import torch

    from curate.embed.model import load_model
    from curate.index.images import decode_rgb

    embed(image_workspace, tiny_clip_dir)
    data = load_embedded(image_workspace)
    loaded = load_model(f"local-dir:{tiny_clip_dir}", None, device="cpu")
    samples = pq.read_table(image_workspace.path("samples")).to_pylist()
    path_of = {r["sample_id"]: r["path"] for r in samples}
    images = torch.stack(
        [
            loaded.preprocess(decode_rgb(open(path_of[s], "rb").read(), draft_size=loaded.image_size))
            for s in data.sample_ids
        ]
    )
    with torch.no_grad():
        raw = loaded.model.encode_image(images)
    expected = (raw / raw.norm(dim=-1, keepdim=True)).numpy()
    assert not np.allclose(np.linalg.norm(raw.numpy(), axis=1), 1.0, atol=1e-2)  # the trap is real
    np.testing.assert_allclose(data.embeddings, expected, atol=2e-3)


def test_no_readable_samples_is_a_data_error(tmp_path, tiny_clip_dir):
    from curate.workspace import Workspace
    from tests.fixtures.samples import write_samples

    ws = Workspace(tmp_path / "ws")
    write_samples(ws, [], unreadable=[(tmp_path / "a.jpg", "empty file (0 bytes)")])
    with pytest.raises(DataError, match="no readable samples"):
        embed(ws, tiny_clip_dir)
    assert not ws.path("embeddings").exists()


def test_missing_samples_names_the_producing_command(tmp_path, tiny_clip_dir):
    from curate.workspace import Workspace

    (tmp_path / "ws").mkdir()
    with pytest.raises(DataError, match="curate index"):
        embed(Workspace(tmp_path / "ws"), tiny_clip_dir)
