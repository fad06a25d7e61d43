"""--engine ray on a real two-node Ray cluster (one CPU each) writes what the local engine writes.

The cluster (``ray_two_nodes``, tests/fixtures/ray_cluster.py) is shared by the module; each run
connects to it by its address, as ``--address`` does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.data import load_embedded
from curate.embed import store
from curate.embed.runner import run_embed
from curate.scan import run_scan
from curate.workspace import Workspace
from tests.fixtures.images import make_digits_folder

pytest.importorskip("ray")


def _copy_workspace(ws: Workspace, root: Path) -> Workspace:
    other = Workspace(root)
    other.root.mkdir()
    (other.root / "samples.parquet").write_bytes(ws.path("samples").read_bytes())
    return other


def _encoder_actor_pids() -> set[int]:
    """Processes whose title names the encoder actor (Ray titles it ``ray::MapWorker(...EncodeActor)``)."""
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


def _shard_bytes(ws: Workspace) -> dict[str, bytes]:
    folder = ws.path("embeddings")
    return {p.name: p.read_bytes() for p in sorted(folder.glob("part-*"))}


def test_ray_engine_survives_a_killed_actor_and_writes_the_local_engines_shards(
    ray_two_nodes, image_workspace, tiny_clip_dir, tmp_path
):
    """The encoder actors are SIGKILLed as soon as they appear; Ray restarts them, retries their
    blocks, and the shards (vectors, failures, markers) are byte for byte the local engine's. The local
    engine then reads the folder, and resumes it by shard."""
    model = {"model": f"local-dir:{tiny_clip_dir}", "pretrained": None, "device": "cpu", "batch_size": 2}
    on_ray = _copy_workspace(image_workspace, tmp_path / "ray")
    local = run_embed(image_workspace, workers=0, shard_size=4, **model)
    seen: set[int] = set()
    killed: set[int] = set()
    stop = threading.Event()

    def kill_the_first_actors() -> None:
        """SIGKILL every encoder actor of the pool (one per CPU: 2) as they start, once."""
        first_seen = None
        while not stop.is_set():
            pids = _encoder_actor_pids()
            seen.update(pids)
            if pids and first_seen is None:
                first_seen = time.perf_counter()
            if not killed and first_seen is not None and (len(pids) >= 2 or time.perf_counter() - first_seen > 2):
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed.update(pids)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_first_actors, daemon=True)
    killer.start()
    try:
        summary = run_embed(on_ray, engine="ray", address=ray_two_nodes.address, shard_size=4, **model)
    finally:
        stop.set()
        killer.join()
    assert killed, "no encoder actor process was seen"
    assert seen - killed, "no actor replaced the killed ones"
    assert summary["engine"] == "ray" and local["engine"] == "local"
    assert summary["cluster"]["nodes"] == 2 and summary["cluster"]["cpus"] == 2
    assert (summary["num_embedded"], summary["num_failed"], summary["num_shards"]) == (12, 1, 4)
    assert summary["failed"] == local["failed"]
    assert _shard_bytes(on_ray) == _shard_bytes(image_workspace)
    a, b = load_embedded(image_workspace), load_embedded(on_ray)
    assert list(a.sample_ids) == list(b.sample_ids)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)

    # a Ray run that died before its last shard: the local engine resumes it by shard
    folder = on_ray.path("embeddings")
    for name in ("part-00003.parquet", "part-00003.done", store.SUCCESS):
        (folder / name).unlink()
    resumed = run_embed(on_ray, workers=0, shard_size=4, **model)
    assert resumed["shards_resumed"] == 3 and resumed["images_embedded_now"] == 1
    assert _shard_bytes(on_ray) == _shard_bytes(image_workspace)


def test_scan_on_ray_leaves_the_local_engines_manifest(ray_two_nodes, tiny_clip_dir, tmp_path):
    """`curate scan DATA -o WS --engine ray --address HOST:PORT --json` names the engine and
    leaves the manifest a local scan leaves."""
    data = make_digits_folder(tmp_path / "data", per_class=3).root
    model = ["--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "", "--device", "cpu"]
    run_scan(
        data,
        Workspace(tmp_path / "local"),
        model=f"local-dir:{tiny_clip_dir}",
        pretrained=None,
        device="cpu",
        workers=0,
    )
    res = CliRunner().invoke(
        main,
        ["scan", str(data), "-o", str(tmp_path / "ray"), *model, "--engine", "ray",
         "--address", ray_two_nodes.address, "--json", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["engine"] == "ray"
    expected = pq.read_table(tmp_path / "local" / "manifest.parquet")
    got = pq.read_table(tmp_path / "ray" / "manifest.parquet")
    assert got.replace_schema_metadata(None).equals(expected.replace_schema_metadata(None))


def test_an_address_nobody_answers_is_one_line_and_writes_nothing(image_workspace, tiny_clip_dir, tmp_path):
    with socket_nobody_listens() as address:
        start = time.perf_counter()
        res = CliRunner().invoke(
            main,
            ["embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "",
             "--engine", "ray", "--address", address],
        )  # fmt: skip
    assert res.exit_code == 1 and time.perf_counter() - start < 10
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no Ray cluster answers at {address}" in lines[0], res.stderr
    assert not image_workspace.path("embeddings").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--address", "127.0.0.1:6379"], "--address is the Ray cluster's; give it with --engine ray"),
        (["--engine", "ray", "--address", "no-port"], "expected HOST:PORT"),
    ],
)
def test_engine_usage_errors_exit_2(image_workspace, tiny_clip_dir, args, message):
    res = CliRunner().invoke(
        main, ["embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "", *args]
    )
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_scan_refuses_engine_options_with_embeddings(tmp_path):
    np.save(tmp_path / "e.npy", np.eye(4, dtype=np.float32))
    res = CliRunner().invoke(
        main, ["scan", "--embeddings", str(tmp_path / "e.npy"), "-o", str(tmp_path / "ws"), "--engine", "ray"]
    )
    assert res.exit_code == 2
    assert "--engine says where the embed stage runs, which --embeddings replaces" in res.stderr


class socket_nobody_listens:
    """A HOST:PORT on this machine where nothing listens (a port bound, then released)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return f"127.0.0.1:{s.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        return None
