"""Source (c): CLIP zero-shot similarity of each image to the class-name text embeddings.

It needs no training, so it is out-of-sample by construction; it is the one source that a
systematically mislabelled region of embedding space cannot fool.
"""

from __future__ import annotations

import numpy as np


def zeroshot_logits(
    embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    *,
    block_size: int = 65536,
    device: str = "cpu",
) -> np.ndarray:
    """Cosine similarity of every image to every class name.

    embeddings:      (N, D) float16/float32, L2-normalised images
    text_embeddings: (K, D) float32, L2-normalised class-name embeddings (prompt ensembles)
    Returns (N, K) float32 cosines; the calibration step learns their temperature.
    """
    import torch

    text = torch.from_numpy(np.ascontiguousarray(text_embeddings, dtype=np.float32)).to(device)
    out = np.empty((embeddings.shape[0], text.shape[0]), dtype=np.float32)
    for start in range(0, embeddings.shape[0], block_size):
        stop = min(start + block_size, embeddings.shape[0])
        x = torch.from_numpy(np.ascontiguousarray(embeddings[start:stop], dtype=np.float32)).to(device)
        out[start:stop] = (x @ text.T).cpu().numpy()
    return out
