"""Defaults and constants shared across stages (one place, so the CLI and library agree)."""

from __future__ import annotations

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"

#: neighbours stored per sample in neighbors.parquet
DEFAULT_K = 20

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".jfif"}
)
