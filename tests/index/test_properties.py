"""The image properties the defect checks read, measured from the index's one decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter
from sklearn.datasets import load_sample_images

from curate.index.images import decode_draft
from curate.index.properties import DRAFT, measure
from curate.index.stage import run_index
from curate.workspace import Workspace


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A 320 x 240 crop of scikit-learn's sample photo of a Chinese temple."""
    return Image.fromarray(load_sample_images().images[0][100:340, 150:470])


def _bits(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def _encoded(img: Image.Image, fmt: str, **kwargs) -> dict:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    decoded, _ = decode_draft(buf.getvalue(), DRAFT)
    return measure(decoded)


def test_brightness_follows_exposure(photo):
    arr = np.asarray(photo, dtype=np.float32)
    normal = measure(photo)
    dark = measure(Image.fromarray((arr * 0.3).astype(np.uint8)))
    washed = measure(Image.fromarray((arr * 0.3 + 178).astype(np.uint8)))
    assert dark["brightness_p99"] < 0.4 * normal["brightness_p99"]
    assert washed["brightness_p05"] > normal["brightness_p05"] + 0.5
    assert washed["contrast"] < 0.5 * normal["contrast"]


def test_sharpness_drops_with_blur_but_not_with_size_or_contrast(photo):
    sharp = measure(photo)["sharpness"]
    assert measure(photo.filter(ImageFilter.GaussianBlur(3)))["sharpness"] < 0.7 * sharp
    # the same picture at twice the size, or at half the contrast, is as sharp
    assert measure(photo.resize((640, 480), Image.Resampling.LANCZOS))["sharpness"] == pytest.approx(sharp, rel=0.2)
    faint = Image.fromarray((np.asarray(photo, dtype=np.float32) * 0.5 + 64).astype(np.uint8))
    assert measure(faint)["sharpness"] == pytest.approx(sharp, rel=0.1)


def test_flat_pictures_have_low_entropy_and_no_sharpness():
    flat = measure(Image.new("RGB", (200, 150), (90, 120, 60)))
    assert flat["entropy"] == 0.0 and flat["sharpness"] == 0.0 and flat["contrast"] < 1e-6


def test_grayscale_has_no_colour_in_any_file_mode(photo):
    assert measure(photo)["colourfulness"] > 0.05
    gray = photo.convert("L")
    assert _encoded(gray, "JPEG", quality=90)["colourfulness"] == 0.0
    # an RGB JPEG of a gray picture: chroma noise only
    assert _encoded(gray.convert("RGB"), "JPEG", quality=90)["colourfulness"] < 0.005


def test_pixel_digest_is_the_pixels_whatever_the_format(photo):
    png, bmp, tiff = (_encoded(photo, fmt) for fmt in ("PNG", "BMP", "TIFF"))
    assert png["pixel_digest"] == bmp["pixel_digest"] == tiff["pixel_digest"]
    touched = np.asarray(photo).copy()
    touched[0, 0] ^= 1
    assert measure(Image.fromarray(touched))["pixel_digest"] != png["pixel_digest"]


def test_perceptual_hash_matches_reencoded_copies_only(photo):
    original = measure(photo)["phash"]
    copy = _encoded(photo.resize((200, 150), Image.Resampling.LANCZOS), "JPEG", quality=70)["phash"]
    other = measure(Image.fromarray(load_sample_images().images[1][100:340, 150:470]))["phash"]
    assert _bits(original, copy) <= 6
    assert _bits(original, other) >= 20


def test_index_stores_the_properties_and_reuses_them(tmp_path, photo):
    data = tmp_path / "data"
    data.mkdir()
    photo.save(data / "a.jpg", quality=90)
    photo.convert("L").save(data / "b.png")
    ws = Workspace(tmp_path / "ws")
    run_index(data, ws, workers=0)
    rows = {r["sample_id"]: r for r in ws.read_table("samples").to_pylist()}
    assert rows["b.png"]["image_stats"]["colourfulness"] == 0.0
    assert rows["a.jpg"]["image_stats"]["colourfulness"] > 0.05
    again = run_index(data, ws, workers=0)
    assert again["up_to_date"] and again["decoded"] == 0
    assert ws.read_table("samples").column("image_stats").to_pylist() == [rows[k]["image_stats"] for k in sorted(rows)]
