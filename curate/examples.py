"""Example datasets with planted problems, so a first scan has verdicts to check against truth.

``digits`` is built from scikit-learn's handwritten digits (installed with curate): 8x8 images
upsampled to 32x32 PNGs in ``ROOT/<class>/<file>`` (class names are English digit words, so CLIP
prompts read well), with a long tail (seven, eight and nine are rare) and planted problems:

* **label errors**: images of one digit written into another digit's folder;
* **near-duplicates**: copies of an image re-encoded as JPEG, resized, or slightly cropped,
  next to their original;
* **outliers**: images of no digit (noise, stripes, fragments of a digit) in class folders;
* **image defects**: a nearly black digit, a washed-out one, a blurred one, a blank image, a
  strip and an 8-px thumbnail (the images are grayscale, so a grayscale one would be no defect).

File names say nothing about which is which. The truth is ``ROOT/_truth.json`` by default (the
index counts it among the files that are not samples, as it would any file); ``curate scan
--example`` keeps it beside the folder instead, so the scan does not report the example's own
file. :func:`score_example` counts how many planted problems a scan found. The same seed writes
the same bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import UsageError

#: examples :func:`write_example` can write
EXAMPLES = ("digits",)

#: the planted truth, in the example's root folder
TRUTH_FILE = "_truth.json"

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: clean images per digit 0..9: seven head classes and a long tail of three
CLASS_SIZES = (80, 75, 70, 65, 60, 55, 50, 15, 10, 6)
NUM_LABEL_ERRORS = 25
NUM_DUPLICATES = 12
NUM_OUTLIERS = 8
#: the image defects planted, one image each (curate/issues/<type>.py)
IMAGE_DEFECTS_PLANTED = ("dark", "light", "blurry", "low_information", "odd_aspect_ratio", "odd_size")
IMAGE_SIZE = 32


@dataclass
class ExampleTruth:
    """What was planted in an example dataset; sample ids are POSIX paths relative to its root.

    label_errors:  sample_id -> the class the image really shows (its folder is another one)
    duplicates:    (copy, original) sample_id pairs, with how the copy was made
    outliers:      sample_ids of images that show no class
    image_defects: sample_id -> the image defect planted in it (``dark``, ``blurry``, ...)
    """

    name: str
    seed: int
    num_images: int
    class_sizes: dict[str, int]
    label_errors: dict[str, str] = field(default_factory=dict)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    outliers: list[str] = field(default_factory=list)
    image_defects: dict[str, str] = field(default_factory=dict)


def digit_images(per_class: int, *, size: int = IMAGE_SIZE, offset: int = 0) -> dict[int, list[Any]]:
    """``per_class`` grayscale ``size`` x ``size`` PIL images of each digit 0-9 (scikit-learn's
    digits, upsampled bilinearly), skipping the first ``offset`` of each digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    out: dict[int, list[Any]] = {}
    for d in range(10):
        rows = np.flatnonzero(digits.target == d)[offset : offset + per_class]
        if len(rows) < per_class:
            raise ValueError(f"scikit-learn's digits has only {len(rows)} images of {d} after offset {offset}")
        out[d] = [_upsample(digits.images[r], size) for r in rows]
    return out


def _upsample(pixels: np.ndarray, size: int) -> Any:
    from PIL import Image

    return Image.fromarray((pixels * (255 / 16)).astype(np.uint8), "L").resize((size, size), Image.BILINEAR)


def _near_copy(img: Any, kind: str) -> tuple[Any, str]:
    """A near-duplicate of ``img`` and the file format to save it in."""
    from PIL import Image

    if kind == "jpeg":
        return img, "JPEG"
    if kind == "resized":
        return img.resize((IMAGE_SIZE + 8, IMAGE_SIZE + 8), Image.BICUBIC), "PNG"
    return img.crop((1, 1, IMAGE_SIZE - 1, IMAGE_SIZE - 1)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), "PNG"


def _outlier(rng: np.random.Generator, kind: str, digit: Any) -> Any:
    """An image of no class: uniform noise, stripes, or a magnified corner of a digit."""
    from PIL import Image

    if kind == "noise":
        return Image.fromarray(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8), "L")
    if kind == "stripes":
        period = int(rng.integers(3, 7))
        wave = (np.arange(IMAGE_SIZE) // period % 2 * 255).astype(np.uint8)
        grid = np.tile(wave, (IMAGE_SIZE, 1))
        return Image.fromarray(grid if rng.random() < 0.5 else grid.T.copy(), "L")
    x, y = (int(v) for v in rng.integers(0, IMAGE_SIZE // 2, 2))
    return digit.crop((x, y, x + IMAGE_SIZE // 2, y + IMAGE_SIZE // 2)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST)


def truth_path(root: str | os.PathLike[str], truth_file: str | os.PathLike[str] | None = None) -> Path:
    """Where an example's truth is: ``truth_file``, else ``root/_truth.json``."""
    return Path(truth_file) if truth_file is not None else Path(root) / TRUTH_FILE


def _defect(kind: str, digit: Any) -> Any:
    """``digit`` (a 32 x 32 grayscale image) with image defect ``kind``."""
    from PIL import Image, ImageFilter

    pixels = np.asarray(digit, dtype=np.float32)
    if kind == "dark":
        return Image.fromarray((pixels * 0.06).astype(np.uint8), "L")
    if kind == "light":
        return Image.fromarray((pixels * 0.1 + 225).astype(np.uint8), "L")
    if kind == "blurry":
        return digit.filter(ImageFilter.GaussianBlur(2.5))
    if kind == "low_information":
        return Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 128)
    if kind == "odd_aspect_ratio":
        return digit.resize((IMAGE_SIZE * 4, IMAGE_SIZE // 2), Image.BILINEAR)
    return digit.resize((IMAGE_SIZE // 4, IMAGE_SIZE // 4), Image.BILINEAR)  # odd_size


def write_example(
    name: str, root: str | os.PathLike[str], *, seed: int = 0, truth_file: str | os.PathLike[str] | None = None
) -> ExampleTruth:
    """Write example ``name`` (one of :data:`EXAMPLES`) into the folder ``root`` (created; must be
    empty or missing) with its truth in ``truth_file`` (default ``root/_truth.json``); the same
    seed writes the same files."""
    if name not in EXAMPLES:
        raise UsageError(f"unknown example {name!r}; use one of: {', '.join(EXAMPLES)}")
    from sklearn.datasets import load_digits

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty; give a new folder for the example")
    rng = np.random.default_rng(seed)
    digits = load_digits()
    pools = {d: list(rng.permutation(np.flatnonzero(digits.target == d))) for d in range(10)}
    names = iter(rng.permutation(10000))
    sizes = np.array(CLASS_SIZES, dtype=float)
    truth = ExampleTruth(name, seed, 0, {DIGIT_WORDS[d]: n for d, n in enumerate(CLASS_SIZES)})
    files: list[tuple[str, Any, str]] = []  # (sample_id, image, format)

    def add(word: str, img: Any, fmt: str = "PNG") -> str:
        sample_id = f"{word}/img_{next(names):04d}.{'jpg' if fmt == 'JPEG' else 'png'}"
        files.append((sample_id, img, fmt))
        return sample_id

    for d, n in enumerate(CLASS_SIZES):
        for _ in range(n):
            add(DIGIT_WORDS[d], _upsample(digits.images[pools[d].pop()], IMAGE_SIZE))
    head = [d for d, n in enumerate(CLASS_SIZES) if n >= np.median(CLASS_SIZES)]
    for _ in range(NUM_LABEL_ERRORS):  # an image of a head digit, filed under another class
        true = int(rng.choice(head))
        others = [d for d in range(10) if d != true]
        wrong = int(rng.choice(others, p=sizes[others] / sizes[others].sum()))
        sid = add(DIGIT_WORDS[wrong], _upsample(digits.images[pools[true].pop()], IMAGE_SIZE))
        truth.label_errors[sid] = DIGIT_WORDS[true]
    originals = rng.choice(sum(CLASS_SIZES), NUM_DUPLICATES, replace=False)
    for i, pos in enumerate(sorted(int(p) for p in originals)):
        sid, img, _ = files[pos]
        kind = ("jpeg", "resized", "cropped")[i % 3]
        copy, fmt = _near_copy(img, kind)
        truth.duplicates.append({"copy": add(sid.split("/")[0], copy, fmt), "original": sid, "kind": kind})
    for i in range(NUM_OUTLIERS):
        kind = ("noise", "stripes", "fragment")[i % 3]
        folder = DIGIT_WORDS[int(rng.choice(10, p=sizes / sizes.sum()))]
        digit = _upsample(digits.images[pools[int(rng.choice(head))].pop()], IMAGE_SIZE)
        truth.outliers.append(add(folder, _outlier(rng, kind, digit)))
    for kind in IMAGE_DEFECTS_PLANTED:
        d = int(rng.choice(head))
        digit = _upsample(digits.images[pools[d].pop()], IMAGE_SIZE)
        truth.image_defects[add(DIGIT_WORDS[d], _defect(kind, digit))] = kind
    truth.num_images = len(files)

    for sample_id, img, fmt in files:
        path = root / sample_id
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    truth_path(root, truth_file).write_text(json.dumps(asdict(truth), indent=1, sort_keys=True) + "\n")
    return truth


def read_truth(root: str | os.PathLike[str], truth_file: str | os.PathLike[str] | None = None) -> ExampleTruth:
    """The truth :func:`write_example` recorded for ``root`` (in ``truth_file`` when given)."""
    path = truth_path(root, truth_file)
    try:
        return ExampleTruth(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not an example's truth file ({exc})") from None


def prepare_example(
    name: str, root: str | os.PathLike[str], *, seed: int = 0, truth_file: str | os.PathLike[str] | None = None
) -> ExampleTruth:
    """Example ``name`` in ``root``: the one already there when it was written with ``seed``
    (so a re-scan finds its inputs unchanged), else a new one (``root`` must be empty or missing).
    A truth inside ``root`` from a scan that kept it there moves to ``truth_file``."""
    path = truth_path(root, truth_file)
    inside = Path(root) / TRUTH_FILE
    if truth_file is not None and not path.is_file() and inside.is_file():
        os.replace(inside, path)
    if path.is_file():
        truth = read_truth(root, truth_file)
        if truth.name == name and truth.seed == seed:
            return truth
    return write_example(name, root, seed=seed, truth_file=truth_file)


def score_example(
    truth: ExampleTruth, manifest_path: str | os.PathLike[str], issues_path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """How many planted problems a scan's ``manifest.parquet`` (and ``issues.parquet``) found.

    A label error is found when it is flagged ``is_label_issue``; a near-duplicate when the copy
    and its original share a ``duplicate_group``; an outlier when flagged ``is_outlier``; an image
    defect when issues.parquet flags it ``is_<type>`` of its planted type. Per kind: ``planted``,
    ``found``, and ``flagged`` (every sample the scan flagged so, planted or not; for image
    defects, every sample with any image-defect flag). Without ``issues_path`` no image defect is
    counted.
    """
    import pyarrow.parquet as pq

    rows = pq.read_table(
        manifest_path, columns=["sample_id", "is_label_issue", "duplicate_group", "is_duplicate", "is_outlier"]
    ).to_pylist()
    by_id = {r["sample_id"]: r for r in rows}

    def flagged(column: str) -> set[str]:
        return {r["sample_id"] for r in rows if r[column]}

    def same_group(pair: dict[str, str]) -> bool:
        copy, original = by_id.get(pair["copy"], {}), by_id.get(pair["original"], {})
        return copy.get("duplicate_group") is not None and copy.get("duplicate_group") == original.get(
            "duplicate_group"
        )

    labels, outliers = flagged("is_label_issue"), flagged("is_outlier")
    defects_found, defects_flagged = 0, 0
    if issues_path is not None:
        from curate.config import IMAGE_DEFECTS

        issues = pq.read_table(issues_path, columns=["sample_id", *(f"is_{t}" for t in IMAGE_DEFECTS)]).to_pylist()
        defects_flagged = sum(any(r[f"is_{t}"] for t in IMAGE_DEFECTS) for r in issues)
        kinds = {r["sample_id"]: {t for t in IMAGE_DEFECTS if r[f"is_{t}"]} for r in issues}
        defects_found = sum(kind in kinds.get(sid, set()) for sid, kind in truth.image_defects.items())
    return {
        "name": truth.name,
        "label_errors": {
            "planted": len(truth.label_errors),
            "found": len(labels & set(truth.label_errors)),
            "flagged": len(labels),
        },
        "duplicates": {
            "planted": len(truth.duplicates),
            "found": sum(same_group(p) for p in truth.duplicates),
            "flagged": len(flagged("is_duplicate")),
        },
        "outliers": {
            "planted": len(truth.outliers),
            "found": len(outliers & set(truth.outliers)),
            "flagged": len(outliers),
        },
        "image_defects": {"planted": len(truth.image_defects), "found": defects_found, "flagged": defects_flagged},
    }
