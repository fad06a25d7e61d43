"""Which torch device a command runs on; one rule for every stage."""

from __future__ import annotations

import os
import sys

from curate.errors import UsageError

#: what ``--device`` accepts
DEVICES = ("auto", "cuda", "mps", "cpu")


#: files one of which exists wherever torch could see a GPU on Linux: the NVIDIA driver's, and
#: ROCm's kernel driver (torch.cuda on AMD)
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd")


def no_gpu_possible() -> bool:
    """True when this machine certainly has no GPU torch could use, told without importing
    torch (seconds of start-up): Linux without an NVIDIA or ROCm driver, and torch not imported
    yet. Elsewhere (macOS's MPS, Windows) only torch can tell: False."""
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return False
    return not any(os.path.exists(path) for path in GPU_DRIVER_FILES)


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked and returned. ``auto`` on
    a machine without a GPU driver (:func:`no_gpu_possible`) is ``cpu`` without importing torch,
    so the stages after embedding start in a fraction of the time."""
    if device == "cpu" or (device == "auto" and no_gpu_possible()):
        return "cpu"
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps was asked for but MPS is not available")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")
    return device
