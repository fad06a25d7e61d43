"""The one-shot GPU check: the figures docs/benchmarks.md asks of a GPU, in one run of minutes.

    PYTHONPATH=. python tests/bench/device_check.py [--full N] [--small N] [--knn-rows N] [--json FILE]

Run through ``tests/bench/device_check.sh``, which first installs what a bare machine with torch,
torchvision, pyarrow, numpy and pillow lacks from wheels carried beside it. Prints, each on one
line (``device_check: NAME = VALUE`` or ``... skipped: REASON``):

1. ``model_only``: images/s of the ViT-B-32 vision tower (random weights, bf16 autocast on CUDA)
   on tensors already on the device: the ceiling;
2. ``full_cpu_decode`` / ``full_gpu_decode``: images/s of the real embed stage (``run_embed``,
   samples indexed by ``run_index``) on full-size JPEGs (640x480, ImageNet-like), with
   ``--decode cpu`` (DataLoader workers) and ``--decode gpu`` (nvJPEG + resize on the device);
3. ``small_cpu_decode`` / ``small_gpu_decode``: the same on 256-px JPEGs (pre-resized data);
4. ``knn_exact_1m``: seconds of exact k=10 kNN of 1M x 512 unit vectors on the GPU
   (``curate.graph.neighbors.exact_knn``);
5. ``ray_one_gpu``: images/s of ``--engine ray`` on a local Ray instance with one GPU actor, on
   the 256-px set;
6. ``caption_embed``: captions/s of the embed stage's caption step
   (``curate.embed.captions.embed_captions``: tokenizing, the ViT-B-32 text tower, the cache
   writes) on distinct alt-text-like captions.

On a machine without CUDA every step still runs, scaled down (few images, kNN of
``--knn-rows`` rows, Ray with a CPU actor), and the GPU-only ones (GPU decode, the 1M kNN) say
they were skipped and why: the rehearsal that proves the script before a GPU is lent. The
images are generated here (photo-like: smooth colour fields plus noise, quality 90), the model
is ViT-B-32 with random weights written as a ``local-dir:`` folder (weights do not change speed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FULL_SIZE = (640, 480)
SMALL_SIZE = (256, 256)
KNN_K = 10

results: dict[str, Any] = {}


def report(name: str, value: Any = None, *, unit: str = "", skipped: str | None = None) -> None:
    if skipped is not None:
        results[name] = {"skipped": skipped}
        print(f"device_check: {name} skipped: {skipped}", flush=True)
    else:
        results[name] = value
        print(f"device_check: {name} = {value}{(' ' + unit) if unit else ''}", flush=True)


def _write_photo(job: tuple[Path, int, tuple[int, int]]) -> None:
    from PIL import Image

    path, seed, (w, h) = job
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8), "RGB")
    base = np.asarray(coarse.resize((w, h), Image.BICUBIC), dtype=np.int16)
    detail = rng.normal(0, 12, size=(h, w, 3)).astype(np.int16)
    Image.fromarray(np.clip(base + detail, 0, 255).astype(np.uint8), "RGB").save(path, quality=90)


def make_dataset(root: Path, n: int, size: tuple[int, int], seed: int) -> Path:
    """``root/photos/NNNNNN.jpg``: ``n`` distinct JPEGs of ``size``, written by every CPU."""
    folder = root / "photos"
    folder.mkdir(parents=True)
    jobs = [(folder / f"{i:06d}.jpg", seed + i, size) for i in range(n)]
    with multiprocessing.Pool(len(os.sched_getaffinity(0))) as pool:
        pool.map(_write_photo, jobs, chunksize=64)
    return root


def model_dir(folder: Path) -> Path:
    from tests.bench.bench_embed import random_vit_b32_dir

    folder.mkdir()
    return random_vit_b32_dir(folder)


def model_only(model: str, device: str, batch: int, seconds: float = 5.0) -> float:
    """Forward passes of the vision tower on device-resident tensors for about ``seconds``."""
    import torch

    from curate.embed.encoder import autocast_dtype
    from curate.embed.model import load_model

    loaded = load_model(model, None, device=device)
    dtype = autocast_dtype(device)
    x = torch.randn(batch, 3, *loaded.image_size, device=device)

    def forward() -> None:
        with torch.inference_mode(), torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loaded.model.encode_image(x, normalize=True)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    forward()
    sync()  # warm-up: kernels chosen, memory allocated
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forward()
        count += batch
    sync()
    return count / (time.perf_counter() - start)


def caption_rate(folder: Path, model: str, device: str, n: int, batch: int) -> dict[str, Any]:
    """The caption step of the embed stage on ``n`` distinct captions (each one encoded)."""
    from curate.embed.captions import embed_captions
    from curate.embed.model import load_model

    loaded = load_model(model, None, device=device)
    words = ("photo", "dog", "beach", "red", "car", "sunset", "vintage", "poster", "city", "portrait")
    captions = [f"{words[i % 10]} {words[(i // 10) % 10]} {words[(i // 100) % 10]} number {i}" for i in range(n)]
    folder.mkdir()
    embed_captions(
        loaded, folder, [str(i) for i in range(min(n, batch))], captions[:batch], batch_size=batch
    )  # warm-up
    return embed_captions(loaded, folder, [str(i) for i in range(n)], captions, batch_size=batch)


def embed_rate(ws_root: Path, samples: Path, model: str, **options: Any) -> dict[str, Any]:
    """The embed stage on a fresh workspace holding ``samples`` (samples.parquet)."""
    from curate.embed.runner import run_embed
    from curate.workspace import Workspace

    ws_root.mkdir()
    (ws_root / "samples.parquet").write_bytes(samples.read_bytes())
    return run_embed(Workspace(ws_root), model=model, pretrained=None, **options)


def index(data: Path, ws_root: Path, workers: int) -> Path:
    from curate.index.stage import run_index
    from curate.workspace import Workspace

    ws = Workspace(ws_root)
    summary = run_index(data, ws, workers=workers)
    print(f"device_check: indexed {summary['num_readable']} images in {ws_root.name}", flush=True)
    return ws.path("samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", type=int, default=None, help="full-size JPEGs [default: 20000 on CUDA, 48 on CPU]")
    parser.add_argument("--small", type=int, default=None, help="256-px JPEGs [default: 40000 on CUDA, 96 on CPU]")
    parser.add_argument("--knn-rows", type=int, default=None, help="rows of the exact kNN [1M on CUDA, 20000 on CPU]")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward [512 on CUDA, 32 on CPU]")
    parser.add_argument("--captions", type=int, default=None, help="captions embedded [200000 on CUDA, 512 on CPU]")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    cpus = len(os.sched_getaffinity(0))
    full = args.full or (20000 if cuda else 48)
    small = args.small or (40000 if cuda else 96)
    knn_rows = args.knn_rows or (1_000_000 if cuda else 20_000)
    batch = args.batch_size or (512 if cuda else 32)
    gpu_name = torch.cuda.get_device_name(0) if cuda else "none"
    started = time.perf_counter()
    report("machine", f"{gpu_name}; {cpus} CPUs; torch {torch.__version__}")
    no_gpu = "no CUDA device on this machine"

    with tempfile.TemporaryDirectory(prefix="device_check_") as tmp_name:
        tmp = Path(tmp_name)
        model = f"local-dir:{model_dir(tmp / 'model')}"

        t = time.perf_counter()
        report("model_only", round(model_only(model, device, batch), 1), unit=f"images/s (ViT-B-32, batch {batch})")
        print(f"device_check: ({time.perf_counter() - t:.1f} s)", flush=True)

        n_captions = args.captions or (200_000 if cuda else 512)
        text = caption_rate(tmp / "captions", model, device, n_captions, 1024 if cuda else 64)
        report(
            "caption_embed",
            text["captions_per_s"],
            unit=f"captions/s (ViT-B-32 text tower, {text['captions_embedded_now']} captions, {text['seconds']} s)",
        )

        t = time.perf_counter()
        full_data = make_dataset(tmp / "full", full, FULL_SIZE, seed=0)
        small_data = make_dataset(tmp / "small", small, SMALL_SIZE, seed=10**7)
        print(f"device_check: wrote {full} + {small} JPEGs in {time.perf_counter() - t:.1f} s", flush=True)
        full_samples = index(full_data, tmp / "ws-full-index", cpus)
        small_samples = index(small_data, tmp / "ws-small-index", cpus)

        common = {"device": device, "batch_size": batch, "workers": cpus}
        for name, samples in (("full", full_samples), ("small", small_samples)):
            for decode in ("cpu", "gpu"):
                if decode == "gpu" and not cuda:
                    report(f"{name}_gpu_decode", skipped=no_gpu)
                    continue
                summary = embed_rate(tmp / f"ws-{name}-{decode}", samples, model, decode=decode, **common)
                report(
                    f"{name}_{decode}_decode",
                    summary["images_per_s"],
                    unit=f"images/s ({summary['num_embedded']} images; seconds {summary['seconds']})",
                )

        from curate.graph.neighbors import exact_knn

        rng = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(knn_rows, 512, device=device, generator=rng)
        x = torch.nn.functional.normalize(x, dim=1).to(torch.float16 if cuda else torch.float32).cpu().numpy()
        t = time.perf_counter()
        exact_knn(x, KNN_K, device=device)
        seconds = round(time.perf_counter() - t, 2)
        name = "knn_exact_1m" if knn_rows == 1_000_000 and cuda else "knn_exact"
        report(name, seconds, unit=f"s (exact k={KNN_K}, {knn_rows:,} x 512, {device})")
        if not cuda:
            report("knn_exact_1m", skipped=f"{no_gpu} (ran {knn_rows:,} rows on the CPU instead)")
        del x

        if args.no_ray:
            report("ray_one_gpu", skipped="--no-ray")
        else:
            try:
                import ray
            except ImportError:
                ray = None
            if ray is None:
                report("ray_one_gpu", skipped="ray is not installed (no ray wheels carried)")
            else:
                # address="local": a Ray instance of its own, even where a cluster is already up
                # (its resources would not be this check's to size)
                ray.init(
                    address="local",
                    num_cpus=cpus,
                    num_gpus=1 if cuda else 0,
                    include_dashboard=False,
                    log_to_driver=False,
                )
                try:
                    summary = embed_rate(
                        tmp / "ws-small-ray", small_samples, model, engine="ray", device=device, batch_size=batch
                    )
                finally:
                    ray.shutdown()
                report(
                    "ray_one_gpu" if cuda else "ray_cpu_actors",
                    summary["images_per_s"],
                    unit=f"images/s ({summary['num_embedded']} images, decode {summary['decode']}, "
                    f"{summary['cluster']['gpus']:g} GPU)",
                )
                if not cuda:
                    report("ray_one_gpu", skipped=f"{no_gpu} (ran with CPU actors instead)")

    report("total_seconds", round(time.perf_counter() - started, 1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
