"""Multi-label tags: curate's ``score_tags`` vs cleanlab's multi-label recipe, side by side.

    PYTHONPATH=. python tests/bench/bench_multilabel.py [--seeds S ...] [--only NAME ...] [--rows N] [--json PATH]
    PYTHONPATH=. python tests/bench/bench_multilabel.py --scale [--rows 100000 --dim 512 --tags 500]

**Data** (nothing downloaded): canvases made of real pictures, scikit-learn's 8x8 digits. Each
canvas is a 3 x 3 grid of 8 x 8 cells (24 x 24 pixels) holding 1-3 digits of distinct classes in
random cells, tagged with the SET of its digit classes. The classes are drawn with a Zipf-like
profile (weight ``1 / rank ** ZIPF``, the ranks shuffled per seed), so the tags have a long tail.
The digits split in two: the canvases are made of one half, the CNN extractor is trained on the
other. Planted errors: ``NOISE_RATE`` of the canvases get one wrong tag, half of them a true tag
removed (missing), half a tag of a digit that is not on the canvas added (spurious); an empty tag
set is a valid one.

**Geometries** (one extractor each, every tool given the same L2-normalised features):

* ``pixels``: the 576 raw pixels;
* ``hog``: HOG of the canvas upsampled 4x (9 orientations, 8 x 8-pixel cells, 2 x 2-cell blocks), as
  the digits HOG geometry of ``tests/bench/geometries.py`` does for one digit;
* ``cnn``: a small convolutional network trained on the other half's single digits (cross-entropy,
  a few seconds on one thread); each cell of the canvas goes through it and its 64-d penultimate
  layer is max-pooled over the 9 cells.

**Tools**, in the same process on the same features:

* **curate**: ``curate.score.multilabel.score_tags(features, given_tags, seed=seed)`` (its own
  neighbour graph included in the time);
* **cleanlab's recipe**: 5-fold out-of-fold probabilities of a one-vs-rest logistic regression
  (``cross_val_predict(OneVsRestClassifier(LogisticRegression(C)), method="predict_proba")``) with
  ``C = 1`` and with ``C`` chosen per tag by inner 3-fold CV (``LogisticRegressionCV`` over
  :data:`tests.bench.expert.INNER_CS`), then
  ``cleanlab.multilabel_classification.filter.find_label_issues(labels=list of lists, pred_probs)``
  for the rows and ``find_multilabel_issues_per_class`` for the tags it names. The better of the
  two strengths (by sample F1) is the reference.

**Measured**: sample-level precision / recall / F1 of ``is_label_issue`` against the planted rows;
the precision of the named tags (a named missing or spurious tag is right when it is exactly the
tag planted on that row; a tag named on a clean row is wrong); wall seconds. The table prints each
tool, then curate minus the reference. The bar (the issue's Done-when): on every geometry curate's
F1 >= the reference's + 0.02 and curate's named-tag precision >= 0.80; ``--seeds`` averages the
measures over seeds and prints the bar on the means and per seed.

``--scale`` times ``score_tags`` alone on random-ish synthetic data of the issue's size (100k x 512
embeddings, 500 Zipf-distributed tags, 1-3 per row): no quality claim, just the time and the
peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_noise import prf  # noqa: E402

#: share of canvases with one planted wrong tag (half missing, half spurious)
NOISE_RATE = 0.09
#: the tag profile's exponent: class of rank r is drawn with weight 1 / r ** ZIPF
ZIPF = 1.3
#: canvas grid (cells per side) and cell size in pixels (a digit is 8 x 8)
GRID = 2
CELL = 8
#: digits per canvas are drawn uniformly from 1..MAX_DIGITS (distinct classes)
MAX_DIGITS = 3
#: canvases per geometry by default
DEFAULT_ROWS = 2500
#: the bar
F1_MARGIN = 0.02
NAMED_PRECISION = 0.80
GEOMETRY_NAMES = ("pixels", "hog", "cnn")


@dataclass
class Canvases:
    """The benchmark's rows.

    images:        (N, 24, 24) float32 in 0..1
    cells:         (N, 9, 8, 8) float32 in 0..1, each canvas cut back into its cells
    true_tags:     (N, 10) bool, the digit classes on the canvas
    given_tags:    (N, 10) bool, after the planted errors
    planted_tag:   (N,) int64, the tag planted wrong on the row, -1 on clean rows
    train_digits:  (M, 8, 8) float32 in 0..1 and train_labels (M,) int64: the other half, for the CNN
    """

    images: np.ndarray
    cells: np.ndarray
    true_tags: np.ndarray
    given_tags: np.ndarray
    planted_tag: np.ndarray
    train_digits: np.ndarray
    train_labels: np.ndarray

    @property
    def is_planted(self) -> np.ndarray:
        return self.planted_tag >= 0


def make_canvases(
    seed: int = 0, rows: int = DEFAULT_ROWS, noise_rate: float = NOISE_RATE, grid: int = GRID
) -> Canvases:
    """Long-tailed multi-digit canvases with planted missing and spurious tags (deterministic in ``seed``)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, target = (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)
    rng = np.random.default_rng([seed, 24])
    order = rng.permutation(len(target))
    canvas_pool, train = order[: len(order) // 2], order[len(order) // 2 :]
    by_class = [canvas_pool[target[canvas_pool] == c] for c in range(10)]
    weights = 1.0 / rng.permutation(np.arange(1, 11)) ** ZIPF
    weights /= weights.sum()

    cells = np.zeros((rows, grid * grid, CELL, CELL), dtype=np.float32)
    true = np.zeros((rows, 10), dtype=bool)
    for row in range(rows):
        count = int(rng.integers(1, MAX_DIGITS + 1))
        classes = rng.choice(10, size=count, replace=False, p=weights)
        places = rng.choice(grid * grid, size=count, replace=False)
        for klass, place in zip(classes, places):
            cells[row, place] = images[rng.choice(by_class[klass])]
            true[row, klass] = True
    canvas = cells.reshape(rows, grid, grid, CELL, CELL).transpose(0, 1, 3, 2, 4).reshape(rows, grid * CELL, -1)

    given = true.copy()
    planted = np.full(rows, -1, dtype=np.int64)
    noisy = rng.choice(rows, size=int(round(noise_rate * rows)), replace=False)
    for i, row in enumerate(noisy):
        if i % 2 == 0:  # missing: a true tag removed
            tag = int(rng.choice(np.flatnonzero(true[row])))
        else:  # spurious: a tag of a digit that is not there
            tag = int(rng.choice(np.flatnonzero(~true[row])))
        given[row, tag] = ~given[row, tag]
        planted[row] = tag
    return Canvases(canvas, cells, true, given, planted, images[train], target[train])


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pixel_features(canvases: Canvases) -> np.ndarray:
    """(N, 576) float32, the raw pixels, L2-normalised."""
    return _unit(canvases.images.reshape(len(canvases.images), -1))


def hog_features(canvases: Canvases) -> np.ndarray:
    """(N, F) float32 HOG descriptors of the canvas upsampled 4x (bilinear), as the digits HOG
    geometry of tests/bench/geometries.py does for one digit (32 x 32, 8 x 8-pixel cells): 9
    orientations, 8 x 8 cells, 2 x 2 blocks (1,764 values on a 2 x 2 canvas); L2-normalised."""
    from PIL import Image
    from skimage.feature import hog

    def one(image: np.ndarray) -> np.ndarray:
        picture = Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L")
        big = picture.resize((image.shape[1] * 4, image.shape[0] * 4), Image.BILINEAR)
        return hog(
            np.asarray(big, dtype=np.float64) / 255, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)
        )

    return _unit(np.stack([one(image) for image in canvases.images]))


def train_digit_cnn(digits: np.ndarray, labels: np.ndarray, seed: int):
    """A small CNN (conv 16 - conv 32 - pool - fc 64 - fc 10) trained by cross-entropy on single
    ``digits`` ((M, 8, 8) float32 in 0..1); returns the network up to its 64-d penultimate layer."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(32 * 4 * 4, 64),
            torch.nn.ReLU(),
        )
        head = torch.nn.Linear(64, 10)
        net = torch.nn.Sequential(body, head)
        optimiser = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
        x = torch.from_numpy(digits[:, None])
        y = torch.from_numpy(labels)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(40):
            for batch in torch.randperm(len(x), generator=generator).split(128):
                noisy = x[batch] + 0.05 * torch.randn(x[batch].shape, generator=generator)
                loss = torch.nn.functional.cross_entropy(net(noisy), y[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return body.eval()


def cnn_features(canvases: Canvases, seed: int) -> np.ndarray:
    """(N, 64) float32: the CNN's penultimate layer of each cell, max-pooled over the cells, L2-normalised."""
    import torch

    body = train_digit_cnn(canvases.train_digits, canvases.train_labels, seed)
    n = len(canvases.cells)
    with torch.no_grad():
        per_cell = body(torch.from_numpy(canvases.cells.reshape(-1, 1, CELL, CELL))).reshape(
            n, canvases.cells.shape[1], -1
        )
    return _unit(per_cell.max(dim=1).values.numpy())


def features_of(name: str, canvases: Canvases, seed: int) -> np.ndarray:
    if name == "pixels":
        return pixel_features(canvases)
    if name == "hog":
        return hog_features(canvases)
    if name == "cnn":
        return cnn_features(canvases, seed)
    raise ValueError(f"unknown geometry {name!r}: choose from {', '.join(GEOMETRY_NAMES)}")


@dataclass
class ToolRun:
    """One tool's findings: ``flags`` (N,) bool rows, ``named`` (N, K) bool cells it calls wrong, seconds."""

    tool: str
    flags: np.ndarray
    named: np.ndarray
    seconds: float
    notes: str = ""


def run_curate(features: np.ndarray, given: np.ndarray, seed: int) -> ToolRun:
    from curate.score.multilabel import score_tags

    started = time.perf_counter()
    result = score_tags(features, given, seed=seed)
    seconds = time.perf_counter() - started
    named = np.zeros(given.shape, dtype=bool)
    for row, (missing, spurious) in enumerate(zip(result.missing, result.spurious)):
        named[row, missing + spurious] = True
    weights = ", ".join(f"{k}={v:.2g}" for k, v in result.params["pool_weights"].items())
    return ToolRun(
        "curate",
        result.is_label_issue,
        named,
        seconds,
        f"median ridge {np.median(result.params['probe']['ridge']):.3g}; {weights}",
    )


def cleanlab_probabilities(features: np.ndarray, given: np.ndarray, *, inner_cv: bool, seed: int) -> np.ndarray:
    """(N, K) float64 out-of-fold one-vs-rest logistic-regression probabilities (5 folds)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier

    from tests.bench.expert import INNER_CS, OUTER_FOLDS

    if inner_cv:
        model = LogisticRegressionCV(Cs=list(INNER_CS), cv=3, max_iter=1000, random_state=seed)
    else:
        model = LogisticRegression(C=1.0, max_iter=1000)
    splitter = KFold(n_splits=OUTER_FOLDS, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tag absent from a training fold: sklearn's warning
        return cross_val_predict(
            OneVsRestClassifier(model), features, given.astype(np.int64), cv=splitter, method="predict_proba"
        )


def run_cleanlab(features: np.ndarray, given: np.ndarray, seed: int) -> list[ToolRun]:
    """The recipe with C = 1 and with C by inner CV."""
    from cleanlab.multilabel_classification.filter import find_label_issues, find_multilabel_issues_per_class

    labels = [np.flatnonzero(row).tolist() for row in given]
    runs = []
    for name, inner_cv in (("cleanlab C=1", False), ("cleanlab C by inner CV", True)):
        started = time.perf_counter()
        probs = cleanlab_probabilities(features, given, inner_cv=inner_cv, seed=seed)
        flags = np.asarray(find_label_issues(labels=labels, pred_probs=probs), dtype=bool)
        seconds = time.perf_counter() - started
        # (N, K) bool: the cells whose given state cleanlab calls wrong
        named = np.asarray(find_multilabel_issues_per_class(labels=labels, pred_probs=probs), dtype=bool)
        runs.append(ToolRun(name, flags, named, seconds))
    return runs


def measure(canvases: Canvases, run: ToolRun) -> dict[str, Any]:
    """Sample-level precision / recall / F1 and named-tag precision / recall of one run."""
    precision, recall, f1 = prf(run.flags, canvases.is_planted)
    rows, tags = np.nonzero(run.named)
    right = int((canvases.planted_tag[rows] == tags).sum())
    return {
        "tool": run.tool,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "named": int(len(rows)),
        "named_precision": right / max(len(rows), 1),
        "named_recall": right / max(int(canvases.is_planted.sum()), 1),
        "seconds": run.seconds,
        "notes": run.notes,
    }


def bench(name: str, seed: int, rows: int, grid: int = GRID) -> dict[str, Any]:
    canvases = make_canvases(seed, rows, grid=grid)
    features = features_of(name, canvases, seed)
    curate = measure(canvases, run_curate(features, canvases.given_tags, seed))
    references = [measure(canvases, run) for run in run_cleanlab(features, canvases.given_tags, seed)]
    reference = max(references, key=lambda m: m["f1"])
    tag_counts = canvases.given_tags.sum(axis=0)
    return {
        "geometry": name,
        "grid": grid,
        "seed": seed,
        "rows": rows,
        "dim": int(features.shape[1]),
        "tags": int(canvases.given_tags.shape[1]),
        "tag_counts": sorted(tag_counts.tolist(), reverse=True),
        "planted": int(canvases.is_planted.sum()),
        "curate": curate,
        "cleanlab": references,
        "reference": reference["tool"],
    }


def _mean(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The blocks of one geometry over seeds: every measure averaged."""
    keys = ("precision", "recall", "f1", "named_precision", "named_recall", "seconds", "named")

    def average(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"tool": runs[0]["tool"], **{k: float(np.mean([r[k] for r in runs])) for k in keys}, "notes": ""}

    curate = average([b["curate"] for b in blocks])
    tools = [average([b["cleanlab"][i] for b in blocks]) for i in range(len(blocks[0]["cleanlab"]))]
    best = max(tools, key=lambda m: m["f1"])
    return {**blocks[0], "seed": "mean", "curate": curate, "cleanlab": tools, "reference": best["tool"]}


def misses(block: dict[str, Any]) -> dict[str, bool]:
    reference = next(r for r in block["cleanlab"] if r["tool"] == block["reference"])
    return {
        "f1": block["curate"]["f1"] < reference["f1"] + F1_MARGIN,
        "named_precision": block["curate"]["named_precision"] < NAMED_PRECISION,
    }


def print_table(blocks: list[dict[str, Any]]) -> None:
    print(
        "| geometry | seed | tool | precision | recall | F1 | named tags | named precision | named recall | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for block in blocks:
        reference = next(r for r in block["cleanlab"] if r["tool"] == block["reference"])
        head = f"| {block['geometry']} ({block['grid']}x{block['grid']}, {block['dim']}-d) | {block['seed']} "
        for m in [block["curate"], *block["cleanlab"]]:
            mark = " (ref)" if m["tool"] == block["reference"] else ""
            print(
                f"{head}| {m['tool']}{mark} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                f"{m['named']:.0f} | {m['named_precision']:.3f} | {m['named_recall']:.3f} | {m['seconds']:.1f} |"
            )
        c = block["curate"]
        miss = misses(block)
        print(
            f"{head}| **curate - ref** | {c['precision'] - reference['precision']:+.3f} | "
            f"{c['recall'] - reference['recall']:+.3f} | **{c['f1'] - reference['f1']:+.3f}**{' ✗' if miss['f1'] else ''} | "
            f"| {c['named_precision'] - reference['named_precision']:+.3f}{' ✗' if miss['named_precision'] else ''} | "
            f"{c['named_recall'] - reference['named_recall']:+.3f} | x{c['seconds'] / max(reference['seconds'], 1e-9):.2f} |"
        )


def scale_run(rows: int, dim: int, num_tags: int, seed: int) -> dict[str, Any]:
    """``score_tags`` on synthetic rows of the issue's size: each row 1-3 Zipf-drawn tags, its
    embedding the normalised sum of its tags' random directions plus noise."""
    from tests.bench._measure import peak_gib, reset_peak

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_tags + 1) ** 1.0
    weights /= weights.sum()
    centers = rng.standard_normal((num_tags, dim)).astype(np.float32)
    tags = np.zeros((rows, num_tags), dtype=bool)
    counts = rng.integers(1, 4, size=rows)
    draws = rng.choice(num_tags, size=(rows, 3), p=weights)
    for j in range(3):
        chosen = counts > j
        tags[np.flatnonzero(chosen), draws[chosen, j]] = True
    x = np.empty((rows, dim), dtype=np.float32)
    for start in range(0, rows, 8192):
        stop = min(start + 8192, rows)
        block = tags[start:stop].astype(np.float32) @ centers
        block += 1.5 * rng.standard_normal(block.shape, dtype=np.float32)
        x[start:stop] = _unit(block)
    flips = rng.choice(rows, size=rows // 20, replace=False)
    tags[flips, rng.integers(0, num_tags, size=len(flips))] ^= True

    from curate.score.multilabel import score_tags

    reset_peak()
    started = time.perf_counter()
    result = score_tags(x, tags, seed=seed)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "dim": dim,
        "tags": num_tags,
        "seconds": seconds,
        "peak_gib": peak_gib(),
        "flagged": int(result.is_label_issue.sum()),
        "planted": len(flips),
        "params": result.params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", choices=GEOMETRY_NAMES, default=list(GEOMETRY_NAMES))
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--grid", type=int, default=GRID, help="cells per canvas side (digits per canvas: 1-3)")
    parser.add_argument("--scale", action="store_true", help="time score_tags on synthetic data of the issue's size")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.scale:
        record = scale_run(args.rows or 100_000, args.dim, args.tags, args.seeds[0])
        print(
            f"score_tags on {record['rows']} x {record['dim']} with {record['tags']} tags: {record['seconds']:.1f} s, "
            f"peak {record['peak_gib']:.2f} GiB; flagged {record['flagged']} rows ({record['planted']} planted flips)"
        )
        if args.json:
            args.json.write_text(json.dumps(record, indent=2, default=str))
        return
    rows = args.rows or DEFAULT_ROWS
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only}
    for seed in args.seeds:
        for name in args.only:
            block = bench(name, seed, rows, args.grid)
            runs[name].append(block)
            print_table([block])
            sys.stdout.flush()
    blocks = [b for name in args.only for b in runs[name]]
    if len(args.seeds) > 1:
        means = [_mean(runs[name]) for name in args.only]
        print("\nMean over seeds", ", ".join(map(str, args.seeds)))
        print_table(means)
        judged = means
    else:
        judged = blocks
    print("\nBar (curate F1 >= reference + 0.02 and named-tag precision >= 0.80):")
    for block in judged:
        miss = misses(block)
        print(
            f"  {block['geometry']}: {'MISS ' + ', '.join(k for k, v in miss.items() if v) if any(miss.values()) else 'ok'}"
        )
    if args.json:
        args.json.write_text(json.dumps(blocks, indent=2, default=str))


if __name__ == "__main__":
    main()
