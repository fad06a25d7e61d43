"""Decoding every image mode the index accepts, and refusing what it must not."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from curate.index import images
from curate.index.images import UnreadableImage, decode_rgb, probe, read_bytes
from tests.fixtures.images import (
    cmyk_jpeg,
    encode,
    exif_rotated_jpeg,
    grayscale,
    palette_with_transparency,
    png16,
    rgba,
)


def test_exif_rotated_jpeg_comes_out_rotated():
    img = decode_rgb(exif_rotated_jpeg())
    assert img.size == (20, 40)  # portrait on display
    top, bottom = np.asarray(img)[5, 10], np.asarray(img)[35, 10]
    assert top[0] > 200 and top[2] < 60  # the stored left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert probe(exif_rotated_jpeg()) == (20, 40)


def test_palette_transparency_goes_over_white():
    arr = np.asarray(decode_rgb(palette_with_transparency()))
    assert tuple(arr[5, 2]) == (0, 255, 0)
    assert tuple(arr[5, 8]) == (255, 255, 255)


def test_rgba_goes_over_white():
    arr = np.asarray(decode_rgb(rgba()))
    assert tuple(arr[5, 2]) == (255, 0, 0)
    assert tuple(arr[5, 8]) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb():
    img = decode_rgb(cmyk_jpeg())
    assert img.mode == "RGB" and img.size == (12, 8)
    r, g, b = np.asarray(img)[4, 6].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_16bit_png_is_scaled_not_clipped():
    arr = np.asarray(decode_rgb(png16()))
    assert arr.dtype == np.uint8
    assert tuple(arr[3, 5]) == (255, 255, 255)
    assert 126 <= arr[3, 1, 0] <= 129  # 32768 / 65535 of full scale, not clipped to 255


def test_grayscale_becomes_rgb():
    img = decode_rgb(grayscale())
    assert img.mode == "RGB" and tuple(np.asarray(img)[2, 3]) == (100, 100, 100)


def test_truncated_jpeg_is_refused_even_when_drafted():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    noise = (np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)
    data = encode(Image.fromarray(noise), "JPEG", quality=90)
    assert probe(data) == (128, 128)
    for cut in (len(data) // 2, len(data) - 2):
        with pytest.raises(UnreadableImage, match="truncated"):
            probe(data[:cut])
        with pytest.raises(UnreadableImage, match="truncated"):
            decode_rgb(data[:cut])


def test_probe_reports_full_size_of_drafted_jpeg():
    data = encode(Image.new("RGB", (640, 480), (10, 20, 30)), "JPEG")
    assert probe(data, draft_size=(32, 32)) == (640, 480)
    assert decode_rgb(data, draft_size=(32, 32)).size[0] < 640  # the draft really shrank it


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"hello, I am text", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image|corrupt"),
    ],
    ids=["empty", "text", "png-header-only"],
)
def test_garbage_is_unreadable(data, reason):
    with pytest.raises(UnreadableImage, match=reason):
        probe(data)


def test_decompression_bomb_is_refused(monkeypatch):
    data = grayscale()  # 7 x 5 = 35 pixels
    monkeypatch.setattr(images, "MAX_PIXELS", 34)
    with pytest.raises(UnreadableImage, match="decompression bomb: 7x5"):
        probe(data)
    monkeypatch.setattr(images, "MAX_PIXELS", 35)
    assert probe(data) == (7, 5)


def test_read_bytes_from_a_tar_member(tmp_path):
    import tarfile

    payload = grayscale()
    with tarfile.open(tmp_path / "s.tar", "w") as tar:
        info = tarfile.TarInfo("k1.png")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert read_bytes(str(tmp_path / "s.tar"), "k1.png", "webdataset") == payload
    with pytest.raises(KeyError):
        read_bytes(str(tmp_path / "s.tar"), "missing.png", "webdataset")


def test_read_bytes_from_parquet_rows_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    payloads = [grayscale() + bytes([i]) for i in range(7)]  # distinct trailing byte per row
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array([{"bytes": b, "path": None} for b in payloads], type=struct)})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=3)
    assert pq.ParquetFile(tmp_path / "x.parquet").metadata.num_row_groups == 3
    for i in (0, 2, 3, 6):
        assert read_bytes(str(tmp_path / "x.parquet"), f"row:{i}", "parquet") == payloads[i]
    with pytest.raises(KeyError):
        read_bytes(str(tmp_path / "x.parquet"), "row:7", "parquet")
