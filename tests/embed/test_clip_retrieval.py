"""clip-retrieval's output folder (img_emb/, text_emb/, metadata/) as --embeddings."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.embed.clip_retrieval import is_clip_retrieval_folder, read_clip_retrieval
from curate.errors import DataError
from curate.synth import make_pairs


def write_clip_retrieval(root, images, texts, captions, *, parts=3):
    """The folder clip-retrieval inference writes: numbered parts, row-aligned."""
    for sub in ("img_emb", "text_emb", "metadata"):
        (root / sub).mkdir(parents=True)
    bounds = np.linspace(0, len(images), parts + 1).astype(int)
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        np.save(root / "img_emb" / f"img_emb_{k}.npy", images[a:b].astype(np.float16))
        np.save(root / "text_emb" / f"text_emb_{k}.npy", texts[a:b].astype(np.float16))
        meta = pa.table({"image_path": [f"img/{i}.jpg" for i in range(a, b)], "caption": captions[a:b]})
        pq.write_table(meta, root / "metadata" / f"metadata_{k}.parquet")


def test_reads_and_joins_parts_in_numeric_order(tmp_path):
    pairs = make_pairs(120, seed=0)
    captions = [f"caption {i}" for i in range(120)]
    write_clip_retrieval(tmp_path, pairs.images, pairs.texts, captions, parts=12)  # img_emb_10 after _9
    assert is_clip_retrieval_folder(tmp_path) and not is_clip_retrieval_folder(tmp_path / "img_emb")
    out = read_clip_retrieval(tmp_path)
    np.testing.assert_allclose(out.image, pairs.images, atol=1e-3)
    np.testing.assert_allclose(out.text, pairs.texts, atol=1e-3)
    assert out.metadata is not None and out.metadata.column("caption").to_pylist() == captions


def test_parts_that_do_not_line_up_are_refused(tmp_path):
    pairs = make_pairs(40, seed=0)
    write_clip_retrieval(tmp_path, pairs.images, pairs.texts, [str(i) for i in range(40)], parts=2)
    np.save(tmp_path / "text_emb" / "text_emb_1.npy", pairs.texts[:5])
    with pytest.raises(DataError, match="text_emb_1.npy has shape"):
        read_clip_retrieval(tmp_path)
    (tmp_path / "metadata" / "metadata_1.parquet").unlink()
    with pytest.raises(DataError, match="different parts"):
        read_clip_retrieval(tmp_path)


def test_scan_takes_the_folder_as_embeddings(tmp_path):
    pairs = make_pairs(1500, swap_rate=0.1, seed=2)
    captions = [f"pair {i}" for i in range(1500)]
    write_clip_retrieval(tmp_path / "cr", pairs.images, pairs.texts, captions)
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        main, ["scan", "--embeddings", str(tmp_path / "cr"), "-o", str(ws), "--keep-top-fraction", "0.3", "--json"]
    )
    assert result.exit_code == 0, result.output
    issues = pq.read_table(ws / "issues.parquet")
    flags = np.asarray(issues.column("is_caption_mismatch").to_pylist())
    truth = pairs.swapped[np.asarray(issues.column("sample_id").to_pylist(), dtype=int)]
    tp = int((flags & truth).sum())
    assert 2 * tp / (flags.sum() + truth.sum()) >= 0.8
    manifest = pq.read_table(ws / "manifest.parquet").to_pydict()
    assert manifest["caption"][:2] == captions[:2]
    dropped = [any("outside the top 30%" in r for r in reasons) for reasons in manifest["reasons"]]
    assert sum(dropped) == 1500 - 450  # --keep-top-fraction 0.3 keeps 30% of the pairs
    assert all(w == 0 for w, d in zip(manifest["weight"], dropped) if d)
    summary = json.loads((ws / "summary.json").read_text())
    assert summary["captions"]["filter"]["kept_by_top_fraction"] == 450
    assert summary["caption_mismatch_rate"] == pytest.approx(flags.mean())


def test_parquet_embeddings_with_a_caption_column_and_text_embeddings(tmp_path):
    from curate.scan import run_scan
    from curate.workspace import Workspace

    pairs = make_pairs(300, seed=1)
    table = pa.table(
        {
            "embedding": [row.tolist() for row in pairs.images],
            "text": [f"caption {i}" for i in range(300)],
        }
    )
    pq.write_table(table, tmp_path / "emb.parquet")
    np.save(tmp_path / "txt.npy", pairs.texts)
    ws = Workspace(tmp_path / "ws")
    run_scan(None, ws, embeddings=tmp_path / "emb.parquet", text_embeddings=tmp_path / "txt.npy", caption_column="text")
    manifest = pq.read_table(ws.path("manifest"), columns=["sample_id", "caption"]).to_pydict()
    assert manifest["caption"][manifest["sample_id"].index("7")] == "caption 7"
    assert pq.read_table(ws.path("issues")).column("caption_score").null_count == 0
    np.save(tmp_path / "img.npy", pairs.images)
    from curate.errors import UsageError

    with pytest.raises(UsageError, match="a .npy has none"):
        run_scan(None, Workspace(tmp_path / "ws2"), embeddings=tmp_path / "img.npy", caption_column="text")
    with pytest.raises(UsageError, match="--text-embeddings goes with --embeddings"):
        run_scan(tmp_path, Workspace(tmp_path / "ws3"), text_embeddings=tmp_path / "txt.npy")
