"""Caption mismatch: curate's derived rule vs the fixed CLIP-score cut and the top-fraction filter.

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/bench/bench_captions.py [--pairs 10000] [--seeds 3]

Every row plants 10% swapped captions (a caption moved to an image of another concept) and
scores the same pairs four ways, F1 against the planted truth:

* **curate** — ``is_caption_mismatch`` (:mod:`curate.score.captions`), no threshold given;
* **fixed 0.28** — flag ``caption_score < 0.28``, LAION-400M's ViT-B/32 rule;
* **top 30%** — DataComp's CLIP-score baseline kept the top 30%: flag the other 70%;
* and two cuts only hindsight can set, for scale: the fixed cosine that maximises F1 on this
  data knowing the truth, and the bottom 10% by score (knowing the planted share).

Data:

1. **BYO embeddings** (``curate.synth.make_pairs``, D=256, 100 concepts): a two-tower space with
   a modality gap, drawn at the scale of ViT-B/32 (right captions about 0.31, unrelated ones
   about 0.12), at two other scales with the same signal (another model's numbers: every cosine
   lower, or higher), and at a lower scale with a weaker signal. The first geometry also runs
   end to end: written as clip-retrieval's output folder and scanned with ``curate scan
   --embeddings FOLDER`` (its flags must equal the library's).
2. **Real images, templated captions**: scikit-learn's 1,797 handwritten digits (8x8 pixels as
   the image tower) with captions from six templates ("handwritten 7", "the number seven",
   ...); the text tower is a ridge map from the captions' character n-grams (TF-IDF) to the
   image space, fitted on the other half of the digits with their right captions: a small
   two-tower model whose cosines sit where that fit puts them, not where CLIP's do.

Random-weight CLIP models (the test suite's) prove the mechanics only; these embeddings carry
the judgement because their truth is known. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from curate.score.captions import score_captions
from curate.synth import make_pairs

LAION_CUT = 0.28
DATACOMP_KEEP = 0.3
SWAP_RATE = 0.1

#: (name, unrelated cosine, right-caption cosine)
GEOMETRIES = (
    ("ViT-B/32 scale (0.12 / 0.31)", 0.12, 0.31),
    ("lower scale, same signal (0.00 / 0.19)", 0.0, 0.19),
    ("higher scale, same signal (0.40 / 0.59)", 0.40, 0.59),
    ("lower scale, weaker signal (0.03 / 0.17)", 0.03, 0.17),
)

TEMPLATES = (
    "a photo of the digit {word}",
    "handwritten {digit}",
    "the number {word}",
    "a {word}",
    "{digit}, written by hand",
    "an image of a {word}",
)
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def f1(flags: np.ndarray, truth: np.ndarray) -> float:
    tp = int((flags & truth).sum())
    return 2 * tp / max(int(flags.sum()) + int(truth.sum()), 1)


def best_fixed_cut(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(cut, F1) of the fixed cosine that flags ``scores < cut`` best, knowing ``truth``."""
    order = np.argsort(scores)
    tp = np.cumsum(truth[order])
    flagged = np.arange(1, len(scores) + 1)
    f = 2 * tp / (flagged + truth.sum())
    best = int(np.argmax(f))
    return float(scores[order][best]), float(f[best])


def compare(images: np.ndarray, texts: np.ndarray, truth: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """F1 of every rule on one set of pairs, and the numbers curate derived."""
    found = score_captions(images, texts, seed=seed)
    scores = found.caption_score
    keep = np.argsort(-scores, kind="stable")[: round(DATACOMP_KEEP * len(scores))]
    top = np.ones(len(scores), dtype=bool)
    top[keep] = False
    bottom = np.zeros(len(scores), dtype=bool)
    bottom[np.argsort(scores, kind="stable")[: int(truth.sum())]] = True
    cut, hindsight = best_fixed_cut(scores, truth)
    tp = int((found.is_mismatch & truth).sum())
    return {
        "curate": f1(found.is_mismatch, truth),
        "precision": tp / max(int(found.is_mismatch.sum()), 1),
        "recall": tp / max(int(truth.sum()), 1),
        "fixed": f1(scores < LAION_CUT, truth),
        "top": f1(top, truth),
        "hindsight": hindsight,
        "hindsight_cut": cut,
        "bottom": f1(bottom, truth),
        "pi": found.derived["mismatch_share_estimate"],
        "median_right": float(np.median(scores[~truth])),
        "median_swapped": float(np.median(scores[truth])),
    }


def scan_clip_retrieval(images: np.ndarray, texts: np.ndarray, folder: Path) -> np.ndarray:
    """``curate scan --embeddings FOLDER`` on the pairs written as clip-retrieval's output;
    returns is_caption_mismatch by row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.scan import run_scan
    from curate.workspace import Workspace

    for sub in ("img_emb", "text_emb", "metadata"):
        (folder / sub).mkdir(parents=True)
    half = len(images) // 2
    for k, rows in enumerate((slice(0, half), slice(half, None))):
        np.save(folder / "img_emb" / f"img_emb_{k}.npy", images[rows])
        np.save(folder / "text_emb" / f"text_emb_{k}.npy", texts[rows])
        n = len(images[rows])
        pq.write_table(
            pa.table({"caption": [f"caption {i}" for i in range(n)]}), folder / "metadata" / f"metadata_{k}.parquet"
        )
    ws = Workspace(folder / "ws")
    run_scan(None, ws, embeddings=folder)
    issues = pq.read_table(ws.path("issues"), columns=["sample_id", "is_caption_mismatch"])
    flags = np.zeros(len(images), dtype=bool)
    flags[np.asarray(issues.column("sample_id").to_pylist(), dtype=int)] = issues.column(
        "is_caption_mismatch"
    ).to_numpy()
    return flags


def digits_pairs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, texts, swapped) of the held-out half of scikit-learn's digits (module docstring)."""
    from sklearn.datasets import load_digits
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(seed)
    digits = load_digits()
    x = digits.data.astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = digits.target
    n = len(y)

    def caption(d: int) -> str:
        return TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(word=WORDS[d], digit=d)

    captions = [caption(int(d)) for d in y]
    order = rng.permutation(n)
    fit, held = order[: n // 2], order[n // 2 :]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(
        [caption(d) for d in range(10) for _ in range(20)]
    )
    tower = Ridge(alpha=1.0).fit(vectorizer.transform([captions[i] for i in fit]), x[fit])
    swapped = np.zeros(len(held), dtype=bool)
    given = [captions[i] for i in held]
    for k in rng.choice(len(held), size=round(SWAP_RATE * len(held)), replace=False):
        other = int(rng.choice([d for d in range(10) if d != y[held[k]]]))
        given[k], swapped[k] = caption(other), True
    texts = tower.predict(vectorizer.transform(given)).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    return x[held], texts, swapped


def row(name: str, runs: list[dict[str, float]]) -> str:
    def cell(key: str, digits: int = 3) -> str:
        values = np.array([r[key] for r in runs])
        return f"{values.mean():.{digits}f}" + (f" ± {values.std():.{digits}f}" if len(values) > 1 else "")

    ratio = np.mean([r["curate"] / max(r["fixed"], 1e-9) for r in runs])
    return (
        f"| {name} | {cell('median_right')} / {cell('median_swapped')} | **{cell('curate')}** "
        f"({cell('precision', 2)} / {cell('recall', 2)}) | {cell('fixed')} | {cell('top')} | "
        f"{cell('hindsight')} (at {cell('hindsight_cut')}) | {cell('bottom')} | {cell('pi')} | "
        f"{'∞' if not np.isfinite(ratio) or ratio > 1e6 else f'{ratio:.1f}x'} |"
    )


HEADER = (
    "| pairs | median score right / swapped | curate F1 (P / R), no threshold | fixed 0.28 | top 30% | "
    "best fixed cut, in hindsight | bottom 10%, in hindsight | curate's estimated wrong share | curate / fixed |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-scan", action="store_true", help="skip the end-to-end clip-retrieval scan")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"BYO embeddings: {args.pairs:,} pairs, {SWAP_RATE:.0%} swapped, {args.seeds} seeds (mean ± sd)\n")
    print(HEADER)
    for name, unrelated, matched in GEOMETRIES:
        runs = []
        for seed in range(args.seeds):
            pairs = make_pairs(args.pairs, unrelated=unrelated, matched=matched, swap_rate=SWAP_RATE, seed=seed)
            runs.append(compare(pairs.images, pairs.texts, pairs.swapped))
        print(row(name, runs), flush=True)
    if not args.no_scan:
        name, unrelated, matched = GEOMETRIES[0]
        pairs = make_pairs(args.pairs, unrelated=unrelated, matched=matched, swap_rate=SWAP_RATE, seed=0)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench_captions_") as tmp:
            flags = scan_clip_retrieval(pairs.images, pairs.texts, Path(tmp) / "clip-retrieval")
        library = score_captions(pairs.images, pairs.texts).is_mismatch
        print(
            f"\nend to end (`curate scan --embeddings` on clip-retrieval's folder, {name}, seed 0): F1 "
            f"{f1(flags, pairs.swapped):.3f}, flags equal to the library's: {bool(np.array_equal(flags, library))} "
            f"({time.perf_counter() - t:.1f} s)"
        )
    print(
        f"\nReal images (scikit-learn digits, held-out half: 898 pairs), templated captions, {SWAP_RATE:.0%} swapped:\n"
    )
    print(HEADER)
    print(row("digits pixels + ridge text tower", [compare(*digits_pairs(seed)) for seed in range(args.seeds)]))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
