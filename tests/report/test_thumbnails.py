import base64
import io

from PIL import Image

from curate.report.thumbnails import THUMB_SIZE, Thumbnails, encode_thumbnail, thumbnail_uri


def _decode(uri: str) -> Image.Image:
    head, data = uri.split(",", 1)
    assert head in ("data:image/webp;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_large_images_shrink_small_ones_grow():
    big = _decode(encode_thumbnail(Image.new("RGB", (1000, 500), "red")))
    assert max(big.size) == THUMB_SIZE and big.size[0] == 2 * big.size[1]
    tiny = _decode(encode_thumbnail(Image.new("L", (8, 8), 128)))
    assert tiny.size == (128, 128)


def test_thumbnail_uri_reads_files_and_tolerates_bad_ones(tmp_path):
    good = tmp_path / "a.png"
    Image.new("RGBA", (64, 40), (0, 0, 255, 128)).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not an image")
    assert _decode(thumbnail_uri(str(good), None, "folder")).size == (64, 40)
    assert thumbnail_uri(str(bad), None, "folder") is None
    assert thumbnail_uri(str(tmp_path / "gone.png"), None, "folder") is None
    assert thumbnail_uri("", None, "array") is None


def test_cache_decodes_each_sample_once(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "green").save(path)
    thumbs = Thumbnails()
    thumbs.locations["a"] = (str(path), None, "folder")
    first = thumbs.get("a")
    path.unlink()
    assert thumbs.get("a") == first and thumbs.count == 1
    assert thumbs.get("unknown") is None
