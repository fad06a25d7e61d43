"""Reading one sample's bytes and decoding them to an RGB image, whatever the container.

A sample is located by ``(path, member, source)`` from samples.parquet:

* ``folder`` / ``manifest``: ``path`` is the image file, ``member`` is null;
* ``webdataset``: ``path`` is the tar shard, ``member`` the member name inside it;
* ``parquet``: ``path`` is the Parquet file, ``member`` is ``"row:<i>"`` and the bytes are in the
  Hugging Face ``image`` struct column ({bytes, path}) of that row.

``path`` may be a URL (:mod:`curate.index.remote`): a file is fetched whole, a Parquet row group
is read by range, and a member of a remote tar shard is one range read, its member name
carrying where its bytes are (``"<name>@<offset>+<size>"``, :func:`ranged_member`), so no
process ever reads a remote shard from the start to find one image.

Which files are images is what this Pillow can decode (:func:`image_extensions`): JPEG, PNG,
WebP, TIFF, AVIF, JPEG 2000 and the rest of Pillow's readers, plus HEIC/HEIF through
pillow-heif, whose opener is registered on import.
"""

from __future__ import annotations

import bisect
import io
import os
import re
import tarfile
from functools import lru_cache

from PIL import Image, ImageFile, ImageOps

from curate.index.remote import is_url, open_url, read_url, retrying

try:  # HEIC/HEIF (phone photos); without it those files are reported as an unsupported format
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is a dependency; a broken install still indexes
    pass
else:
    register_heif_opener()

#: Pillow's decompression-bomb guard, explicit so it holds whatever the caller set globally.
MAX_PIXELS = 178_956_970


#: formats Pillow identifies by their header but has no decoder for
_IDENTIFY_ONLY = frozenset({"MPEG"})
#: formats Pillow reads through another format's opener (a multi-picture JPEG opens as JPEG)
_OPENED_AS = {"MPO": "JPEG"}

#: image formats Pillow does not decode, so a file of one is reported as unsupported rather than
#: as "not an image": vector graphics, camera raw files, JPEG XL
OTHER_IMAGE_EXTENSIONS = frozenset(
    {".svg", ".svgz", ".jxl", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".heic", ".heif", ".avif"}
)


@lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) of every format this Pillow decodes: its
    registered readers, without stubs (HDF5, GRIB, ... need a handler), header-only plugins
    (MPEG) and EPS without Ghostscript."""
    from PIL import EpsImagePlugin

    Image.init()
    out = set()
    for ext, fmt in Image.registered_extensions().items():
        factory = Image.OPEN.get(_OPENED_AS.get(fmt, fmt), (None,))[0]
        if factory is None or fmt in _IDENTIFY_ONLY:
            continue
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            continue
        if fmt == "EPS" and not EpsImagePlugin.has_ghostscript():
            continue
        out.add(ext.lower())
    return frozenset(out)


@lru_cache(maxsize=1)
def unsupported_extensions() -> frozenset[str]:
    """Extensions of image formats that this installation cannot decode (Pillow writes or
    identifies them, or they are well-known formats it has no reader for)."""
    Image.init()
    known = {ext.lower() for ext in Image.registered_extensions()} | OTHER_IMAGE_EXTENSIONS
    return frozenset(known - image_extensions())


#: how much of a file with an unknown extension is read to tell whether it is an image
SNIFF_BYTES = 64 * 1024


def looks_like_image(head: bytes) -> bool:
    """Whether Pillow recognises the first bytes of a file as an image it can decode."""
    try:
        with Image.open(io.BytesIO(head)) as img:
            return img.format not in _IDENTIFY_ONLY
    except Exception:  # noqa: BLE001 - any failure to identify means "not an image we read"
        return False


_RANGED_MEMBER = re.compile(r"^(?P<name>.+)@(?P<offset>\d+)\+(?P<size>\d+)$")


def ranged_member(name: str, offset: int, size: int) -> str:
    """The ``member`` of an image in a remote tar shard: its name and where its bytes are."""
    return f"{name}@{offset}+{size}"


def member_range(member: str) -> tuple[str, int, int]:
    """(name, offset, size) of a :func:`ranged_member`; KeyError when it carries no range."""
    match = _RANGED_MEMBER.match(member)
    if match is None:
        raise KeyError(f"{member} carries no byte range (re-index the remote shard)")
    return match["name"], int(match["offset"]), int(match["size"])


class UnreadableImage(Exception):
    """The bytes are not a decodable image; ``str(exc)`` is the reason recorded in samples.parquet."""


# The caches are keyed by process id: a forked DataLoader worker must not share its parent's
# open tar file (one file offset for all processes would interleave their reads).
@lru_cache(maxsize=8)
def _tar(path: str, pid: int) -> tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    """An open shard and its members by name (TarFile.getmember is a linear scan per call)."""
    tar = tarfile.open(path, "r")
    return tar, {m.name: m for m in tar.getmembers()}


@lru_cache(maxsize=4)
def _row_groups(path: str, pid: int) -> tuple[object, list[int]]:
    """An open Parquet file and the first row of each row group (plus the total at the end)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(open_url(path) if is_url(path) else path)
    starts = [0]
    for i in range(pf.metadata.num_row_groups):
        starts.append(starts[-1] + pf.metadata.row_group(i).num_rows)
    return pf, starts


@lru_cache(maxsize=4)
def _row_group_images(path: str, group: int, column: str, pid: int):
    """One row group's image column: memory per process is a few row groups, not whole files."""
    pf, _ = _row_groups(path, pid)
    if is_url(path):
        return retrying(path, lambda: pf.read_row_group(group, columns=[column]).column(column))
    return pf.read_row_group(group, columns=[column]).column(column)


def read_bytes(path: str, member: str | None = None, source: str = "folder", *, image_column: str = "image") -> bytes:
    """The encoded bytes of one sample. Raises OSError/KeyError when the container lacks it,
    :class:`~curate.index.remote.RemoteReadError` when a remote read fails for good."""
    pid = os.getpid()
    remote = is_url(path)
    if source == "webdataset" and remote:
        _, offset, size = member_range(str(member))
        return read_url(path, offset, offset + size)
    if source == "webdataset":
        tar, members = _tar(path, pid)
        info = members.get(str(member))
        handle = tar.extractfile(info) if info is not None else None
        if handle is None:
            raise KeyError(f"{member} is not a file in {path}")
        return handle.read()
    if source == "parquet":
        row = int(str(member).removeprefix("row:"))
        _, starts = _row_groups(path, pid)
        if not 0 <= row < starts[-1]:
            raise KeyError(f"row {row} is not in {path} ({starts[-1]} rows)")
        group = bisect.bisect_right(starts, row) - 1
        value = _row_group_images(path, group, image_column, pid)[row - starts[group]].as_py()
        if isinstance(value, dict):
            value = value.get("bytes")
        if not value:
            raise UnreadableImage("no image bytes in this row")
        return bytes(value)
    if remote:
        return read_url(path)
    with open(path, "rb") as f:
        return f.read()


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, EXIF orientation applied.

    Transparency is composited over white (a transparent background is not black); 16-bit and
    32-bit integer images are scaled to 8 bits rather than clipped; CMYK, palette, LA, and
    grayscale go through Pillow's conversions.
    """
    img = ImageOps.exif_transpose(img)
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype("uint8")
        return Image.fromarray(gray, "L").convert("RGB")
    if img.mode == "F":
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(scaled.astype("uint8"), "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


#: Draft size used when the index only needs to prove that an image decodes: libjpeg then
#: decodes at its smallest scale (1/8), which still reads every byte, so a truncated JPEG still
#: fails; about 3x faster than a full decode of a 640x480 photo.
PROBE_DRAFT = (1, 1)

#: EXIF orientations that turn the stored image by 90 degrees (width and height swap on display).
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


def _decode(data: bytes, draft_size: tuple[int, int] | None) -> tuple[Image.Image, tuple[int, int]]:
    """(RGB image, full-size (width, height) as displayed). Raises UnreadableImage."""
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise UnreadableImage(f"decompression bomb: {w}x{h} pixels exceeds {MAX_PIXELS}")
            if img.getexif().get(0x0112) in _SWAPPING_ORIENTATIONS:
                w, h = h, w
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", draft_size)
            img.load()
            return to_rgb(img), (w, h)
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        raise UnreadableImage("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(f"corrupt or truncated image: {exc}") from None
    except Exception as exc:  # Pillow plugins raise assorted types on malformed files
        raise UnreadableImage(f"cannot decode: {type(exc).__name__}: {exc}") from None


def decode_rgb(data: bytes, *, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode encoded bytes to a fully loaded RGB image.

    ``draft_size``: for JPEG, let libjpeg decode at a reduced scale that is still at least this
    size (much faster when the model input is far smaller than the photo).
    Raises :class:`UnreadableImage` with a short reason on any failure.
    """
    return _decode(data, draft_size)[0]


def decode_draft(data: bytes, draft_size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """(RGB image decoded at a JPEG draft of at least ``draft_size``, full-size ``(width,
    height)`` as displayed): one decode that both proves the bytes readable and gives a picture
    to measure (:mod:`curate.index.properties`). Raises :class:`UnreadableImage`."""
    return _decode(data, draft_size)


def probe(data: bytes, *, draft_size: tuple[int, int] | None = PROBE_DRAFT) -> tuple[int, int]:
    """Prove that ``data`` decodes to RGB the way :func:`decode_rgb` will, and return the
    full-size ``(width, height)`` as displayed (EXIF orientation applied), whatever the draft.

    Raises :class:`UnreadableImage` with a short reason on any failure.
    """
    return _decode(data, draft_size)[1]
