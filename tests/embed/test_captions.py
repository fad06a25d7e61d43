"""Caption embeddings: the same model's text tower, keyed by caption text, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from curate.data import load_embedded
from curate.embed import store
from curate.embed.captions import TextEncoder, embed_captions
from curate.embed.model import load_model
from curate.embed.runner import run_embed
from curate.index.stage import run_index
from curate.workspace import Workspace


@pytest.fixture(scope="module")
def tiny(tiny_clip_dir):
    return load_model(f"local-dir:{tiny_clip_dir}", None, device="cpu")


def test_embed_stage_embeds_every_caption_in_the_image_space(captioned_shards, tiny_clip_dir, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run_index(captioned_shards.root, ws, workers=0)
    summary = run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0)
    assert summary["captions"] == len(captioned_shards.captions)
    assert summary["caption_texts"] == len(set(captioned_shards.captions.values()))  # each text encoded once
    assert summary["captions_embedded_now"] == summary["caption_texts"] and summary["captions_reused"] == 0
    data = load_embedded(ws)
    assert data.caption_embeddings is not None and data.caption_embeddings.shape == data.embeddings.shape
    np.testing.assert_allclose(np.linalg.norm(data.caption_embeddings, axis=1), 1.0, atol=2e-3)
    same = [i for i, sid in enumerate(data.sample_ids) if data.captions[i] == data.captions[0]]
    assert len(same) > 1 and np.all(data.caption_embeddings[same] == data.caption_embeddings[same[0]])


def test_captions_are_reused_by_text_and_an_interrupted_run_resumes(tiny, tmp_path, monkeypatch):
    from curate.embed import captions as module

    folder = tmp_path / "embeddings"
    folder.mkdir()
    texts = [f"caption number {i}" for i in range(30)]
    ids = [str(i) for i in range(30)]
    monkeypatch.setattr(module, "CAPTION_CHUNK", 10)
    calls = []
    real = TextEncoder.__call__

    def failing(self, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third chunk
        return real(self, batch)

    monkeypatch.setattr(TextEncoder, "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        embed_captions(tiny, folder, ids, texts, batch_size=10)
    monkeypatch.setattr(TextEncoder, "__call__", real)
    resumed = embed_captions(tiny, folder, ids, texts, batch_size=10)
    assert resumed["captions_reused"] == 20 and resumed["captions_embedded_now"] == 10
    fresh_folder = tmp_path / "fresh"
    fresh_folder.mkdir()
    embed_captions(tiny, fresh_folder, ids, texts, batch_size=7)
    got, want = store.read_caption_embeddings(folder), store.read_caption_embeddings(fresh_folder)
    assert got is not None and want is not None and got[0] == want[0] == ids
    np.testing.assert_allclose(got[1], want[1], atol=2e-3)
    again = embed_captions(tiny, folder, ids[:5], texts[:5], batch_size=10)
    assert again["captions_embedded_now"] == 0  # everything already known by text


def test_a_new_run_keeps_the_caption_cache(captioned_shards, tiny_clip_dir, tmp_path):
    import shutil

    data = tmp_path / "wds"
    shutil.copytree(captioned_shards.root, data)
    ws = Workspace(tmp_path / "ws")
    run_index(data, ws, workers=0)
    run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0)
    (data / "00001.tar").unlink()  # the data shrank: a new embeddings run
    run_index(data, ws, workers=0)
    summary = run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0)
    assert summary["captions_embedded_now"] == 0 and summary["captions_reused"] == summary["caption_texts"]
