"""Images/s of curate's embed stage against a plain open_clip loop, on the same images, same run.

    PYTHONPATH=. python tests/bench/bench_embed.py [--images 512] [--size 640x480] [--batch-size 64]

* curate: the real ``run_embed`` (reader in DataLoader workers with JPEG draft decoding ->
  encoder -> sharded writer) on a workspace whose samples.parquet lists the images, with the
  model loaded through ``local-dir:`` like any user's air-gapped copy;
* plain: ``PIL.Image.open`` + open_clip's preprocess + ``encode_image`` in one process, batch by
  batch, the loop most scripts start with.

The model is the ViT-B-32 architecture with random weights (``pretrained=None``): weights do not
change the timing, and this is the only place curate builds a random model (the product refuses
to). A second table times decoding alone (no forward pass), the regime of a GPU, where the
forward pass costs next to nothing and decoding is the bottleneck. Both see the same JPEG files,
generated once (smooth random fields plus noise, photo-like entropy) into a temporary folder.

Measured on the 2-core development VM while other jobs loaded it (load average 7-10):
end to end 1.11x (512 images, best of 2) and 1.33x (256 images, best of 3); decoding alone
5.9x and 4.2x. On a CPU the ViT-B-32 forward pass is most of the plain loop's time, so hiding
decoding in workers can win at most 1 / (1 - decode share); on a GPU the forward pass is nearly
free and the end-to-end ratio approaches the decode-only one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def make_photos(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """``n`` JPEGs of ``size`` (w, h): low-frequency colour fields with detail, quality 90."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    paths = []
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8), "RGB")
        base = np.asarray(coarse.resize((w, h), Image.BICUBIC), dtype=np.int16)
        detail = rng.normal(0, 12, size=(h, w, 3)).astype(np.int16)
        pixels = np.clip(base + detail, 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:05d}.jpg"
        Image.fromarray(pixels, "RGB").save(path, quality=90)
        paths.append(path)
    return paths


def random_vit_b32_dir(folder: Path) -> Path:
    """ViT-B-32 with random weights saved in open_clip's hub layout, for ``local-dir:``."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config("ViT-B-32")}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


def plain_loop(model, preprocess, paths: list[Path], batch_size: int) -> tuple[float, float]:
    """The baseline: (images/s end to end, images/s of decoding + preprocessing alone)."""
    import torch
    from PIL import Image

    start = time.perf_counter()
    with torch.no_grad():
        for b in range(0, len(paths), batch_size):
            images = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[b : b + batch_size]])
            model.encode_image(images, normalize=True).numpy()
    total = time.perf_counter() - start
    start = time.perf_counter()
    for p in paths:
        preprocess(Image.open(p).convert("RGB"))
    decode = time.perf_counter() - start
    return len(paths) / total, len(paths) / decode


def curate_decode_only(loaded, rows, batch_size: int, workers: int) -> float:
    """images/s of curate's reader alone (DataLoader workers, draft decoding, preprocess)."""
    from curate.embed.reader import ImageDataset, make_loader, shard_batches

    dataset = ImageDataset(rows, loaded.preprocess, image_size=loaded.image_size)
    start = time.perf_counter()
    count = 0
    for batch in make_loader(dataset, shard_batches([range(len(rows))], batch_size), workers=workers, pin_memory=False):
        count += len(batch.indices)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", default="640x480", help="WxH of the generated JPEGs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="alternating passes per side; best is kept")
    parser.add_argument("--workers", type=int, default=None, help="curate's decoding processes [default: CPUs, max 8]")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    import pyarrow.parquet as pq
    import torch

    from curate.config import default_workers
    from curate.embed.model import load_model
    from curate.embed.reader import readable_rows
    from curate.embed.runner import run_embed
    from curate.workspace import Workspace
    from tests.fixtures.samples import write_samples

    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="bench_embed_") as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        (tmp / "model").mkdir()
        paths = make_photos(tmp / "images", args.images, (w, h))
        model_dir = random_vit_b32_dir(tmp / "model")
        ws = Workspace(tmp / "ws")
        write_samples(ws, [(p, None) for p in paths])

        loaded = load_model(f"local-dir:{model_dir}", None, device="cpu")
        with torch.no_grad():  # warm-up, so neither side pays for first-call allocation
            loaded.model.encode_image(torch.zeros(8, 3, *loaded.image_size))
        rows = readable_rows(pq.read_table(ws.path("samples")))
        # Other processes share the CPU; alternate the two sides and keep each one's best pass.
        plain_rate = plain_decode = curate_rate = curate_decode = 0.0
        for _ in range(args.repeats):
            rate, decode = plain_loop(loaded.model, loaded.preprocess, paths, args.batch_size)
            plain_rate, plain_decode = max(plain_rate, rate), max(plain_decode, decode)
            shutil.rmtree(ws.path("embeddings"), ignore_errors=True)
            summary = run_embed(
                ws,
                model=f"local-dir:{model_dir}",
                pretrained=None,
                device="cpu",
                batch_size=args.batch_size,
                workers=workers,
            )
            assert summary["num_embedded"] == args.images
            if summary["images_per_s"] > curate_rate:
                curate_rate, best = summary["images_per_s"], summary
            curate_decode = max(curate_decode, curate_decode_only(loaded, rows, args.batch_size, workers))

    print(
        f"\n{args.images} JPEGs {w}x{h}, ViT-B-32 (random weights), cpu, batch {args.batch_size}, "
        f"curate workers {workers}, torch threads {torch.get_num_threads()}\n"
    )
    print("| pipeline | plain loop (img/s) | curate (img/s) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| end to end (decode + forward) | {plain_rate:.1f} | {curate_rate:.1f} | {curate_rate / plain_rate:.2f}x |")
    print(
        f"| decode + preprocess only | {plain_decode:.1f} | {curate_decode:.1f} | {curate_decode / plain_decode:.2f}x |"
    )
    s = best["seconds"]
    print(
        f"\ncurate's best pass, seconds per step: waiting for the reader {s['read']:.2f}, decoding "
        f"(worker CPU) {s['decode_cpu']:.2f}, encode {s['encode']:.2f}, write {s['write']:.3f}; "
        f"best of {args.repeats} alternating passes per side"
    )


if __name__ == "__main__":
    main()
