"""Image-level defects: curate's data-derived checks against CleanVision's fixed thresholds.

Each set is a folder of random crops of real photos that packages ship (scikit-image's colour
sample photos; scikit-learn's two; the ``conformal-clip-data`` textile photos, which are
grayscale), with each defect planted into fresh crops at strengths spread evenly from mild to
strong:

* ``dark``: pixels multiplied by 0.06 .. 0.45;  ``light``: blended towards white by 0.35 .. 0.85;
* ``blurry``: Gaussian blur of sigma 0.8 .. 3 % of the crop's side;
* ``low_information``: one flat colour with Gaussian noise of 0.5 .. 8 levels;
* ``odd_aspect_ratio``: crops 3 .. 8 times wider than tall (or taller than wide);
* ``odd_size``: crops shrunk to 16 .. 48 px;
* ``grayscale``: converted to grayscale, half saved as one-channel files and half as RGB files
  with equal channels (a scraped set has both); not planted in the textile set, which is gray.

Both tools read the same folder: curate's index stage (which measures every image from its one
decode) and its seven image-defect judgements (:func:`curate.score.defects.judge_images`, what
the score stage runs); CleanVision's ``Imagelab.find_issues`` for the same seven types with its
defaults. Per type: F1 of its flags against what was planted as that type (a planted image
flagged as another type counts against that type, for both tools); the mean over types; the
seconds each took. Then both run on the clean crops alone: the share each type flags there.

    python tests/bench/bench_defects.py [--clean 600] [--per-type 40] [--workers 2] [--seed 0]

Prints one Markdown table per set and the clean-set shares.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from curate.config import IMAGE_DEFECTS  # noqa: E402

Picture = np.ndarray  # (H, W, 3) uint8


def skimage_photos() -> list[Picture]:
    """scikit-image's colour photographs. Left out: the synthetic colour wheel and logo, and the
    Hubble deep field and the retina, whose crops are mostly black sky or background: a "clean"
    crop of them is a dark, nearly empty picture, which would make the clean truth wrong."""
    from skimage import data

    return [getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")]


def sklearn_photos() -> list[Picture]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)


def textile_photos() -> list[Picture]:
    """The textile photos of conformal-clip-data (250 x 250, gray content in RGB JPEGs)."""
    import conformal_clip_data

    files = sorted(Path(conformal_clip_data.nominal_dir()).glob("*.jpg"))
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


SETS: dict[str, tuple[Callable[[], list[Picture]], tuple[int, int], bool]] = {
    # name: (pictures, crop side range in px, colour set)
    "skimage photos": (skimage_photos, (160, 320), True),
    "sklearn photos": (sklearn_photos, (160, 320), True),
    "textile photos (grayscale)": (textile_photos, (150, 250), False),
}


def crop(rng: np.random.Generator, pictures: list[Picture], sides: tuple[int, int], aspect: float = 0.0) -> Picture:
    """A random crop of a random picture: side in ``sides``, aspect (w/h) around 1 (3/4 .. 4/3)
    unless ``aspect`` is given."""
    pic = pictures[rng.integers(len(pictures))]
    h, w = pic.shape[:2]
    ratio = aspect or float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    side = rng.uniform(*sides)
    cw, ch = side * np.sqrt(ratio), side / np.sqrt(ratio)
    scale = min(1.0, w / cw, h / ch)
    cw, ch = max(2, int(cw * scale)), max(2, int(ch * scale))
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    return pic[y : y + ch, x : x + cw, :3].copy()


def plant(kind: str, strength: float, rng: np.random.Generator, pictures, sides) -> Image.Image:
    """A fresh crop with defect ``kind`` at ``strength`` (0 = mild .. 1 = strong)."""
    if kind == "odd_aspect_ratio":
        ratio = 3 + 5 * strength
        pic = crop(rng, pictures, sides, aspect=ratio if rng.random() < 0.5 else 1 / ratio)
        return Image.fromarray(pic)
    pic = crop(rng, pictures, sides).astype(np.float32)
    if kind == "dark":
        out = pic * (0.45 - 0.39 * strength)
    elif kind == "light":
        a = 0.35 + 0.5 * strength
        out = pic * (1 - a) + 255 * a
    elif kind == "blurry":
        sigma = (0.008 + 0.022 * strength) * max(pic.shape[:2])
        return Image.fromarray(pic.astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma))
    elif kind == "low_information":
        noise = 8 - 7.5 * strength
        out = pic.reshape(-1, 3).mean(axis=0) + rng.normal(0, noise, pic.shape)
    elif kind == "odd_size":
        side = int(48 - 32 * strength)
        img = Image.fromarray(pic.astype(np.uint8))
        return img.resize((side, max(2, int(side * pic.shape[0] / pic.shape[1]))), Image.Resampling.LANCZOS)
    elif kind == "grayscale":
        gray = Image.fromarray(pic.astype(np.uint8)).convert("L")
        return gray if rng.random() < 0.5 else gray.convert("RGB")
    else:
        raise ValueError(kind)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def build(folder: Path, pictures, sides, *, clean: int, per_type: int, kinds, seed: int) -> dict[str, str | None]:
    """Write the set; returns file name -> planted type (None: clean)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    truth: dict[str, str | None] = {}
    for i in range(clean):
        name = f"clean_{i:05d}.jpg"
        Image.fromarray(crop(rng, pictures, sides)).save(folder / name, quality=90)
        truth[name] = None
    for kind in kinds:
        for j, strength in enumerate(np.linspace(0, 1, per_type)):
            name = f"{kind}_{j:04d}.jpg"
            plant(kind, float(strength), rng, pictures, sides).save(folder / name, quality=90)
            truth[name] = kind
    return truth


def run_curate(folder: Path, workers: int) -> tuple[dict[str, set[str]], float]:
    """curate's flags (type -> file names) and seconds: the index stage, then the judgements."""
    from curate.index.stage import run_index
    from curate.score.defects import judge_images, load_image_stats
    from curate.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ws = Workspace(tmp)
        run_index(folder, ws, workers=workers)
        samples = ws.read_table("samples")
        stats = load_image_stats(samples)
        assert stats is not None
        judged = judge_images(stats)
        seconds = time.perf_counter() - start
    ids = np.array(samples.column("sample_id").to_pylist(), dtype=object)
    return {name: set(ids[j.flag].tolist()) for name, j in judged.items()}, seconds


def run_cleanvision(folder: Path, workers: int) -> tuple[dict[str, set[str]], float]:
    from cleanvision import Imagelab

    start = time.perf_counter()
    lab = Imagelab(data_path=str(folder), verbose=False)
    lab.find_issues({name: {} for name in IMAGE_DEFECTS}, n_jobs=workers, verbose=False)
    seconds = time.perf_counter() - start
    issues = lab.issues
    names = np.array([Path(p).name for p in issues.index], dtype=object)
    return {t: set(names[issues[f"is_{t}_issue"].to_numpy(dtype=bool)].tolist()) for t in IMAGE_DEFECTS}, seconds


def f1(flagged: set[str], truth: set[str]) -> float:
    if not flagged and not truth:
        return 1.0
    tp = len(flagged & truth)
    return 2 * tp / (len(flagged) + len(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", type=int, default=600, help="clean crops per set")
    parser.add_argument("--per-type", type=int, default=40, help="planted images per defect type")
    parser.add_argument("--workers", type=int, default=2, help="processes for both tools")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    args = parser.parse_args()
    summary = []
    for set_name in args.sets:
        load, sides, colour = SETS[set_name]
        pictures = load()
        kinds = [k for k in IMAGE_DEFECTS if colour or k != "grayscale"]
        with tempfile.TemporaryDirectory() as tmp:
            folder, clean_folder = Path(tmp) / "data", Path(tmp) / "clean"
            truth = build(
                folder, pictures, sides, clean=args.clean, per_type=args.per_type, kinds=kinds, seed=args.seed
            )
            build(clean_folder, pictures, sides, clean=args.clean, per_type=0, kinds=(), seed=args.seed + 1)
            ours, our_s = run_curate(folder, args.workers)
            theirs, their_s = run_cleanvision(folder, args.workers)
            ours_clean, _ = run_curate(clean_folder, args.workers)
            theirs_clean, _ = run_cleanvision(clean_folder, args.workers)
        planted = {k: {n for n, t in truth.items() if t == k} for k in kinds}
        print(f"\n### {set_name}: {args.clean} clean crops + {args.per_type} planted per type ({len(truth)} images)\n")
        print("| type | curate F1 | CleanVision F1 | difference | curate on clean set | CleanVision on clean set |")
        print("|---|---:|---:|---:|---:|---:|")
        ours_f1, theirs_f1 = [], []
        for k in kinds:
            a, b = f1(ours[k], planted[k]), f1(theirs[k], planted[k])
            ours_f1.append(a)
            theirs_f1.append(b)
            fa, fb = len(ours_clean[k]) / args.clean, len(theirs_clean[k]) / args.clean
            print(f"| {k} | {a:.2f} | {b:.2f} | {a - b:+.2f} | {fa:.1%} | {fb:.1%} |")
        ma, mb = float(np.mean(ours_f1)), float(np.mean(theirs_f1))
        print(f"| **mean** | **{ma:.2f}** | **{mb:.2f}** | **{ma - mb:+.2f}** | | |")
        print(f"| seconds | {our_s:.1f} | {their_s:.1f} | {their_s / our_s:.2f}x faster | | |")
        summary.append((set_name, ma, mb, our_s, their_s))
        if "grayscale" not in kinds:
            print(
                f"\n(grayscale not planted: the set is gray; curate flags {len(ours['grayscale'])}, "
                f"CleanVision {len(theirs['grayscale'])})"
            )
    print("\n| set | curate mean F1 | CleanVision mean F1 | curate s | CleanVision s |")
    print("|---|---:|---:|---:|---:|")
    for name, ma, mb, a, b in summary:
        print(f"| {name} | {ma:.2f} | {mb:.2f} | {a:.1f} | {b:.1f} |")


if __name__ == "__main__":
    main()
