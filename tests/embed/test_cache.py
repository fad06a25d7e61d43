"""The embedding cache shared by several workspaces (--cache DIR)."""

from __future__ import annotations

import shutil

import numpy as np
from click.testing import CliRunner

from curate.cli import main
from curate.data import load_embedded
from curate.embed import cache as embedding_cache
from curate.embed.runner import run_embed
from curate.workspace import Workspace


def embed(ws, tiny_clip_dir, **kw):
    return run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0, **kw)


def _twin(ws: Workspace, tmp_path) -> Workspace:
    """A second workspace over the same images (a copy of samples.parquet)."""
    twin = Workspace(tmp_path / "twin")
    twin.root.mkdir()
    shutil.copy(ws.path("samples"), twin.path("samples"))
    return twin


def test_a_second_workspace_takes_every_vector_from_the_cache(image_workspace, tiny_clip_dir, tmp_path):
    cache = tmp_path / "cache"
    first = embed(image_workspace, tiny_clip_dir, cache=cache)
    assert first["images_from_cache"] == 0 and first["images_embedded_now"] == first["num_samples"]
    assert list(cache.glob("*/part-*.parquet"))

    twin = _twin(image_workspace, tmp_path)
    second = embed(twin, tiny_clip_dir, cache=cache)
    # every image that decoded the first time comes from the cache; the corrupt one is tried again
    assert second["images_from_cache"] == first["num_embedded"]
    assert second["images_embedded_now"] == first["num_failed"]
    a, b = load_embedded(image_workspace), load_embedded(twin)
    order = {sid: i for i, sid in enumerate(b.sample_ids)}
    np.testing.assert_array_equal(a.embeddings, b.embeddings[[order[s] for s in a.sample_ids]])


def test_the_cache_is_keyed_by_model_and_survives_a_damaged_part(image_workspace, tiny_clip_dir, tmp_path):
    cache = tmp_path / "cache"
    embed(image_workspace, tiny_clip_dir, cache=cache)
    [part] = list(cache.glob("*/part-*.parquet"))
    hashes = load_embedded(image_workspace).hashes.tolist()
    assert embedding_cache.lookup(cache, {"model": "another"}, hashes) is None

    part.write_bytes(part.read_bytes()[:100])  # a damaged part is skipped: its images are encoded again
    again = embed(_twin(image_workspace, tmp_path), tiny_clip_dir, cache=cache)
    assert again["images_from_cache"] == 0 and again["images_embedded_now"] == again["num_samples"]


def test_cache_with_embeddings_is_refused(tmp_path):
    np.save(tmp_path / "e.npy", np.eye(4, dtype=np.float32))
    result = CliRunner().invoke(
        main, ["scan", "--embeddings", str(tmp_path / "e.npy"), "-o", str(tmp_path / "ws"), "--cache", "c", "-q"]
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == "Error: --cache holds image embeddings for the embed stage, which --embeddings replaces"
    )
