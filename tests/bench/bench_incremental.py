"""How much a re-scan costs against the first scan: no change, and a folder grown by 2%.

    PYTHONPATH=. python tests/bench/bench_incremental.py [--images 600] [--grow 0.02]

The data are the textile photos of ``conformal_clip_data`` (the bench extra), copied into an
image folder ``DATA/<class>/`` (nominal, local, global, in proportion); the model is the
ViT-B-32 architecture with random weights (:func:`tests.bench.bench_embed.random_vit_b32_dir`),
whose per-image CPU cost is a real tower's. Three ``run_scan`` calls on one workspace are timed:

1. the first scan (every image decoded and embedded);
2. a no-op re-scan (goal: at most 5% of the first);
3. a re-scan after adding ``--grow`` new photos (unused ones, then transposed variants) and
   renaming one file (goal: at most 10% of the first; only the new photos are embedded).

It prints each time, its ratio to the first scan, and what the scan said changed.

Measured on the 2-core development VM, 6,000 photos (the set's 2,000, then mirrored and flipped):
first scan 476.0 s, no-op re-scan 0.4 s (0.1%), +120 photos and one rename 26.4 s (5.5%; 120
embedded, 6,000 vectors reused). With 600 photos: 33.0 s, 0.0 s (0.1%), 3.4 s (10.4%).
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


#: Ways to make another photo of a textile when the set runs out: the name prefix and the PIL
#: transposition (a real, different image for the tower, decoded and embedded like any other).
VARIANTS = (("", None), ("mirrored_", "FLIP_LEFT_RIGHT"), ("flipped_", "FLIP_TOP_BOTTOM"), ("rotated_", "ROTATE_180"))


def take(photos: dict[str, list[Path]], n: int, skip: int = 0) -> list[tuple[str, Path, int]]:
    """``n`` (class, photo, variant) triples in the classes' proportions, after the first ``skip``
    of them: every photo as it is, then every photo mirrored, flipped, rotated (:data:`VARIANTS`),
    so a folder larger than the set (about 2,000 photos) is still made of distinct images."""
    total = sum(len(p) for p in photos.values())
    pairs = [(name, path) for name, paths in photos.items() for path in paths]
    order = sorted(range(total), key=lambda i: (i * 7919) % total)  # interleave the classes
    wanted = range(skip, skip + n)
    if skip + n > total * len(VARIANTS):
        raise SystemExit(
            f"--images and --grow ask for {skip + n} photos; the set makes at most {total * len(VARIANTS)}"
        )
    return [(*pairs[order[i % total]], i // total) for i in wanted]


def place(data: Path, photos: list[tuple[str, Path, int]]) -> None:
    """Write each (class, photo, variant) into ``data/<class>/``."""
    from PIL import Image

    for name, path, variant in photos:
        prefix, transpose = VARIANTS[variant]
        if transpose is None:
            shutil.copy2(path, data / name / path.name)
            continue
        with Image.open(path) as image:
            image.transpose(getattr(Image.Transpose, transpose)).save(data / name / f"{prefix}{path.name}", quality=95)


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
        place(data, take(photos, args.images))
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
        place(data, take(photos, added, skip=args.images))  # new photos: the next ones in take's order
        renamed = next((data / CLASSES[0]).glob("textile_*.jpg"))
        renamed.rename(renamed.with_name(f"renamed_{renamed.name}"))
        grown, summary = timed(f"+{added} photos, one renamed")
        assert summary["changes"]["embedded"] == added, summary["changes"]

    print(f"no-op re-scan / first scan:  {noop / first:6.1%}  (goal <= 5%)")
    print(f"+{args.grow:.0%} re-scan / first scan:    {grown / first:6.1%}  (goal <= 10%)")


if __name__ == "__main__":
    main()
