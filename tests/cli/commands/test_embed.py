import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main

REPO = Path(__file__).resolve().parents[3]


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_embed_local_dir(image_workspace, tiny_clip_dir):
    result = invoke(
        "embed",
        str(image_workspace.root),
        "--model",
        f"local-dir:{tiny_clip_dir}",
        "--device",
        "cpu",
        "--workers",
        "0",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert "Embedded 12 of 13 images" in result.stdout
    assert "1 image(s) failed to decode" in result.stdout and "img_05_corrupt.jpg" in result.stdout
    assert "Text embeddings for 2 class names" in result.stdout

    again = invoke("embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--json")
    assert again.exit_code == 0
    summary = json.loads(again.stdout)
    assert summary["skipped"] is True and summary["num_embedded"] == 12


def test_embed_pretrained_file_json(image_workspace, tiny_clip_checkpoint):
    name, ckpt = tiny_clip_checkpoint
    result = invoke(
        "embed",
        str(image_workspace.root),
        "--model",
        name,
        "--pretrained",
        str(ckpt),
        "--device",
        "cpu",
        "--workers",
        "1",
        "--batch-size",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["num_embedded"] == 12 and summary["batch_size"] == 3 and summary["workers"] == 1
    assert summary["model"] == f"{name} ({ckpt})"


def test_embed_failure_paths(image_workspace, tiny_clip_dir, tiny_clip_checkpoint, tmp_path):
    local = ["--model", f"local-dir:{tiny_clip_dir}", "--workers", "0"]
    missing = invoke("embed", str(tmp_path / "nope"), *local)
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr

    (tmp_path / "empty").mkdir()
    no_samples = invoke("embed", str(tmp_path / "empty"), *local)
    assert no_samples.exit_code == 1 and "curate index" in no_samples.stderr

    bad_model = invoke("embed", str(image_workspace.root), "--model", "NoSuchNet")
    assert bad_model.exit_code == 2 and "unknown open_clip model" in bad_model.stderr

    bad_batch = invoke("embed", str(image_workspace.root), *local, "--batch-size", "0")
    assert bad_batch.exit_code == 2

    assert invoke("embed", str(image_workspace.root), *local, "-q").exit_code == 0
    name, ckpt = tiny_clip_checkpoint
    stale = invoke("embed", str(image_workspace.root), "--model", name, "--pretrained", str(ckpt))
    assert stale.exit_code == 1 and "--overwrite" in stale.stderr and stale.stderr.count("\n") == 1
    replaced = invoke(
        "embed",
        str(image_workspace.root),
        "--model",
        name,
        "--pretrained",
        str(ckpt),
        "--workers",
        "0",
        "--overwrite",
        "-q",
    )
    assert replaced.exit_code == 0, replaced.output


def test_default_model_offline_fails_within_seconds(image_workspace, tmp_path):
    """The real command in a fresh process, with the hub unreachable and an empty cache: one line
    naming both ways to give local weights, exit 1, in seconds (unguarded, open_clip retries for
    ~45 s). Python's imports are timed separately so a busy test machine does not fail the test:
    the command may take at most 5 s beyond importing torch and open_clip, and under 10 s on an
    idle 2-core machine (measured 5-7 s there, nearly all of it imports)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_ENDPOINT": "https://curate-offline.invalid",
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
    }
    env.pop("HF_HUB_OFFLINE", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import curate.cli, open_clip, pyarrow.parquet"], env=env, check=True)
    imports = time.perf_counter() - start
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "curate", "embed", str(image_workspace.root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot download weights for ViT-B-32")
    assert "--model local-dir:PATH" in lines[0] and "--pretrained FILE" in lines[0]
    assert elapsed - imports < 5, f"took {elapsed:.1f} s, of which imports {imports:.1f} s"
    assert not image_workspace.path("embeddings").exists()
