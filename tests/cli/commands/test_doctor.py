"""`curate doctor`: mocked only where the machine is asked something (is a GPU there, is a package
installed or importable, is the weight file cached, is the hub reachable)."""

from __future__ import annotations

import functools
import json
import sys

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import constants

from curate.cli import main


def no() -> bool:
    return False


@pytest.fixture
def machine(monkeypatch):
    """A CPU-only machine, online, with no weights cached and every package installed."""
    state = {"cached": False, "reachable": True, "probed": []}
    monkeypatch.setattr(torch.cuda, "is_available", no)
    # wraps: torch._dynamo, imported later by open_clip, reads is_available.__wrapped__
    monkeypatch.setattr(torch.backends.mps, "is_available", functools.wraps(torch.backends.mps.is_available)(no))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("curate.embed.model._cached", lambda repo, name: state["cached"])

    def reachable(url, timeout):
        state["probed"].append(timeout)
        return state["reachable"]

    monkeypatch.setattr("curate.embed.model._reachable", reachable)
    return state


def doctor(*args):
    result = CliRunner().invoke(main, ["doctor", "--json", *args])
    assert result.stdout, (result.output, result.exception)
    return result, json.loads(result.stdout)


def by_name(summary):
    return {f["name"]: f for f in summary["findings"]}


def test_cpu_machine_online(machine, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)  # the CPU wheel
    result, summary = doctor("--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 0 and summary["ok"]
    found = by_name(summary)
    assert (
        found["device"]["ok"] is False
        and not found["device"]["essential"]
        and "install a CUDA build" in found["device"]["fix"]
    )
    assert found["weights"]["ok"] and "downloaded on first use" in found["weights"]["detail"]
    assert machine["probed"] == [2.5]
    assert found["disk workspace"]["ok"] and str(tmp_path / "ws") in found["disk workspace"]["detail"]
    assert found["torch"]["detail"].startswith(torch.__version__)


def test_a_cuda_build_without_a_gpu_is_not_told_to_install_one(machine, monkeypatch):
    """The CUDA wheel on a machine with no GPU: check the driver, or take the CPU wheel."""
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fix = by_name(doctor()[1])["device"]["fix"]
    assert "install a CUDA build" not in fix
    assert "CUDA 13.0 build" in fix and "nvidia-smi" in fix and "download.pytorch.org/whl/cpu" in fix
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES='' hides the GPUs" in by_name(doctor()[1])["device"]["fix"]


def test_gpu_and_cached_weights(machine, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Test GPU {i}")
    machine["cached"] = True
    result, summary = doctor()
    assert result.exit_code == 0
    found = by_name(summary)
    assert found["device"] == {
        "name": "device",
        "ok": True,
        "essential": False,
        "detail": "cuda:0 Test GPU 0, cuda:1 Test GPU 1",
        "fix": None,
    }
    assert "in the local Hugging Face cache" in found["weights"]["detail"]
    assert machine["probed"] == []  # cached: no network probe
    assert "disk workspace" not in found


def test_offline_without_weights_fails_with_the_fix(machine):
    machine["reachable"] = False
    result = CliRunner().invoke(main, ["doctor", "--timeout", "0.5"])
    assert result.exit_code == 1
    assert machine["probed"] == [0.5]
    lines = result.stdout.splitlines()
    weights = next(i for i, line in enumerate(lines) if line.startswith("FAIL  weights"))
    assert "ViT-B-32 (laion2b_s34b_b79k): not cached" in lines[weights]
    assert "--model local-dir:PATH" in lines[weights + 1] and "fix:" in lines[weights + 1]
    assert lines[-1] == "not ready: fix the FAIL lines above (exit 1)"


def test_local_weights_need_no_network(machine, tiny_clip_dir):
    machine["reachable"] = False
    result, summary = doctor("--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "")
    assert result.exit_code == 0
    assert by_name(summary)["weights"]["detail"].endswith(": local files") and machine["probed"] == []


def test_missing_extra_warns_and_missing_torch_fails(machine, monkeypatch):
    import curate.doctor

    real = curate.doctor.installed_version
    monkeypatch.setattr(curate.doctor, "installed_version", lambda d: None if d == "hypothesis" else real(d))
    result, summary = doctor()
    dev = by_name(summary)["extra [dev]"]
    assert result.exit_code == 0 and not dev["ok"] and "hypothesis" in dev["detail"]
    assert dev["fix"] == "pip install -e '.[dev]'"

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    result, summary = doctor()
    found = by_name(summary)
    assert (
        result.exit_code == 1 and not found["torch"]["ok"] and "download.pytorch.org/whl/cpu" in found["torch"]["fix"]
    )
    assert "device" not in found


def test_requirements_for_another_python_are_not_missing():
    """tomli is required before Python 3.11 only: on 3.11+ it must not be listed (it was, and
    doctor reported a correct install as broken)."""
    import sys

    from curate.doctor import _requirements

    core = _requirements()[None]
    assert ("tomli" in core) == (sys.version_info < (3, 11))
    assert "numpy" in core
