"""Encoder: a batch of preprocessed images -> L2-normalised float16 embeddings."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from curate.embed.model import LoadedModel


def autocast_dtype(device: str) -> Any:
    """Mixed precision for the forward pass: bf16 on GPUs that support it, else fp16; none on CPU
    (measured: bf16 autocast on CPU without AMX is about half as fast as fp32)."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return None


class ImageEncoder:
    """Runs the vision tower. ``encoder(images (b, 3, H, W) float32) -> (b, D) float16``, unit rows."""

    def __init__(self, loaded: LoadedModel):
        self.model = loaded.model
        self.device = loaded.device
        self.dtype = autocast_dtype(self.device)

    def __call__(self, images: Any) -> np.ndarray:
        import torch

        precision = (
            torch.autocast(device_type=self.device, dtype=self.dtype)
            if self.dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), precision:
            x = images.to(self.device, non_blocking=True)
            # normalize=True matters: open_clip's default returns unnormalised features.
            features = self.model.encode_image(x, normalize=True)
        return features.float().cpu().numpy().astype(np.float16)

    def output_dim(self, image_size: tuple[int, int]) -> int:
        """Embedding width D, from one blank image (works for every tower type open_clip has)."""
        import torch

        return int(self(torch.zeros(1, 3, *image_size)).shape[1])
