import numpy as np

from curate.embed.importer import import_arrays
from curate.pipeline import stage_parameters
from curate.report.projection import project_2d, sample_embeddings
from curate.workspace import Workspace


def test_sample_spans_shards_and_matches_stored_rows(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(250, 16)).astype(np.float32)
    ws = Workspace(tmp_path / "ws")
    import_arrays(ws, emb, rng.integers(0, 3, 250), shard_size=60)
    ids, sample = sample_embeddings(ws.path("embeddings"), 100, seed=3)
    assert len(ids) == 100 == len(set(ids)) and sample.shape == (100, 16)
    rows = np.array([int(i) for i in ids])
    assert rows.max() >= 180  # the last shards are sampled too
    expected = emb[rows] / np.linalg.norm(emb[rows], axis=1, keepdims=True)
    np.testing.assert_allclose(sample, expected, atol=2e-3)  # float16 storage
    assert sample_embeddings(ws.path("embeddings"), 100, seed=3)[0] == ids
    all_ids, _ = sample_embeddings(ws.path("embeddings"), 10_000)
    assert sorted(map(int, all_ids)) == list(range(250))


def test_projections_are_2d_and_deterministic():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (40, 20)), rng.normal(6, 1, (40, 20))]).astype(np.float32)
    for method in ("pca", "tsne"):
        a = project_2d(x, method=method, seed=1)
        assert a.shape == (80, 2)
        np.testing.assert_allclose(a, project_2d(x, method=method, seed=1))
        # the two planted clusters stay apart
        gap = np.linalg.norm(a[:40].mean(0) - a[40:].mean(0))
        assert gap > 2 * a[:40].std(0).mean()


def test_recipes_can_set_report_parameters():
    params = stage_parameters("report")
    assert {"max_thumbnails", "thresholds", "map_method", "map_points", "output"} <= set(params)
