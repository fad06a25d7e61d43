"""How much a re-scan costs against the first scan: no change, and a folder grown by 2%.

    PYTHONPATH=. python tests/bench/bench_incremental.py [--images 600] [--grow 0.02]

The data are the textile photos of ``conformal_clip_data`` (the bench extra), copied into an
image folder ``DATA/<class>/`` (nominal, local, global, in proportion); the model is the
ViT-B-32 architecture with random weights (:func:`tests.bench.bench_embed.random_vit_b32_dir`),
whose per-image CPU cost is a real tower's. Three ``run_scan`` calls on one workspace are timed:

1. the first scan (every image decoded and embedded);
2. a no-op re-scan (goal: at most 10% of the first);
3. a re-scan after adding ``--grow`` new photos (unused ones, then mirrored variants) and
   renaming one file (goal: at most 15% of the first; only the new photos are embedded).

It prints each time, its ratio to the first scan, and what the scan said changed.

Measured on the 2-core development VM (600 photos): first scan 33.0 s, no-op re-scan 0.0 s
(0.1%), +12 photos and one rename 3.4 s (10.4%; 12 embedded, 600 vectors reused).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

CLASSES = ("nominal", "local", "global")


def textile_photos() -> dict[str, list[Path]]:
    """Every textile photo by class, in file-name order."""
    import conformal_clip_data

    folders = (conformal_clip_data.nominal_dir(), conformal_clip_data.local_dir(), conformal_clip_data.global_dir())
    return {name: sorted(Path(folder).glob("*.jpg")) for name, folder in zip(CLASSES, folders)}


def take(photos: dict[str, list[Path]], n: int, skip: int = 0) -> list[tuple[str, Path]]:
    """``n`` (class, photo) pairs in the classes' proportions, after the first ``skip`` of them."""
    total = sum(len(p) for p in photos.values())
    pairs = [(name, path) for name, paths in photos.items() for path in paths]
    order = sorted(range(total), key=lambda i: (i * 7919) % total)  # interleave the classes
    return [pairs[i] for i in order[skip : skip + n]]


def grow(data: Path, photos: dict[str, list[Path]], first: int, n: int) -> None:
    """Add ``n`` new photos: unused ones while there are, then mirrored copies of used ones."""
    from PIL import Image, ImageOps

    unused = take(photos, n, skip=first)
    for name, path in unused:
        shutil.copy2(path, data / name / f"new_{path.name}")
    for name, path in take(photos, n - len(unused)):
        with Image.open(path) as image:
            ImageOps.mirror(image).save(data / name / f"mirrored_{path.name}", quality=95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=600, help="photos in the first scan")
    parser.add_argument("--grow", type=float, default=0.02, help="new photos added, as a share of --images")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from curate import progress
    from curate.scan import run_scan
    from curate.workspace import Workspace
    from tests.bench.bench_embed import random_vit_b32_dir

    progress.set_quiet(True)
    photos = textile_photos()
    with tempfile.TemporaryDirectory(prefix="bench_incremental_") as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        for name in CLASSES:
            (data / name).mkdir(parents=True)
        for name, path in take(photos, args.images):
            shutil.copy2(path, data / name / path.name)
        (tmp / "model").mkdir()
        model = f"local-dir:{random_vit_b32_dir(tmp / 'model')}"
        ws = Workspace(tmp / "ws")

        def timed(label: str) -> tuple[float, dict]:
            start = time.perf_counter()
            summary = run_scan(data, ws, model=model, pretrained=None, device="cpu", workers=args.workers)
            seconds = time.perf_counter() - start
            print(f"{label:<28} {seconds:8.1f} s   changes {summary['changes']}", flush=True)
            return seconds, summary

        first, _ = timed(f"first scan ({args.images} photos)")
        noop, _ = timed("no-op re-scan")
        added = max(1, round(args.images * args.grow))
        grow(data, photos, args.images, added)
        renamed = next((data / CLASSES[0]).glob("textile_*.jpg"))
        renamed.rename(renamed.with_name(f"renamed_{renamed.name}"))
        grown, summary = timed(f"+{added} photos, one renamed")
        assert summary["changes"]["embedded"] == added, summary["changes"]

    print(f"no-op re-scan / first scan:  {noop / first:6.1%}  (goal <= 10%)")
    print(f"+{args.grow:.0%} re-scan / first scan:    {grown / first:6.1%}  (goal <= 15%)")


if __name__ == "__main__":
    main()
