"""Subset selection: does a probe trained on curate's selection beat random subsets of the same size?

For each pool (real features from data packages ship, and ``curate.synth``), with planted label
noise and redundancy (near copies) and a CLEAN held-out test split:

1. ``curate scan --embeddings E.npy --labels L.npy`` on the pool (:func:`curate.scan.run_scan`);
2. ``curate select WS --budget B`` (:func:`curate.select.stage.run_select`) at every budget of
   :data:`BUDGETS`, reading the chosen rows from manifest.parquet (``selected``);
3. a linear probe (scikit-learn's ``LogisticRegression``, :data:`PROBE_C`, on features
   standardised over the pool) trained on the subset with its GIVEN labels (and, as a variant,
   with curate's final labels), scored on the clean test split;

side by side with random subsets of the same size (mean of :data:`RANDOM_DRAWS` draws), the naive
rule (:func:`naive_rows`: drop flagged copies, label issues and defects, fill class by class at
random) and the whole noisy pool. The issue's bar (printed per pool): curate >=
random + 3 points at every budget, >= the whole pool at 40 %, within 2 points of it at 20 %.

    PYTHONPATH=$PWD python tests/bench/bench_select.py [--pools digits-hog,textile-hog,synth]
        [--plot docs/img/select_curves.png] [--seeds 0,1,2]

Needs the ``bench`` extra (scikit-learn, scikit-image, conformal-clip-data, matplotlib).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: the budgets, as fractions of the pool
BUDGETS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: share of each class's rows whose given label is wrong (half to the look-alike class)
NOISE_RATE = 0.12
#: near copies as a share of the pool
COPY_RATE = 0.25
#: share of the data held out, clean, to score the probes
TEST_SHARE = 0.3
#: random subsets drawn per budget
RANDOM_DRAWS = 5
#: the probe's inverse regularisation strength, the same for every subset (scikit-learn's
#: default; ``--probe-c`` sets another: a strongly regularised probe shrugs label noise off)
PROBE_C = 1.0


@dataclass
class Pool:
    """A training pool and its clean test split.

    features: (N, D) float32 pool rows (what curate is given);  labels: (N,) int64 given labels
    true_labels: (N,) int64;  is_copy: (N,) bool, a near copy of another pool row
    test_features: (M, D) float32;  test_labels: (M,) int64 true labels
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    is_copy: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    extractor: str


def _split(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, test) row indices, :data:`TEST_SHARE` of every class in the test split."""
    test = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == c))[: round(TEST_SHARE * (labels == c).sum())]
            for c in np.unique(labels)
        ]
    )
    return np.setdiff1d(np.arange(len(labels)), test), np.sort(test)


def _noisy(labels: np.ndarray, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Given labels: :data:`NOISE_RATE` of each class flipped, half to the look-alike class."""
    from tests.bench.geometries import _look_alike

    num_classes = int(labels.max()) + 1
    look_alike = _look_alike(features, labels, num_classes)
    given = labels.copy()
    for c in range(num_classes):
        rows = rng.permutation(np.flatnonzero(labels == c))[: round(NOISE_RATE * (labels == c).sum())]
        for i, row in enumerate(rows):
            if i % 2 == 0 and num_classes > 2:
                given[row] = look_alike[c]
            else:
                given[row] = rng.choice([k for k in range(num_classes) if k != c])
    return given


def _with_copies(
    base: list[Any], labels: np.ndarray, copy: Callable[[Any, np.random.Generator], Any], rng: np.random.Generator
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """``base`` items plus near copies of a random subset (one copy per source) so that copies are
    :data:`COPY_RATE` of the result; returns (items, source row of each item, is_copy)."""
    count = round(COPY_RATE / (1 - COPY_RATE) * len(base))
    sources = rng.choice(len(base), size=count, replace=False)
    items = list(base) + [copy(base[s], rng) for s in sources]
    source = np.concatenate([np.arange(len(base)), sources])
    return items, source, np.arange(len(items)) >= len(base)


def _image_pool(
    name: str,
    extractor: str,
    pictures: list[Any],
    truth: np.ndarray,
    describe: Callable[[Any], np.ndarray],
    seed: int,
) -> Pool:
    from tests.bench.geometries import _near_copy

    rng = np.random.default_rng([seed, 30])
    train, test = _split(truth, rng)
    base_features = np.stack([describe(pictures[i]) for i in train])
    given = _noisy(truth[train], base_features, rng)
    items, source, is_copy = _with_copies([pictures[i] for i in train], truth[train], _near_copy, rng)
    copies = np.stack([describe(p) for p in items[len(train) :]])
    order = rng.permutation(len(items))
    features = np.concatenate([base_features, copies])[order]
    return Pool(
        name=name,
        features=features.astype(np.float32),
        labels=given[source][order],
        true_labels=truth[train][source][order],
        is_copy=is_copy[order],
        test_features=np.stack([describe(pictures[i]) for i in test]).astype(np.float32),
        test_labels=truth[test],
        extractor=extractor,
    )


def digits_hog(seed: int = 0) -> Pool:
    """sklearn's digits upsampled to 32x32, HOG (as tests/bench/geometries.py's digits-hog)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from tests.bench.geometries import _digit_picture, _hog

    digits = load_digits()
    pictures = [_digit_picture(image, 32, Image.BILINEAR) for image in digits.images]
    return _image_pool(
        "digits-hog",
        "sklearn digits 32x32, HOG (9 orientations, 8x8 cells, 2x2 blocks)",
        pictures,
        digits.target.astype(np.int64),
        lambda p: _hog(p.resize((32, 32), Image.BILINEAR), cell=8),
        seed,
    )


def textile_hog(seed: int = 0) -> Pool:
    """conformal_clip_data's textile photos, 64x64 grayscale HOG (as geometries' textile-hog)."""
    from PIL import Image

    from tests.bench.geometries import _hog, _textile_pictures

    pictures, labels = _textile_pictures()
    return _image_pool(
        "textile-hog",
        "conformal_clip_data textile photos, 64x64 grayscale, HOG (9 orientations, 8x8 cells, 2x2 blocks)",
        pictures,
        labels,
        lambda p: _hog(p.resize((64, 64), Image.BILINEAR), cell=8),
        seed,
    )


def synth(seed: int = 0, size: int = 5000) -> Pool:
    """``curate.synth`` (CLIP-like, sub-clusters in every class, a 5x long tail) with its own
    planted noise and near copies; the test split is singletons with their true labels."""
    from curate.synth import make_dataset

    data = make_dataset(
        size,
        20,
        dim=128,
        imbalance_ratio=5.0,
        noise_rate=NOISE_RATE,
        noise_to_confusable=0.5,
        near_duplicate_fraction=COPY_RATE * (1 - TEST_SHARE),
        exact_duplicate_fraction=0.0,
        outlier_fraction=0.0,
        seed=seed,
    )
    rng = np.random.default_rng([seed, 31])
    single = np.flatnonzero(data.duplicate_group < 0)
    _, test_of_single = _split(data.true_labels[single], rng)
    test = single[test_of_single]
    train = np.setdiff1d(np.arange(len(data.labels)), test)
    group = data.duplicate_group[train]
    first = {}
    for i, g in enumerate(group):
        if g >= 0:
            first.setdefault(g, i)
    is_copy = np.array([g >= 0 and first[g] != i for i, g in enumerate(group)], dtype=bool)
    return Pool(
        name="synth",
        features=data.embeddings[train].astype(np.float32),
        labels=data.labels[train],
        true_labels=data.true_labels[train],
        is_copy=is_copy,
        test_features=data.embeddings[test].astype(np.float32),
        test_labels=data.true_labels[test],
        extractor="curate.synth, 20 classes, D=128, imbalance 5",
    )


POOLS: dict[str, Callable[[int], Pool]] = {"digits-hog": digits_hog, "textile-hog": textile_hog, "synth": synth}


class Probe:
    """Logistic regression at :data:`PROBE_C` on features standardised over the pool."""

    def __init__(self, pool: Pool):
        self.mean = pool.features.mean(axis=0)
        self.scale = pool.features.std(axis=0) + 1e-6
        self.pool = pool
        self.test = (pool.test_features - self.mean) / self.scale

    def accuracy(self, rows: np.ndarray, labels: np.ndarray | None = None) -> float:
        """Test accuracy (%) of a probe trained on pool ``rows`` with ``labels`` (given ones by default)."""
        from sklearn.linear_model import LogisticRegression

        y = (self.pool.labels if labels is None else labels)[rows]
        x = (self.pool.features[rows] - self.mean) / self.scale
        model = LogisticRegression(C=PROBE_C, max_iter=2000).fit(x, y)
        return 100.0 * float((model.predict(self.test) == self.pool.test_labels).mean())


def _selected(ws: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows selected, final label of every row) from manifest.parquet."""
    import pyarrow.parquet as pq

    m = pq.read_table(ws.path("manifest"), columns=["sample_id", "selected", "label"]).to_pydict()
    rows = np.array([int(s) for s, sel in zip(m["sample_id"], m["selected"]) if sel], dtype=np.int64)
    final = np.full(n, -1, dtype=np.int64)
    for s, lab in zip(m["sample_id"], m["label"]):
        final[int(s)] = -1 if lab is None else int(lab)
    return np.sort(rows), final


def naive_rows(ws: Any, count: int, rng: np.random.Generator) -> np.ndarray:
    """The naive rule: the rows curate's audit leaves as candidates (flagged copies, label issues,
    defects and dropped rows left out: :func:`curate.select.plan.row_tiers`), ``count`` of them
    filled class by class at random with the default strategy's class quotas, then the other
    rows at random if the candidates are too few."""
    import pyarrow.parquet as pq

    from curate.select.plan import row_tiers
    from curate.select.strategies import class_quotas

    plan = pq.read_table(ws.path("plan"))
    issues = pq.read_table(ws.path("issues"))
    readable = np.ones(plan.num_rows, dtype=bool)
    tiers = row_tiers(plan, readable, readable, issues)
    ids = np.array([int(s) for s in plan.column("sample_id").to_pylist()])
    labels = np.array([int(lab) for lab in plan.column("label").to_pylist()])
    candidates = np.flatnonzero(tiers == 0)
    classes = np.unique(labels)
    available = np.array([(labels[candidates] == c).sum() for c in classes])
    quota = class_quotas(available, min(count, len(candidates)))
    chosen = [rng.choice(candidates[labels[candidates] == c], size=q, replace=False) for c, q in zip(classes, quota)]
    rest = np.setdiff1d(np.arange(len(ids)), candidates)
    chosen.append(rng.choice(rest, size=count - int(quota.sum()), replace=False))
    return np.sort(ids[np.concatenate(chosen)])


def bench(
    pool: Pool, seed: int, workdir: Path, *, budgets: tuple[float, ...] = BUDGETS, draws: int = RANDOM_DRAWS
) -> dict[str, Any]:
    """Scan the pool, select at every budget, and score every subset's probe (and ``draws``
    random subsets of the same size)."""
    from curate.scan import run_scan
    from curate.select.stage import run_select
    from curate.workspace import Workspace

    np.save(workdir / "E.npy", pool.features)
    np.save(workdir / "L.npy", pool.labels)
    ws = Workspace(workdir / "ws")
    started = time.perf_counter()
    run_scan(None, ws, embeddings=workdir / "E.npy", labels=workdir / "L.npy")
    scan_seconds = time.perf_counter() - started
    ws.path("report").unlink()  # select refreshes the report when there is one: not measured here
    probe = Probe(pool)
    n = len(pool.labels)
    whole = probe.accuracy(np.arange(n))
    rng = np.random.default_rng([seed, 32])
    rows: list[dict[str, Any]] = []
    select_seconds = 0.0
    for budget in budgets:
        started = time.perf_counter()
        run_select(ws, budget=budget, seed=seed)
        select_seconds += time.perf_counter() - started
        chosen, final = _selected(ws, n)
        count = len(chosen)
        naive = naive_rows(ws, count, rng)
        randoms = [probe.accuracy(rng.choice(n, size=count, replace=False)) for _ in range(draws)]
        rows.append(
            {
                "budget": budget,
                "count": count,
                "curate": probe.accuracy(chosen),
                "curate_final": probe.accuracy(chosen, final) if (final[chosen] >= 0).all() else None,
                "naive": probe.accuracy(naive),
                "random": float(np.mean(randoms)),
                "random_sd": float(np.std(randoms)),
                "noisy_share": 100.0 * float((pool.labels[chosen] != pool.true_labels[chosen]).mean()),
                "copy_share": 100.0 * float(pool.is_copy[chosen].mean()),
            }
        )
    return {
        "pool": pool.name,
        "extractor": pool.extractor,
        "n": n,
        "test": len(pool.test_labels),
        "classes": int(pool.true_labels.max()) + 1,
        "noise": 100.0 * float((pool.labels != pool.true_labels).mean()),
        "copies": 100.0 * float(pool.is_copy.mean()),
        "whole": whole,
        "rows": rows,
        "scan_seconds": scan_seconds,
        "select_seconds": select_seconds / len(budgets),
    }


def mean_block(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """One pool's blocks of several seeds folded into one: every number averaged (the random
    subsets' spread is the mean of the seeds' spreads), ``seeds`` says how many."""

    def fold(values: list[Any]) -> Any:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return float(np.mean(values))
        return values[0]

    rows = [
        {key: fold([b["rows"][i][key] for b in blocks]) for key in blocks[0]["rows"][i]}
        for i in range(len(blocks[0]["rows"]))
    ]
    for i, row in enumerate(rows):
        row["count"] = int(round(row["count"]))
        finals = [b["rows"][i]["curate_final"] for b in blocks]
        row["curate_final"] = None if None in finals else float(np.mean(finals))
    out = {key: fold([b[key] for b in blocks]) for key in blocks[0] if key != "rows"}
    out.update(rows=rows, seeds=len(blocks), n=int(round(out["n"])), test=int(round(out["test"])))
    out["classes"] = int(out["classes"])
    return out


def misses(block: dict[str, Any]) -> list[str]:
    """The issue's bar for one pool, as the list of what it missed (empty: met)."""
    out = []
    for row in block["rows"]:
        if row["curate"] < row["random"] + 3.0:
            out.append(f"{row['budget']:.0%}: curate {row['curate']:.1f} < random {row['random']:.1f} + 3")
        if row["budget"] == 0.4 and row["curate"] < block["whole"]:
            out.append(f"40%: curate {row['curate']:.1f} < whole pool {block['whole']:.1f}")
        if row["budget"] == 0.2 and row["curate"] < block["whole"] - 2.0:
            out.append(f"20%: curate {row['curate']:.1f} < whole pool {block['whole']:.1f} - 2")
    return out


def print_block(block: dict[str, Any]) -> None:
    seeds = f", mean of {block['seeds']} seeds" if block.get("seeds", 1) > 1 else ""
    print(
        f"\n{block['pool']}{seeds}: {block['extractor']}; pool {block['n']} rows ({block['noise']:.1f} % wrong labels, "
        f"{block['copies']:.1f} % near copies), {block['classes']} classes, clean test split {block['test']}; "
        f"scan {block['scan_seconds']:.1f} s, select {block['select_seconds']:.2f} s per budget"
    )
    print(f"whole noisy pool: {block['whole']:.1f} % test accuracy")
    print(
        "| budget | rows | curate | curate, final labels | naive rule | random (mean of 5) | curate - random "
        "| curate - whole | wrong labels in selection | copies in selection |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in block["rows"]:
        final = "-" if r["curate_final"] is None else f"{r['curate_final']:.1f}"
        print(
            f"| {r['budget']:.0%} | {r['count']} | {r['curate']:.1f} | {final} | {r['naive']:.1f} | "
            f"{r['random']:.1f} ± {r['random_sd']:.1f} | {r['curate'] - r['random']:+.1f} | "
            f"{r['curate'] - block['whole']:+.1f} | {r['noisy_share']:.1f} % | {r['copy_share']:.1f} % |"
        )
    missed = misses(block)
    print("bar: met" if not missed else "bar: MISSED " + "; ".join(missed))


def plot(blocks: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy against budget, one panel per pool: curate, the naive rule, random, the whole pool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(blocks), figsize=(4.2 * len(blocks), 3.4), squeeze=False)
    for ax, block in zip(axes[0], blocks):
        x = [100 * r["budget"] for r in block["rows"]]
        ax.plot(x, [r["curate"] for r in block["rows"]], "o-", label="curate select")
        ax.plot(x, [r["naive"] for r in block["rows"]], "s--", label="naive rule")
        ax.errorbar(
            x,
            [r["random"] for r in block["rows"]],
            yerr=[r["random_sd"] for r in block["rows"]],
            fmt="^:",
            label="random (mean of 5)",
        )
        ax.axhline(block["whole"], color="grey", linestyle="-.", label="whole noisy pool")
        ax.set_title(block["pool"])
        ax.set_xlabel("budget (% of the pool)")
        ax.set_ylabel("clean test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def time_at_scale(rows: int, dim: int, classes: int, budget: float, seed: int = 0) -> dict[str, Any]:
    """Seconds :func:`curate.select.strategies.select_rows` (default strategy) takes on ``rows``
    random unit vectors in ``classes`` Gaussian classes with a 10x long tail and a neighbour
    column, at ``budget``: the selection's own cost, without the scan around it."""
    from curate.select.strategies import select_rows

    rng = np.random.default_rng(seed)
    sizes = np.geomspace(10, 1, classes)
    labels = rng.choice(classes, size=rows, p=sizes / sizes.sum()).astype(np.int64)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    x = centres[labels] + 2.0 * rng.normal(size=(rows, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    nearest = rng.integers(rows, size=rows)  # the cost of the deferral, not its effect
    started = time.perf_counter()
    chosen = select_rows(x, labels, np.zeros(rows, dtype=np.int64), round(budget * rows), nearest=nearest)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "dim": dim,
        "classes": classes,
        "budget": budget,
        "seconds": seconds,
        "selected": int(chosen.selected.sum()),
    }


def main() -> None:
    global PROBE_C
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default=",".join(POOLS))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; a pool's numbers are their mean")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--probe-c", type=float, default=PROBE_C, help="the probe's C (sklearn's default 1.0)")
    parser.add_argument(
        "--scale",
        default=None,
        help="ROWSxDIMxCLASSES: only time the selection itself on random data (1000000x512x1000)",
    )
    args = parser.parse_args()
    PROBE_C = args.probe_c
    if args.scale is not None:
        rows, dim, classes = (int(v) for v in args.scale.split("x"))
        for budget in (0.1, 0.3, 0.7):
            t = time_at_scale(rows, dim, classes, budget)
            print(
                f"select_rows default: {t['rows']:,} x {t['dim']}, {t['classes']} classes, budget {budget:.0%}: "
                f"{t['seconds']:.1f} s ({t['selected']:,} selected)"
            )
        return
    blocks = []
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.pools.split(","):
        runs = []
        for seed in seeds:
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-select-{name}-"))
            try:
                runs.append(bench(POOLS[name](seed), seed, workdir))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        blocks.append(mean_block(runs) if len(runs) > 1 else runs[0])
        print_block(blocks[-1])
    if args.plot is not None:
        plot(blocks, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
