"""How fast `curate index` validates an ImageFolder, against torchvision's ImageFolder.

The reference is what a user would otherwise run to find broken files: build
``torchvision.datasets.ImageFolder`` and load every sample once (serial, full-size decode).
curate decodes JPEGs at a draft scale (still reading every byte, so truncation is caught) and
spreads the work over processes.

    python tests/bench/bench_index.py [--size 1000] [--workers 1 2 4 8] [--width 640]

Prints a Markdown table; ratio = reference seconds / method seconds (higher is faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def make_photos(root: Path, n: int, width: int, classes: int = 10, seed: int = 0) -> int:
    """``n`` photo-like JPEGs (smooth colour fields + noise, ~4:3) in ``classes`` folders, plus
    one truncated file per class. Returns the number of readable images."""
    rng = np.random.default_rng(seed)
    height = width * 3 // 4
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for c in range(classes):
        (root / f"class_{c:02d}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a, b, p = rng.random(3) * 6.28
        base = np.stack(
            [np.sin(xx / width * a * 3 + p), np.cos(yy / height * b * 3), np.sin((xx + yy) / width * 2 + a)], -1
        )
        img = ((base * 0.5 + 0.5) * 200 + rng.normal(0, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"class_{i % classes:02d}" / f"{i:06d}.jpg", quality=88)
    for c in range(classes):
        good = next((root / f"class_{c:02d}").glob("*.jpg")).read_bytes()
        (root / f"class_{c:02d}" / "broken.jpg").write_bytes(good[: len(good) // 2])
    return n


def bench_torchvision(root: Path) -> tuple[float, int]:
    from torchvision.datasets import ImageFolder

    start = time.perf_counter()
    ds = ImageFolder(str(root))
    readable = 0
    for path, _ in ds.samples:
        try:
            ds.loader(path)
            readable += 1
        except OSError:
            pass
    return time.perf_counter() - start, readable


def bench_curate(root: Path, workers: int) -> tuple[float, int]:
    from curate.index.stage import run_index
    from curate.workspace import Workspace

    with tempfile.TemporaryDirectory() as ws:
        start = time.perf_counter()
        summary = run_index(root, Workspace(ws), workers=workers)
        return time.perf_counter() - start, summary["num_readable"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="number of JPEGs")
    parser.add_argument("--width", type=int, default=640, help="image width in pixels (height = 3/4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4, 8])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        t0 = time.perf_counter()
        n = make_photos(root, args.size, args.width)
        print(
            f"generated {n} JPEGs of {args.width}x{args.width * 3 // 4} (+10 truncated) in "
            f"{time.perf_counter() - t0:.1f}s on {os.cpu_count()} CPUs",
            file=sys.stderr,
        )
        ref_s, ref_ok = bench_torchvision(root)
        rows = [("torchvision ImageFolder, load every sample (reference)", ref_s, ref_ok)]
        for w in args.workers:
            s, ok = bench_curate(root, w)
            rows.append((f"curate index --workers {w}", s, ok))

    print(f"| method ({args.size} JPEGs {args.width}px) | readable found | seconds | images/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, s, ok in rows:
        print(f"| {name} | {ok} | {s:.2f} | {(args.size + 10) / s:.0f} | {ref_s / s:.2f}x |")


if __name__ == "__main__":
    main()
