"""Image-text pairs end to end: a WebDataset of captioned images through `curate scan` with the
tiny model (random weights: this proves the mechanics, not the judgement; tests/score/test_captions.py
and the benchmark measure the judgement on embeddings whose truth is known)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import main


def test_a_captioned_webdataset_scans_end_to_end(captioned_shards, tiny_clip_dir, tmp_path):
    ws = tmp_path / "ws"
    args = ["scan", str(captioned_shards.root), "-o", str(ws), "--model", f"local-dir:{tiny_clip_dir}"]
    result = CliRunner().invoke(main, [*args, "--device", "cpu", "--workers", "0", "--json"])
    assert result.exit_code == 0, result.output

    manifest = pq.read_table(ws / "manifest.parquet").to_pydict()
    assert dict(zip(manifest["sample_id"], manifest["caption"])) == captioned_shards.captions
    issues = pq.read_table(ws / "issues.parquet")
    scores = issues.column("caption_score").to_pylist()
    assert all(s is not None and -1 <= s <= 1 for s in scores)
    assert issues.column("is_caption_mismatch").null_count == 0
    # templated captions repeat: every sample's caption is another sample's too
    assert all(issues.column("is_caption_duplicate").to_pylist())
    assert set(issues.column("caption_duplicate_kind").to_pylist()) == {"exact"}

    summary = json.loads((ws / "summary.json").read_text())
    flagged = sum(issues.column("is_caption_mismatch").to_pylist())
    assert summary["caption_mismatch_rate"] == flagged / issues.num_rows
    assert summary["captions"]["num_pairs"] == issues.num_rows
    assert summary["label_issue_rate"] is None  # no class labels: the label checks skip, with a note
    assert "label_issue_rate" in summary["not_measured"]

    page = (ws / "report.html").read_text()
    assert 'id="captions"' in page and "a photo of the digit" in page and "mismatch rate" in page

    gate = CliRunner().invoke(main, ["check", str(ws), "--max-caption-mismatch", "1.0"])
    assert gate.exit_code == 0, gate.output
    if flagged:
        failed = CliRunner().invoke(main, ["check", str(ws), "--max-caption-mismatch", "0"])
        assert failed.exit_code == 1 and "caption_mismatch_rate" in failed.output


def test_captions_in_the_report_are_escaped(captioned_shards, tiny_clip_dir, tmp_path):
    import shutil
    import tarfile

    data = tmp_path / "wds"
    shutil.copytree(captioned_shards.root, data)
    with tarfile.open(data / "00000.tar") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    evil = b"<script>alert(1)</script> a digit"
    with tarfile.open(data / "00000.tar", "w") as tar:
        for m, payload in members:
            if m.name.endswith(".txt"):
                payload = evil
                m.size = len(payload)
            import io

            tar.addfile(m, io.BytesIO(payload))
    ws = tmp_path / "ws"
    args = ["scan", str(data), "-o", str(ws), "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu"]
    assert CliRunner().invoke(main, [*args, "--workers", "0"]).exit_code == 0
    page = (ws / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a digit" in page and "<script>alert(1)" not in page
