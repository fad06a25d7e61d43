"""Image-text pairs: how well each caption fits its image, and which captions do not.

``caption_score`` is the pair's cosine (image embedding . caption embedding), the number LAION's
and DataComp's CLIP-score filters threshold. Its scale is the model's own (ViT-B/32 pairs sit
around 0.3, other models elsewhere), so the mismatch test does not threshold it. It asks instead
whether the caption is among the image's best matches, against the captions of other samples:

1. **rank** — for each image, the share of a seeded reference sample of other captions
   (:data:`REFERENCE_CAPTIONS`) that fit the image better than its own caption, and for each
   caption the share of the same samples' images that fit it better than its own image
   (empirical p-values; ties and float32 rounding do not count as better, so a repeated
   caption does not lose to its own copies), combined by Fisher's method into one ``p``
   (:func:`combined_pvalue`). A right caption beats nearly every random one (``p`` near 0); a
   caption that belongs to another image is one more random caption, its ``p`` spread evenly
   over 0..1. ``caption_quality = 1 - p``. Being made of ranks, it means the same in every
   model: any increasing rescaling of the cosines leaves it unchanged.
2. **how many are wrong** — the share of mismatched pairs, ``pi``, is estimated from the
   p-values the way Storey estimates the share of true null hypotheses: right pairs rarely
   have ``p > lambda`` (:data:`STOREY_LAMBDA`), wrong ones do with probability ``1 - lambda``,
   so ``pi = #(p > lambda) / (n (1 - lambda))``.
3. **the cut** — a pair is ``is_caption_mismatch`` when ``p > t``, ``t`` chosen to maximise the
   F1 expected under that mixture (wrong pairs uniform, ``pi * n`` of them); nothing is flagged
   when fewer than one wrong pair is expected.

What was derived (``pi``, ``t``, the reference size, the score distribution's quantiles) is
returned for the artifacts and summary.json.

Repeated captions are grouped too: ``caption_duplicate_group`` joins samples whose captions are
the same text (``exact``) or the same after case, punctuation and spacing are normalised
(``near``): the same alt-text on thousands of images.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: other captions each image's own caption is ranked against
REFERENCE_CAPTIONS = 1024

#: Storey's lambda: above it, p-values are taken to come from wrong pairs only
STOREY_LAMBDA = 0.5

#: a reference caption fits better only by more than float32 rounding of a cosine
_ROUNDING = 1e-6

#: rows scored per block (memory: block x references floats)
_BLOCK = 8192


@dataclass
class CaptionResult:
    """Per-sample caption findings (N rows, aligned with the embedded samples).

    caption_score:   (N,) float32 cosine of image and caption; NaN without a caption
    caption_quality: (N,) float32 1 - p (1 = its caption fits better than every reference); NaN without one
    is_mismatch:     (N,) bool
    group / kind / group_size: repeated captions (object arrays of str or None, int64 counts)
    derived:         what the rule derived from this data (JSON-serialisable)
    """

    caption_score: np.ndarray
    caption_quality: np.ndarray
    is_mismatch: np.ndarray
    group: np.ndarray
    kind: np.ndarray
    group_size: np.ndarray
    derived: dict[str, Any] = field(default_factory=dict)


def rank_pvalues(
    images: np.ndarray, texts: np.ndarray, *, references: int = REFERENCE_CAPTIONS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """For n pairs (``images`` (n, D), ``texts`` (n, D), both L2-normalised, row i a pair):
    ``(scores (n,) float32, p_image (n,), p_caption (n,) float64, reference size)``.

    ``p_image[i]``: the share of a seeded sample of other rows' captions that fit image i better
    than caption i; ``p_caption[i]``: the share of the same rows' images that fit caption i
    better than image i; each ``(1 + better) / (1 + compared)`` (never 0: empirical p-values)."""
    n = images.shape[0]
    scores = np.einsum("ij,ij->i", images, texts).astype(np.float32)
    m = min(references, n)
    ref = np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False)) if m < n else np.arange(n)
    position = np.full(n, -1, dtype=np.int64)
    position[ref] = np.arange(m)
    return scores, _pvalues(images, texts[ref], scores, position), _pvalues(texts, images[ref], scores, position), m


def _pvalues(queries: np.ndarray, keys: np.ndarray, scores: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per query row i: ``(1 + #keys fitting it better than its own pair) / (1 + #keys compared)``;
    ``position[i]``, the row of i's own pair among ``keys`` (-1: not there), is not compared."""
    n, m = queries.shape[0], keys.shape[0]
    keys_t = keys.T
    p = np.ones(n, dtype=np.float64)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        better = queries[start:stop] @ keys_t > scores[start:stop, None] + _ROUNDING
        rows = np.arange(stop - start)
        own = position[start:stop]
        inside = own >= 0
        better[rows[inside], own[inside]] = False  # a pair is not compared with itself
        p[start:stop] = (1 + better.sum(axis=1)) / (1 + m - inside.astype(np.int64))
    return p


def combined_pvalue(p_image: np.ndarray, p_caption: np.ndarray) -> np.ndarray:
    """Fisher's combination of the two directions' p-values: for two independent uniform p-values
    the product ``x`` has ``P(X <= x) = x (1 - ln x)``, so that is again uniform for a wrong pair
    (its caption is one more random caption, and its image one more random image) and small when
    either direction finds the pair far better than chance."""
    x = np.clip(p_image * p_caption, 1e-300, 1.0)
    return x * (1.0 - np.log(x))


def mismatch_cut(p: np.ndarray, *, lam: float = STOREY_LAMBDA) -> tuple[float, float]:
    """``(pi, t)``: the estimated share of wrong pairs among p-values ``p`` (Storey) and the cut
    ``t`` maximising the F1 expected when the wrong pairs' p-values are uniform; ``t = 1`` (flag
    nothing) when fewer than one wrong pair is expected."""
    n = p.size
    if n == 0:
        return 0.0, 1.0
    pi = float(min(1.0, np.count_nonzero(p > lam) / (n * (1.0 - lam))))
    wrong = pi * n
    if wrong < 1.0:
        return pi, 1.0
    cuts = np.unique(p)
    ordered = np.sort(p)
    flagged = n - np.searchsorted(ordered, cuts, side="right")  # #(p > t) for each candidate t
    true_pos = np.minimum(flagged, wrong * (1.0 - cuts))
    f1 = 2 * true_pos / (flagged + wrong)
    best = int(np.argmax(f1))
    return pi, float(cuts[best])


_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalised_caption(text: str) -> str:
    """A caption with case, punctuation and spacing removed: what near-duplicate captions share."""
    return " ".join(_PUNCTUATION.sub(" ", text.casefold()).split())


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def caption_groups(captions: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(group, kind, size)`` of repeated captions: samples whose captions normalise to the same
    text share ``group`` (``cap-<digest>``); ``kind`` is ``exact`` when all of them are the same
    text, else ``near``; ``size`` counts the group (0 outside one)."""
    group = np.full(n, None, dtype=object)
    kind = np.full(n, None, dtype=object)
    size = np.zeros(n, dtype=np.int64)
    if captions is None:
        return group, kind, size
    members: dict[str, list[int]] = {}
    for i, text in enumerate(captions):
        if text is not None:
            members.setdefault(normalised_caption(text), []).append(i)
    for norm, rows in members.items():
        if len(rows) < 2:
            continue
        exact = len({captions[i] for i in rows}) == 1
        group[rows] = f"cap-{_key(norm)}"
        kind[rows] = "exact" if exact else "near"
        size[rows] = len(rows)
    return group, kind, size


def score_captions(
    images: np.ndarray,
    caption_embeddings: np.ndarray | None,
    captions: np.ndarray | None = None,
    *,
    references: int = REFERENCE_CAPTIONS,
    seed: int = 0,
) -> CaptionResult:
    """Caption findings for N samples: ``images`` (N, D) and ``caption_embeddings`` (N, D),
    L2-normalised, an all-zero row for a sample without a caption (None: no captions at all);
    ``captions`` (N,) texts or None, for the repeated-caption groups. See the module docstring."""
    n = images.shape[0]
    score = np.full(n, np.nan, dtype=np.float32)
    quality = np.full(n, np.nan, dtype=np.float32)
    flag = np.zeros(n, dtype=bool)
    group, kind, size = caption_groups(captions, n)
    derived: dict[str, Any] = {"num_pairs": 0}
    if caption_embeddings is not None:
        paired = np.flatnonzero(np.linalg.norm(caption_embeddings, axis=1) > 0)
        if paired.size >= 2:
            s, p_image, p_caption, m = rank_pvalues(
                images[paired], caption_embeddings[paired], references=references, seed=seed
            )
            p = combined_pvalue(p_image, p_caption)
            pi, cut = mismatch_cut(p)
            score[paired], quality[paired] = s, (1.0 - p).astype(np.float32)
            flag[paired] = p > cut
            q = np.quantile(s, [0.05, 0.25, 0.5, 0.75, 0.95])
            derived = {
                "num_pairs": int(paired.size),
                "references": m,
                "mismatch_share_estimate": round(pi, 4),
                "rank_cut": round(cut, 4),
                "storey_lambda": STOREY_LAMBDA,
                "score_quantiles": {k: round(float(v), 4) for k, v in zip(("p05", "p25", "p50", "p75", "p95"), q)},
                "num_mismatched": int(flag.sum()),
            }
        elif paired.size == 1:
            score[paired] = np.einsum("ij,ij->i", images[paired], caption_embeddings[paired])
            derived = {"num_pairs": 1, "note": "one caption: nothing to rank it against"}
    derived["num_caption_duplicate_groups"] = len({g for g in group if g is not None})
    return CaptionResult(score, quality, flag, group, kind, size, derived)
