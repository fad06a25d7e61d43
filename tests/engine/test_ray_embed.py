"""--engine ray on a real two-node cluster writes the embeddings the local engine writes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from curate.data import load_embedded
from curate.embed.runner import run_embed
from curate.workspace import Workspace


def _copy_workspace(ws: Workspace, root) -> Workspace:
    other = Workspace(root)
    other.root.mkdir()
    (other.root / "samples.parquet").write_bytes(ws.path("samples").read_bytes())
    return other


def test_ray_engine_writes_what_the_local_engine_writes(ray_two_nodes, image_workspace, tiny_clip_dir, tmp_path):
    model = {
        "model": f"local-dir:{tiny_clip_dir}",
        "pretrained": None,
        "device": "cpu",
        "batch_size": 4,
        "shard_size": 5,
    }
    on_ray = _copy_workspace(image_workspace, tmp_path / "ray")
    local = run_embed(image_workspace, workers=0, **model)
    t = __import__("time").perf_counter()
    summary = run_embed(on_ray, engine="ray", address=ray_two_nodes.address, **model)
    print("ray s", __import__("time").perf_counter() - t, summary)
    assert summary["engine"] == "ray" and local["engine"] == "local"
    a, b = load_embedded(image_workspace), load_embedded(on_ray)
    assert list(a.sample_ids) == list(b.sample_ids)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)


def _encoder_actor_pids() -> set[int]:
    """Processes whose title names the encoder actor (Ray sets ``ray::MapWorker(...EncodeActor)``)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::") and "EncodeActor" in title:
            pids.add(int(entry.name))
    return pids


def test_a_killed_actor_is_restarted_and_the_output_is_unchanged(
    ray_two_nodes, image_workspace, tiny_clip_dir, tmp_path
):
    model = {
        "model": f"local-dir:{tiny_clip_dir}",
        "pretrained": None,
        "device": "cpu",
        "batch_size": 2,
        "shard_size": 4,
    }
    on_ray = _copy_workspace(image_workspace, tmp_path / "ray")
    run_embed(image_workspace, workers=0, **model)
    seen: set[int] = set()
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_actor() -> None:
        while not stop.is_set():
            pids = _encoder_actor_pids()
            seen.update(pids)
            if pids and not killed:
                pid = min(pids)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_actor, daemon=True)
    killer.start()
    try:
        summary = run_embed(on_ray, engine="ray", address=ray_two_nodes.address, **model)
    finally:
        stop.set()
        killer.join()
    assert killed, "no encoder actor process was seen"
    assert seen - set(killed), "the killed actor was never replaced"
    assert summary["num_embedded"] == 12 and summary["num_failed"] == 1
    a, b = load_embedded(image_workspace), load_embedded(on_ray)
    assert list(a.sample_ids) == list(b.sample_ids)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
