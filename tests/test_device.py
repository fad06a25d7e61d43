"""``--device auto`` on a machine without a GPU driver is the CPU, told without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from curate import device


def test_auto_without_a_gpu_driver_is_cpu_and_imports_no_torch(tmp_path):
    code = (
        "import sys, curate.device as d\n"
        f"d.GPU_DRIVER_FILES = ({str(tmp_path / 'no-driver')!r},)\n"
        "print(d.resolve_device('auto'), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if sys.platform.startswith("linux"):
        assert out == ["cpu", "False"]
    else:  # only torch can tell there (MPS, Windows)
        assert out[1] == "True"


def test_a_driver_or_an_imported_torch_leaves_the_answer_to_torch(monkeypatch, tmp_path):
    driver = tmp_path / "version"
    driver.write_text("NVRM")
    monkeypatch.setattr(device, "GPU_DRIVER_FILES", (str(driver),))
    assert not device.no_gpu_possible()
    monkeypatch.setattr(device, "GPU_DRIVER_FILES", (str(tmp_path / "none"),))
    torch = pytest.importorskip("torch")
    assert "torch" in sys.modules and not device.no_gpu_possible()
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert device.resolve_device("auto") == expected
