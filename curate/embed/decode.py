"""Where images are decoded and resized: on CPU workers (PIL), or on the GPU (nvJPEG) in batches.

``--decode cpu`` is the reader's path: libjpeg decodes (at reduced scale when that still covers
the model input) in DataLoader workers and open_clip's PIL transform resizes, one image at a
time. On a GPU that path caps throughput at a few hundred images/s per CPU core, far below what
the vision tower can encode, so ``--decode gpu`` moves the work to the device:

* workers only read the bytes: a baseline RGB or grayscale JPEG with no EXIF rotation goes to the
  device as is; anything else (PNG, CMYK, rotated, ...) is decoded on the CPU at full size
  (:func:`curate.index.images.decode_rgb`), the fallback for every case nvJPEG does not cover;
* the main process decodes the JPEGs of a batch in one ``torchvision.io.decode_jpeg(...,
  device="cuda")`` call (nvJPEG), copies the CPU-decoded pixels to the device as uint8, and
  resizes, crops and normalises the whole batch there (:class:`TensorPreprocess`);
* a background thread prepares batch ``i + 1`` on its own CUDA stream while the forward pass of
  batch ``i`` runs (:class:`DevicePrefetcher`), so decode, transfer and forward overlap.

The tensor resize is not PIL's, so the vectors differ slightly from the CPU path's (cosine above
0.99, tested); the decode mode is part of the embeddings' fingerprint (``decode``). The same
code runs with ``device="cpu"`` (``decode_jpeg`` decodes on the CPU then), which is how the
tests exercise it on a machine without a GPU.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.errors import UsageError

#: what ``--decode`` accepts: auto is gpu on a CUDA device, cpu elsewhere
DECODES = ("auto", "cpu", "gpu")

#: How images are decoded before open_clip's preprocessing, per mode; part of the fingerprint
#: because a JPEG decoded at reduced scale, or resized by another kernel, gives (slightly)
#: different pixels.
DECODE_PARAMS = {
    "cpu": "curate.index.images.decode_rgb/jpeg-draft-to-input-size",
    "gpu": "torchvision.io.decode_jpeg/nvjpeg+tensor-resize",
}

#: resize modes of open_clip's preprocess config that :class:`TensorPreprocess` reproduces
TENSOR_RESIZE_MODES = ("shortest", "squash")


def resolve_decode(decode: str, device: str, *, made_with: str | None = None) -> str:
    """``auto`` -> ``gpu`` on a CUDA ``device`` (already resolved), else ``cpu``; but ``cpu``
    when the workspace's embeddings were ``made_with`` it, so a re-run on a GPU of a workspace
    embedded on the CPU stays incremental rather than being refused as made with other
    parameters. ``gpu`` without CUDA is a :class:`UsageError` (one line saying what to use)."""
    if decode not in DECODES:
        raise UsageError(f"unknown --decode {decode!r}; use one of: {', '.join(DECODES)}")
    if decode == "cpu" or (decode == "auto" and made_with == "cpu"):
        return "cpu"
    if device == "cuda":
        return "gpu"
    if decode == "gpu":
        raise UsageError(
            f"--decode gpu decodes JPEGs with nvJPEG on a CUDA GPU, but this run's device is {device}; "
            "use --decode cpu (or auto)"
        )
    return "cpu"


def split_preprocess(preprocess: Any) -> tuple[Any, Any]:
    """open_clip's eval transform cut at its to-tensor step: ``(pil_part, tensor_part)``.

    ``pil_part(image)`` is the PIL image the transform would turn into a tensor (resized, cropped,
    RGB); ``tensor_part(x)`` takes that image as a (3, H, W) float32 tensor in 0..1 (see
    :func:`pixels_to_tensor`) to the model input (normalised). Applying both gives exactly
    ``preprocess(image)``, which lets a decode task ship uint8 pixels (a quarter of the float32
    bytes) and the encoder finish the job. None when the transform has no to-tensor step.
    """
    from torchvision.transforms import Compose

    steps = list(getattr(preprocess, "transforms", []))
    for i, step in enumerate(steps):
        if "ToTensor" in type(step).__name__:
            return Compose(steps[:i]), Compose(steps[i + 1 :])
    return None, None


def pixels_to_tensor(pixels: np.ndarray) -> Any:
    """(b, H, W, 3) or (H, W, 3) uint8 -> float32 tensor (b, 3, H, W) / (3, H, W) in 0..1, the
    same numbers torchvision's ``to_tensor`` gives for an RGB image."""
    import torch

    x = torch.from_numpy(np.require(pixels, requirements=["C", "W"]))
    return x.permute(*range(x.ndim - 3), x.ndim - 1, x.ndim - 3, x.ndim - 2).contiguous().float().div(255)


@dataclass
class TensorPreprocess:
    """open_clip's eval preprocessing as batched tensor operations on ``device``.

    ``images``: a list of (3, h, w) uint8 tensors of any sizes (on any device) ->
    (b, 3, H, W) float32 on ``device``: shortest side resized to the input size (bicubic,
    antialiased), centre-cropped (or squashed, as the model's config says), scaled to 0..1 and
    normalised by the model's mean and std. Images of the same size are resized in one call.
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    resize_mode: str
    device: str

    @classmethod
    def for_model(cls, model: Any, *, device: str) -> TensorPreprocess:
        """The preprocessing open_clip configured for ``model`` (its ``preprocess_cfg``)."""
        import open_clip

        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg["size"]
        size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        mode = cfg.get("resize_mode", "shortest")
        if mode not in TENSOR_RESIZE_MODES:
            raise UsageError(f"--decode gpu cannot reproduce resize mode {mode!r} of this model; use --decode cpu")
        return cls(
            size=size,
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            interpolation=cfg.get("interpolation", "bicubic"),
            resize_mode=mode,
            device=device,
        )

    def _resize(self, x: Any) -> Any:
        """(n, 3, h, w) float32 in 0..255 -> (n, 3, H, W), as open_clip's Resize + CenterCrop."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        mode = InterpolationMode(self.interpolation)
        if self.resize_mode == "squash":
            return F.resize(x, list(self.size), interpolation=mode, antialias=True)
        # shortest side to the input size, as torchvision's Resize(int) (open_clip's transform)
        x = F.resize(x, [min(self.size)], interpolation=mode, antialias=True)
        return F.center_crop(x, list(self.size))

    def __call__(self, images: Sequence[Any]) -> Any:
        import torch

        out = torch.empty((len(images), 3, *self.size), dtype=torch.float32, device=self.device)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(tuple(image.shape), []).append(i)
        for positions in by_shape.values():
            # each image moves on its own: from pinned memory that copy is asynchronous (a stack
            # on the CPU would first make an unpinned copy); device-decoded ones are already there
            x = torch.stack([images[i].to(self.device, non_blocking=True) for i in positions]).float()
            # PIL rounds and clips the resized pixels to uint8; so do we, before scaling to 0..1
            out[positions] = self._resize(x).clamp_(0, 255).round_()
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return out.div_(255).sub_(mean).div_(std)


def device_decodable(data: bytes) -> bool:
    """Whether nvJPEG can take these bytes as they are: a JPEG in RGB/YCbCr or grayscale, with no
    EXIF rotation, within the decompression-bomb limit. Reads the header only."""
    from PIL import Image

    from curate.index.images import MAX_PIXELS

    try:
        with Image.open(io.BytesIO(data)) as img:
            return (
                img.format == "JPEG"
                and img.mode in ("RGB", "L")
                and img.size[0] * img.size[1] <= MAX_PIXELS
                and img.getexif().get(0x0112, 1) == 1
            )
    except Exception:  # noqa: BLE001 - anything PIL cannot even open goes the CPU way, which names the fault
        return False


def decode_on_device(encoded: Sequence[bytes], device: str) -> list[Any | None]:
    """JPEG bytes -> (3, h, w) uint8 tensors on ``device``, in one batched ``decode_jpeg`` call
    (nvJPEG on cuda); where the batch call fails, image by image, None for those that fail."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    if not encoded:
        return []
    tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in encoded]
    try:
        return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        pass
    out: list[Any | None] = []
    for t in tensors:
        try:
            out.append(decode_jpeg(t, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            out.append(None)
    return out


@dataclass
class RawItem:
    """One image as a worker hands it over: ``jpeg`` bytes for the device decoder, or ``pixels``
    (h, w, 3) uint8 decoded on the CPU; ``error`` when it could not be read at all, ``fatal``
    when the store itself is unreachable (:class:`curate.index.remote.RemoteReadError`)."""

    row: int
    jpeg: bytes | None = None
    pixels: np.ndarray | None = None
    error: str | None = None
    fatal: Exception | None = None  # a remote read that failed for good: the run ends with it


def read_raw(data: bytes, row: int) -> RawItem:
    """What a worker does with an image's bytes under ``--decode gpu``: nothing for a JPEG nvJPEG
    takes, a full CPU decode for everything else (or the reason it cannot be decoded)."""
    from curate.index.images import UnreadableImage, decode_rgb

    if device_decodable(data):
        return RawItem(row, jpeg=data)
    try:
        return RawItem(row, pixels=np.asarray(decode_rgb(data)))
    except UnreadableImage as exc:
        return RawItem(row, error=str(exc))


def preprocess_raw(items: Sequence[RawItem], prep: TensorPreprocess) -> tuple[list[int], Any, list[tuple[int, str]]]:
    """A batch of :class:`RawItem` -> ``(rows, images (b, 3, H, W) float32 on prep.device | None,
    failed (row, reason))``: JPEGs decoded on the device, the rest uploaded as uint8, then
    :class:`TensorPreprocess`. A JPEG the device decoder rejects is decoded on the CPU instead."""
    import torch

    from curate.index.images import UnreadableImage, decode_rgb

    jpegs = [(item.row, item.jpeg) for item in items if item.jpeg is not None]
    decoded = dict(zip((row for row, _ in jpegs), decode_on_device([data for _, data in jpegs], prep.device)))
    rows: list[int] = []
    images: list[Any] = []
    failed: list[tuple[int, str]] = []
    for item in items:
        image = decoded.get(item.row)
        if image is None and item.jpeg is not None:
            try:  # the CPU fallback, which also names what is wrong with the file
                item = RawItem(item.row, pixels=np.asarray(decode_rgb(item.jpeg)))
            except UnreadableImage as exc:
                item = RawItem(item.row, error=str(exc))
        if image is None and item.pixels is not None:
            image = torch.from_numpy(np.require(item.pixels, requirements=["C", "W"])).permute(2, 0, 1)
            if prep.device == "cuda":
                image = image.pin_memory()
        if image is None:
            failed.append((item.row, item.error or "cannot decode"))
            continue
        rows.append(item.row)
        images.append(image)
    return rows, (prep(images) if images else None), failed


@dataclass
class DeviceBatch:
    """A batch ready for the encoder. ``indices``: (b,) rows of ``images`` (b, 3, H, W) on the
    device (None when every sample failed); ``failed``: (row, reason); ``decode_seconds``: worker
    reading time plus this batch's device decode and preprocessing time; ``fatal``: a remote read
    that failed for good, which the runner raises."""

    indices: Any
    images: Any
    failed: list[tuple[int, str]]
    decode_seconds: float
    fatal: Exception | None = None


class DevicePrefetcher:
    """Turns batches of :class:`RawItem` (from DataLoader workers) into :class:`DeviceBatch`,
    one batch ahead, in a background thread with its own CUDA stream.

    The forward pass of batch ``i`` (default stream) overlaps the decode and upload of batch
    ``i + 1`` (side stream); a CUDA event hands each batch over. Errors in the thread are raised
    in the consumer. On a CPU ``device`` the same code runs without streams.
    """

    def __init__(self, batches: Iterable[tuple[list[RawItem], float]], prep: TensorPreprocess, *, depth: int = 2):
        self.prep = prep
        self._batches = batches
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="curate-device-decode", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        import torch

        cuda = self.prep.device == "cuda"
        stream = torch.cuda.Stream() if cuda else None
        done = object()
        try:
            for items, read_seconds in self._batches:
                if self._stop.is_set():
                    return
                start = time.perf_counter()
                if stream is not None:
                    with torch.cuda.stream(stream):
                        rows, images, failed = preprocess_raw(items, self.prep)
                        event = torch.cuda.Event()
                        event.record(stream)
                else:
                    rows, images, failed = preprocess_raw(items, self.prep)
                    event = None
                seconds = read_seconds + time.perf_counter() - start
                fatal = next((item.fatal for item in items if item.fatal is not None), None)
                batch = DeviceBatch(torch.tensor(rows, dtype=torch.int64), images, failed, seconds, fatal)
                self._queue.put((batch, event))
            self._queue.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._queue.put((exc, None))

    def __iter__(self) -> Iterator[DeviceBatch]:
        import torch

        while True:
            item, event = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if not isinstance(item, DeviceBatch):
                return
            if event is not None:
                torch.cuda.current_stream().wait_event(event)
                if item.images is not None:  # made on the side stream, used (and freed) on this one
                    item.images.record_stream(torch.cuda.current_stream())
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
