"""What the image-defect checks need of a picture, measured once while the index decodes it.

The index already decodes every image (at a JPEG draft scale) to prove it is readable; this module
measures, from that one decode, a small fixed-size thumbnail and the numbers every image-level
issue type reads (:mod:`curate.issues.dark`, ``light``, ``blurry``, ``low_information``,
``grayscale``; ``odd_aspect_ratio`` and ``odd_size`` read samples.parquet's ``width`` and
``height``), plus a digest of the decoded pixels and a perceptual hash for the copies the embedding
cannot see (:mod:`curate.score.copies`). They are stored in samples.parquet's ``image_stats``
column (:data:`curate.schemas.IMAGE_STATS`), so a re-index reuses them with the row.

Every measure is read on the same thumbnail: the decoded image box-filtered to fit within
:data:`THUMBNAIL` pixels (never enlarged), so a 4000-px photo and a 300-px crop are judged at the
same scale; CleanVision reads blur at 64 px for the same reason.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

#: the longest side (pixels) of the thumbnail every measure is read on
THUMBNAIL = 64
#: the draft size the index asks libjpeg for: the smallest scale (of 1/1, 1/2, 1/4, 1/8) whose
#: short side is still at least 3/4 of the thumbnail, so a 4:3 photo is decoded about as small
#: as its thumbnail (a 640x480 JPEG at 1/8), which keeps indexing as fast as a plain probe
DRAFT = (THUMBNAIL * 3 // 4, THUMBNAIL * 3 // 4)
#: side of the grayscale square the perceptual hash is read on, and of its low-frequency block
_PHASH_SIDE, _PHASH_BLOCK = 32, 8

#: perceived brightness of a pixel (CleanVision's and the HSP colour model's weights, squared RGB)
_BRIGHTNESS_WEIGHTS = np.array([0.241, 0.691, 0.068], dtype=np.float32)
#: luma weights (ITU-R BT.601) for the grayscale thumbnail
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """(8, 32) float32: the first 8 rows of the orthonormal DCT-II of length 32."""
    n = _PHASH_SIDE
    k = np.arange(_PHASH_BLOCK)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def thumbnail(img: Image.Image) -> Image.Image:
    """``img`` box-filtered to fit within :data:`THUMBNAIL` x :data:`THUMBNAIL` (aspect kept,
    never enlarged)."""
    w, h = img.size
    scale = THUMBNAIL / max(w, h)
    if scale >= 1:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def perceptual_hash(gray: Image.Image) -> int:
    """64-bit DCT perceptual hash (pHash, as imagehash computes it) of a grayscale (``L``) image,
    as a signed int64: bit set where the low-frequency coefficient is above their median.
    Copies that were resized, re-encoded or slightly retouched differ in a few bits."""
    square = np.asarray(gray.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.BOX), dtype=np.float32)
    d = _dct_matrix()
    block = d @ square @ d.T
    bits = (block > np.median(block)).ravel()
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= 1 << 63 else value


def measure(img: Image.Image) -> dict[str, Any]:
    """The image properties of a decoded RGB image (any size; a JPEG draft is fine).

    Returns a dict of :data:`curate.schemas.IMAGE_STATS` fields:
    ``brightness_p05`` / ``brightness_p50`` / ``brightness_p99``: percentiles of perceived
    brightness (0..1) over the thumbnail's pixels; ``contrast``: standard deviation of its
    grayscale (0..1); ``entropy``: Shannon entropy (bits, 0..8) of its 256-bin grayscale histogram;
    ``sharpness``: RMS Laplacian over RMS gradient of the grayscale, a ratio that blur lowers and
    brightness and contrast do not change; ``colourfulness``: mean spread between a pixel's
    largest and smallest channel (0..1; 0 = grayscale); ``pixel_digest``: blake2b-128 of the
    decoded pixels and their size, sha1 truncated to 128 bits (equal for pixel-identical files in any format);
    ``phash``: :func:`perceptual_hash`.
    """
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    # sha1 for speed (this runs on every image): an equality key, not a security measure
    digest = hashlib.sha1(f"{rgb.size[0]}x{rgb.size[1]}:".encode())
    digest.update(rgb.tobytes())
    small = thumbnail(rgb)
    arr = np.asarray(small, dtype=np.float32) / 255.0
    brightness = np.sqrt((arr * arr) @ _BRIGHTNESS_WEIGHTS).ravel()
    n = brightness.size
    ranks = [round(q * (n - 1)) for q in (0.05, 0.5, 0.99)]
    p05, p50, p99 = np.partition(brightness, ranks)[ranks]
    gray = arr @ _LUMA_WEIGHTS
    hist = np.bincount(np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.int64).ravel(), minlength=256)
    prob = hist[hist > 0] / gray.size
    entropy = float(-(prob * np.log2(prob)).sum())
    sharpness = 0.0
    if min(gray.shape) >= 3:
        gx, gy = np.diff(gray, axis=1), np.diff(gray, axis=0)
        lap = gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1] - 4 * gray[1:-1, 1:-1]
        gradient = np.sqrt((gx * gx).mean() + (gy * gy).mean())
        # a flat picture has neither: its ratio is noise, so it is 0 (low_information says why)
        sharpness = float(np.sqrt((lap * lap).mean()) / gradient) if gradient > 1e-3 else 0.0
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    values = {
        "brightness_p05": p05,
        "brightness_p50": p50,
        "brightness_p99": p99,
        "contrast": gray.std(),
        "entropy": entropy,
        "sharpness": sharpness,
        "colourfulness": (np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)).mean(),
    }
    # float32 as stored, so a reused row and a fresh decode say the same (the content digest)
    stats: dict[str, Any] = {name: float(np.float32(v)) for name, v in values.items()}
    stats["pixel_digest"] = digest.hexdigest()[:32]
    stats["phash"] = perceptual_hash(small.convert("L"))
    return stats
