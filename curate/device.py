"""Which torch device a command runs on; one rule for every stage."""

from __future__ import annotations

from curate.errors import UsageError

#: what ``--device`` accepts
DEVICES = ("auto", "cuda", "mps", "cpu")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked and returned."""
    if device == "cpu":  # no torch import: the faiss path never needs it
        return device
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
