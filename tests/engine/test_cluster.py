"""Connecting to a cluster: what a user sees when Ray is missing, and which device actors get."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.cluster import ClusterInfo
from curate.errors import UsageError


def test_engine_ray_without_ray_installed_says_how_to_install_it(monkeypatch, image_workspace, tiny_clip_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    res = CliRunner().invoke(
        main,
        ["embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "",
         "--engine", "ray"],
    )  # fmt: skip
    assert res.exit_code == 2
    assert res.stderr.strip() == "Error: --engine ray needs Ray: pip install 'curate[ray]'"
    assert not image_workspace.path("embeddings").exists()


def test_actor_device_follows_the_clusters_gpus():
    gpus, cpus_only = ClusterInfo("h:1", 2, 32.0, 4.0), ClusterInfo("h:1", 2, 2.0, 0.0)
    assert gpus.actor_device("auto") == "cuda" and cpus_only.actor_device("auto") == "cpu"
    assert gpus.actor_device("cpu") == "cpu"
    with pytest.raises(UsageError, match="has no GPU"):
        cpus_only.actor_device("cuda")
    with pytest.raises(UsageError, match="mps"):
        gpus.actor_device("mps")
