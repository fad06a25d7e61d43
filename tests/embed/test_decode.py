"""--decode: the batched tensor path (nvJPEG on a GPU) run on CPU tensors, against the PIL path."""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import main
from curate.embed.decode import (
    DevicePrefetcher,
    RawItem,
    TensorPreprocess,
    device_decodable,
    pixels_to_tensor,
    preprocess_raw,
    read_raw,
    resolve_decode,
    split_preprocess,
)
from curate.embed.encoder import ImageEncoder
from curate.embed.model import load_model
from curate.embed.reader import RawImageDataset, SampleRows, make_loader
from curate.errors import UsageError
from curate.examples import digit_images
from curate.index.images import decode_rgb
from tests.fixtures.images import special_images


def _photos() -> list[bytes]:
    """JPEGs of several sizes and aspect ratios, larger than the tiny model's 32 px input (so
    both paths resize): sklearn digits, tinted, at 64..150 px."""
    out = []
    sizes = [(64, 64), (150, 90), (90, 150), (120, 100), (77, 131), (100, 100)]
    for d, images in digit_images(1, size=64).items():
        gray = np.asarray(images[0].convert("L"), dtype=np.float32)
        rgb = np.stack([gray, gray * (0.3 + 0.07 * d), 255 - gray], axis=-1).clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).resize(sizes[d % len(sizes)], Image.BICUBIC).save(buf, "JPEG", quality=92)
        out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def tiny(tiny_clip_dir):
    return load_model(f"local-dir:{tiny_clip_dir}", None, device="cpu")


def test_split_preprocess_gives_exactly_the_transform(tiny):
    pil_part, tensor_part = split_preprocess(tiny.preprocess)
    for data in _photos()[:3]:
        image = decode_rgb(data)
        expected = tiny.preprocess(image)
        got = tensor_part(pixels_to_tensor(np.asarray(pil_part(image))))
        assert got.shape == expected.shape and bool((got == expected).all())


def test_tensor_path_embeddings_are_within_cosine_099_of_the_pil_path(tiny):
    """The device path (decode_jpeg + batched tensor resize/normalise), here on CPU tensors,
    against the CPU path (libjpeg draft decode + open_clip's PIL transform), through the model."""
    import torch

    photos = _photos()
    encoder = ImageEncoder(tiny)
    pil = torch.stack([tiny.preprocess(decode_rgb(d, draft_size=tiny.image_size[::-1])) for d in photos])
    prep = TensorPreprocess.for_model(tiny.model, device="cpu")
    rows, images, failed = preprocess_raw([read_raw(d, i) for i, d in enumerate(photos)], prep)
    assert rows == list(range(len(photos))) and not failed
    assert images.shape == pil.shape
    a, b = encoder(pil).astype(np.float32), encoder(images).astype(np.float32)
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.99, cosine
    # and the pixels themselves are close (normalised units; PIL and torch bicubic differ slightly)
    assert float((pil - images).abs().mean()) < 0.05


def test_only_plain_jpegs_go_to_the_device_decoder():
    special = {name: data for name, (data, _) in special_images().items()}
    assert device_decodable(_photos()[0])
    assert not device_decodable(special["exif.jpg"])  # EXIF rotation: PIL applies it on the CPU
    assert not device_decodable(special["cmyk.jpg"])
    assert not device_decodable(special["rgba.png"])
    assert not device_decodable(b"not an image")
    # everything else is decoded on the CPU, with the orientation applied
    item = read_raw(special["exif.jpg"], 0)
    assert item.jpeg is None and item.pixels is not None and item.pixels.shape[:2] == (40, 20)
    assert read_raw(b"", 1).error == "empty file (0 bytes)"


def test_a_jpeg_the_device_decoder_rejects_falls_back_to_the_cpu_and_names_the_fault():
    photo = _photos()[0]
    prep = TensorPreprocess(
        size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bicubic", resize_mode="shortest", device="cpu"
    )
    truncated = photo[: len(photo) // 3]
    items = [read_raw(photo, 0), RawItem(1, jpeg=truncated)]  # as if its header had passed
    rows, images, failed = preprocess_raw(items, prep)
    assert rows == [0] and images.shape == (1, 3, 32, 32)
    assert failed and failed[0][0] == 1 and "truncated" in failed[0][1]


def test_the_prefetcher_yields_the_loader_batches_in_order(tiny, tmp_path):
    import pyarrow as pa

    photos = _photos()
    paths = []
    for i, data in enumerate(photos):
        (tmp_path / f"{i}.jpg").write_bytes(data)
        paths.append(str(tmp_path / f"{i}.jpg"))
    n = len(paths)
    rows = SampleRows(
        pa.array([str(i) for i in range(n)]), pa.array(paths), pa.nulls(n, pa.string()), pa.array(["folder"] * n),
        pa.nulls(n, pa.string()),
    )  # fmt: skip
    batches = [[0, 1, 2], [3, 4], [5, 6, 7, 8, 9]]
    prep = TensorPreprocess.for_model(tiny.model, device="cpu")
    loader = make_loader(RawImageDataset(rows), batches, workers=2, pin_memory=False)
    prefetcher = DevicePrefetcher(loader, prep)
    got = list(prefetcher)
    prefetcher.close()
    assert [b.indices.tolist() for b in got] == batches
    direct = preprocess_raw([read_raw(photos[i], i) for i in batches[1]], prep)[1]
    assert bool((got[1].images == direct).all())


def test_decode_gpu_needs_cuda():
    assert resolve_decode("auto", "cpu") == "cpu"
    assert resolve_decode("auto", "cuda") == "gpu"
    assert resolve_decode("cpu", "cuda") == "cpu"
    # a workspace embedded on the CPU stays on the CPU path under auto (its re-runs stay incremental)
    assert resolve_decode("auto", "cuda", made_with="cpu") == "cpu"
    assert resolve_decode("auto", "cuda", made_with="gpu") == "gpu"
    assert resolve_decode("gpu", "cuda", made_with="cpu") == "gpu"  # asked for: the fingerprint says so
    with pytest.raises(UsageError, match="--decode gpu decodes JPEGs with nvJPEG on a CUDA GPU"):
        resolve_decode("gpu", "cpu")


def test_embed_decode_gpu_without_cuda_is_one_line_exit_2(image_workspace, tiny_clip_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --decode gpu is valid here")
    res = CliRunner().invoke(
        main,
        ["embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--pretrained", "",
         "--decode", "gpu"],
    )  # fmt: skip
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--decode gpu" in lines[0] and "--decode cpu" in lines[0], res.stderr
    assert not image_workspace.path("embeddings").exists()  # nothing written


def test_embed_decode_auto_without_cuda_uses_the_cpu_path(image_workspace, tiny_clip_dir):
    from curate.embed.runner import run_embed

    summary = run_embed(image_workspace, model=f"local-dir:{tiny_clip_dir}", pretrained=None, workers=0)
    assert summary["decode"] == ("gpu" if summary["device"] == "cuda" else "cpu")
