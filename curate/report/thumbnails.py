"""Small inline thumbnails for the report: one image in, one ``data:`` URI out.

Images are read with :func:`curate.index.images.read_bytes` (any container: folder, tar,
Parquet) and decoded with :func:`curate.index.images.decode_rgb`, shrunk to at most
``THUMB_SIZE`` pixels a side and re-encoded as WebP (JPEG where Pillow lacks WebP), so a
thumbnail costs a few kilobytes of the page. Array-input workspaces have no images: their
samples get no URI and the page shows the id and label instead.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, features

from curate.index.images import UnreadableImage, decode_rgb, read_bytes

#: longest side of a thumbnail, pixels (shown at 120 CSS px; a little oversampling stays sharp)
THUMB_SIZE = 128
QUALITY = 72

_FORMAT, _MIME = ("WEBP", "image/webp") if features.check("webp") else ("JPEG", "image/jpeg")

#: sources whose samples have no image to show
IMAGELESS_SOURCES = frozenset({"array"})


def encode_thumbnail(img: Image.Image, *, size: int = THUMB_SIZE) -> str:
    """An RGB image -> ``data:image/webp;base64,...`` at most ``size`` pixels a side.

    Tiny images (an 8x8 digit) are enlarged with nearest-neighbour so pixels stay visible.
    """
    img = img.convert("RGB")
    w, h = img.size
    scale = size / max(w, h)
    if scale < 1:
        img = img.copy()
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
    elif max(w, h) * 4 <= size:
        factor = size // max(w, h)
        img = img.resize((w * factor, h * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format=_FORMAT, quality=QUALITY)
    return f"data:{_MIME};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def thumbnail_uri(path: str, member: str | None, source: str, *, size: int = THUMB_SIZE) -> str | None:
    """Thumbnail of one sample located by samples.parquet's ``(path, member, source)``.

    None when the sample has no image (array inputs) or cannot be read or decoded any more.
    """
    if source in IMAGELESS_SOURCES or not path:
        return None
    try:
        data = read_bytes(path, member, source)
        img = decode_rgb(data, draft_size=(size, size))
    except (OSError, KeyError, ValueError, UnreadableImage):
        return None
    return encode_thumbnail(img, size=size)


class Thumbnails:
    """Thumbnails by sample id, each decoded at most once per report (a sample can appear in
    several sections). ``locations`` maps sample_id -> (path, member, source); callers add the
    samples they are about to show."""

    def __init__(self, *, size: int = THUMB_SIZE):
        self.locations: dict[str, tuple[str, str | None, str]] = {}
        self._size = size
        self._cache: dict[str, str | None] = {}

    def get(self, sample_id: str) -> str | None:
        if sample_id not in self._cache:
            where = self.locations.get(sample_id)
            self._cache[sample_id] = None if where is None else thumbnail_uri(*where, size=self._size)
        return self._cache[sample_id]

    @property
    def count(self) -> int:
        """How many distinct images were encoded (for the size budget)."""
        return sum(uri is not None for uri in self._cache.values())
