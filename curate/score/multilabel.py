"""Multi-label tags: out-of-sample tag probabilities, then confident learning tag by tag.

A sample carries a *set* of tags (an (N, K) multi-hot matrix; a row may be empty). Two things go
wrong with such sets: a tag that is present in the picture is missing from the set, and a tag in
the set names something that is not there (spurious). :func:`score_tags` finds both.

1. **Sources**, each out of sample, each scored for every (row, tag) cell:

   * ``probe``: a one-vs-rest linear probe, solved jointly as one multi-output ridge regression on
     the 0/1 targets (one Gram matrix for every tag: a single pass over the data, then one small
     solve per fold), ``folds``-fold cross-validated with duplicate groups kept in one fold and
     the rows dealt to the folds by their rarest tag (so a tail tag is spread over the folds). The
     ridge strength is chosen from the data: each candidate's out-of-fold scores on a sample of
     rows, calibrated per tag, and the one with the lowest held-out log loss is kept.
   * ``knn``: the similarity-weighted share of a sample's neighbours that carry the tag, the
     sample itself and its duplicate group excluded (a copy with the same wrong tags would confirm
     them), weights ``exp(sim / T)`` with the space's vote temperature
     (:func:`curate.graph.scale.measure_scale`).
   * ``zeroshot``: cosine similarity to the tag names' text embeddings, when given.

2. **Calibration per tag**: Platt scaling (``sigmoid(a_k s + b_k)``, Platt's smoothed targets, so
   a tag with few positives cannot be fitted to certainty) of each source on its out-of-fold
   scores, then the calibrated logits are pooled with one weight per source fitted by held-out
   log loss (a source that explains the tags worse in this space counts less), and the pool is
   calibrated per tag once more. The fits use every positive cell of every tag and a shared random
   sample of rows for the negative cells (weighted back to the tag's negative count), so the cost
   does not grow with N x K.

3. **Confident learning per tag**, cleanlab's multi-label recipe (one binary problem per tag): the
   thresholds are the mean predicted probability of the rows given the tag and the mean
   predicted absence of the rows not given it; the 2 x 2 confident joint is calibrated to the
   tag's counts (:func:`curate.score.noise.joint.calibrate_confident_joint`); its off-diagonal
   counts say how many given tags to call spurious (the lowest probabilities among the rows given
   the tag) and how many absent tags to call missing (the highest among the rows without it); a
   call the prediction itself contradicts (probability on the given side of one half) is dropped.
   A tag with fewer positives than ``folds`` (some fold never saw it, so its out-of-fold scores
   say nothing) is never named missing; the bar is recorded in ``params``.

A row is an issue when any tag is named. Its ``label_quality`` is the probability that every tag
decision of the row is right, ``prod_k p(given state of tag k)``: a row with two doubtful tags ranks
below one with a single doubtful tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.errors import DataError, UsageError
from curate.graph.scale import measure_scale
from curate.score.duplicates import duplicate_components
from curate.score.noise.joint import (
    CONFIDENT_THRESHOLDS_LOWER_BOUND,
    FLOATING_POINT_COMPARISON,
    calibrate_confident_joint,
    keep_at_least_n_per_class,
)
from curate.score.noise.probe import RIDGE_GRID, _with_bias_np, cv_folds
from curate.score.noise.score import DEFAULT_VOTE_K

#: How tags are named wrong: the noise channel's posterior, or cleanlab's per-tag confident learning.
RULES = ("posterior", "confident_learning")


@dataclass(frozen=True)
class TagScores:
    """What :func:`score_tags` found, row-aligned with its inputs (N rows, K tags).

    pred_probs:     (N, K) float32 out-of-sample, calibrated P(tag present)
    is_label_issue: (N,) bool, some tag of the row is named missing or spurious
    label_quality:  (N,) float32 in 0..1, 1 = clean; the probability that every tag decision of the
                    row is right, so rows with several doubtful tags rank lowest
    missing:        per row, the tag indices confidently present but not given (sorted)
    spurious:       per row, the tag indices given but confidently absent (sorted)
    suggested:      per row, the suggested tag set ``given - spurious + missing``, sorted
    thresholds:     (K,) float32 per-tag threshold on P(present) (the mean over the rows given the
                    tag), for the record
    tag_issue_rate: (K,) float32 share of rows where the tag is named missing or spurious
    params:         what was derived (sources, calibration, pooling weights, bars), JSON-able
    """

    pred_probs: np.ndarray
    is_label_issue: np.ndarray
    label_quality: np.ndarray
    missing: list[list[int]]
    spurious: list[list[int]]
    suggested: list[list[int]]
    thresholds: np.ndarray
    tag_issue_rate: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def score_tags(
    embeddings: np.ndarray,
    tags: np.ndarray,
    *,
    neighbor_idx: np.ndarray | None = None,
    neighbor_sims: np.ndarray | None = None,
    text_embeddings: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    rule: str = "posterior",
) -> TagScores:
    """Score every sample's tag set from its embedding.

    embeddings:      (N, D) float32/float16, L2-normalised
    tags:            (N, K) bool (or 0/1) multi-hot; a row may be all False (no tag is valid)
    neighbor_idx:    (N, k) int64 neighbours, self excluded, -1 for empty slots (e.g. the
                     neighbours stage's graph); computed with :func:`curate.graph.neighbors.knn`
                     when None. Only the first :data:`DEFAULT_VOTE_K` columns are used.
    neighbor_sims:   (N, k) float32 cosines, same order (required with ``neighbor_idx``)
    text_embeddings: (K, D) float32 L2-normalised tag-name embeddings for the zero-shot source
    folds:           cross-validation folds of the probe (>= 2)
    seed:            draws the folds, the calibration sample and the neighbour search's lists
    rule:            ``"posterior"`` (default: a tag is named when the noise channel's posterior
                     calls it more likely wrong than right) or ``"confident_learning"`` (cleanlab's
                     one-vs-rest recipe on the same probabilities, for comparison)
    Bad shapes raise :class:`curate.errors.DataError` / :class:`curate.errors.UsageError`.
    """
    if rule not in RULES:
        raise UsageError(f"unknown rule {rule!r}: choose from {', '.join(RULES)}")
    emb, given = _check_inputs(embeddings, tags, neighbor_idx, neighbor_sims, text_embeddings, folds)
    n, num_tags = given.shape
    params: dict[str, Any] = {"folds": folds, "seed": seed}
    if n == 0 or num_tags == 0:
        return _result(np.zeros((n, num_tags), dtype=np.float32), given, np.zeros((n, num_tags), bool), params)
    if neighbor_idx is None:
        from curate.graph.neighbors import knn

        neighbor_idx, neighbor_sims = knn(emb, min(DEFAULT_VOTE_K, max(n - 1, 1)), device="cpu", seed=seed)
    assert neighbor_sims is not None
    idx = np.asarray(neighbor_idx, dtype=np.int64)[:, :DEFAULT_VOTE_K]
    sims = np.asarray(neighbor_sims, dtype=np.float32)[:, :DEFAULT_VOTE_K]
    scale = measure_scale(sims)
    groups = duplicate_components(np.arange(n, dtype=np.int64), (idx, sims), scale)

    rng = np.random.default_rng(seed)
    cells = CalibrationCells.draw(given, rng)
    sources: dict[str, np.ndarray] = {}
    sources["knn"] = tag_vote_logits(given, idx, sims, temperature=scale.vote_temperature, groups=groups)
    params["knn"] = {"k": int(idx.shape[1]), "temperature": float(scale.vote_temperature)}
    fold_of = tag_folds(given, groups, folds=folds, seed=seed)
    probe_scores, ridges = ridge_probe_scores(emb, given, fold_of, seed=seed)
    sources["probe"] = probe_scores
    params["probe"] = {
        "ridge": [float(f"{r:.4g}") for r in ridges],
        "chosen_by": "per tag, out-of-fold log loss once calibrated",
    }
    if text_embeddings is not None:
        sources["zeroshot"] = (emb.astype(np.float32) @ np.asarray(text_embeddings, dtype=np.float32).T).astype(
            np.float32
        )

    # Per-tag Platt calibration of each source, then pooled logits with fitted source weights.
    calibrated = {}
    for name, scores in sources.items():
        a, b = fit_platt(cells.gather(scores), cells)
        calibrated[name] = (a, b)
    logits_at_cells = [
        cells.gather(sources[name]) * a[cells.cols] + b[cells.cols] for name, (a, b) in calibrated.items()
    ]
    weights = fit_pool_weights(logits_at_cells, cells)
    names = list(sources)
    params["sources"] = names
    params["pool_weights"] = {name: float(w) for name, w in zip(names, weights)}
    pooled = np.zeros((n, num_tags), dtype=np.float32)
    for name, w in zip(names, weights):
        a, b = calibrated[name]
        pooled += np.float32(w) * (sources[name] * a.astype(np.float32) + b.astype(np.float32))
    del sources
    stage = None
    if num_tags > 1:
        pooled, params["context"], stage = tag_context_logits(pooled, given, fold_of, cells)
    pooled_at_cells = cells.gather(pooled)
    plain = fit_platt(pooled_at_cells, cells)
    a_pool, b_pool, alpha, beta = fit_noisy_platt(pooled_at_cells, cells, start=plain)
    params["calibration"] = (
        "Platt per tag and source; pooled logits; tag context (cross-fitted); Platt per tag under a noise channel"
    )
    params["calibration_cells"] = int(len(cells.rows))
    min_positives = folds
    if rule == "confident_learning":
        noisy = _sigmoid(pooled * plain[0].astype(np.float32) + plain[1].astype(np.float32))
        flags, thresholds, rule_params = tag_confident_learning(given, noisy, min_positives=min_positives)
        params["rule"] = rule_params
        return _result(noisy, given, flags, params, thresholds)
    probs = _sigmoid(pooled * a_pool.astype(np.float32) + b_pool.astype(np.float32))
    del pooled
    wrong = wrong_tag_probability(given, probs, alpha, beta)
    flags = wrong > 0.5
    below = given.sum(axis=0) < min_positives
    flags[:, below] &= given[:, below]
    if stage is not None:
        explained = explain_away(flags, wrong, given, stage, (a_pool, b_pool, alpha, beta), below)
        params["explained_away"] = explained
    # the cut on P(present) above which an absent tag is more likely missing than truly absent
    thresholds = ((1 - alpha) / (1 - alpha + beta)).astype(np.float32)
    params["rule"] = {
        "method": "posterior: a tag is named when it is more likely wrong than right under the fitted noise channel",
        "spurious_rate": [round(float(v), 6) for v in alpha],
        "missing_rate": [round(float(v), 6) for v in beta],
        "spurious_below": [round(float(v), 6) for v in alpha / (1 + alpha - beta)],
        "tags_without_noise_evidence": int(((alpha == 0) & (beta == 0)).sum()),
        "min_positives_for_missing": int(min_positives),
        "tags_below_bar": int(((given.sum(axis=0) > 0) & below).sum()),
        "named_missing": int((flags & ~given).sum()),
        "named_spurious": int((flags & given).sum()),
    }
    return _result(probs, given, flags, params, thresholds, wrong=wrong)


def explain_away(
    flags: np.ndarray,
    wrong: np.ndarray,
    given: np.ndarray,
    stage: ContextStage,
    calibration: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    below: np.ndarray,
) -> int:
    """Rows with several named tags, one correction at a time; ``flags`` (N, K) is updated in place.

    The context stage reads a row's other tags, so one wrong tag makes its look-alikes look wrong
    too (a missing 9 on a canvas whose 9 is read as a 4 also makes the 4 look spurious). Per row,
    the most probably wrong tag (``wrong`` (N, K)) is corrected first; the row is then rescored with
    the corrected set (``calibration``: the pool's ``(a, b, alpha, beta)``), and a remaining tag stays
    named only while it is still more likely wrong than right. ``below``: (K,) tags never named
    missing. Returns the number of names withdrawn.
    """
    a, b, alpha, beta = (v.astype(np.float32) for v in calibration)
    withdrawn = 0
    for row in np.flatnonzero(flags.sum(axis=1) >= 2):
        remaining = sorted(np.flatnonzero(flags[row]).tolist(), key=lambda c: -wrong[row, c])
        state = given[row].copy()
        kept = []
        while remaining:
            top = remaining.pop(0)
            kept.append(top)
            state[top] = ~state[top]
            if not remaining:
                break
            q = _sigmoid(stage.apply(np.array([row]), state[None])[0] * a + b)
            now = wrong_tag_probability(state[None], q[None], alpha, beta)[0]
            remaining = sorted(
                (c for c in remaining if now[c] > 0.5 and not (below[c] and not state[c])), key=lambda c: -now[c]
            )
        withdrawn += int(flags[row].sum()) - len(kept)
        flags[row] = False
        flags[row, kept] = True
    return withdrawn


def wrong_tag_probability(given: np.ndarray, probs: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(N, K) float32 probability that each cell's given state is wrong.

    given: (N, K) bool;  probs: (N, K) float32 P(tag truly present);  alpha, beta: (K,) the tags'
    spurious rate (P(given | absent)) and missing rate (P(not given | present)). Bayes' rule:
    a given tag is wrong with ``alpha (1 - q) / (alpha (1 - q) + (1 - beta) q)``, an absent one with
    ``beta q / (beta q + (1 - alpha) (1 - q))``.
    """
    al, be = alpha.astype(np.float32), beta.astype(np.float32)
    q = probs
    spurious = al * (1 - q) / np.maximum(al * (1 - q) + (1 - be) * q, 1e-30)
    missing = be * q / np.maximum(be * q + (1 - al) * (1 - q), 1e-30)
    return np.where(given, spurious, missing).astype(np.float32)


def _check_inputs(
    embeddings: np.ndarray,
    tags: np.ndarray,
    neighbor_idx: np.ndarray | None,
    neighbor_sims: np.ndarray | None,
    text_embeddings: np.ndarray | None,
    folds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings as given and the tags as (N, K) bool, or one clear error."""
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise DataError(f"embeddings must be an (N, D) array, got shape {emb.shape}")
    raw = np.asarray(tags)
    if raw.ndim != 2:
        raise DataError(f"tags must be an (N, K) multi-hot array, got shape {raw.shape}")
    if len(raw) != len(emb):
        raise DataError(f"tags have {len(raw)} rows but embeddings have {len(emb)}")
    if raw.dtype != bool:
        if raw.size and not np.isin(raw, (0, 1)).all():
            raise DataError("tags must be 0/1 (multi-hot); found other values")
        raw = raw.astype(bool)
    if (neighbor_idx is None) != (neighbor_sims is None):
        raise UsageError("neighbor_idx and neighbor_sims go together: give both or neither")
    if neighbor_idx is not None and neighbor_sims is not None:
        shape_i, shape_s = np.shape(neighbor_idx), np.shape(neighbor_sims)
        if len(shape_i) != 2 or shape_i != shape_s or shape_i[0] != len(emb):
            raise DataError(f"neighbours must be two (N, k) arrays for N={len(emb)}, got {shape_i} and {shape_s}")
    if text_embeddings is not None:
        shape_t = np.shape(text_embeddings)
        if shape_t != (raw.shape[1], emb.shape[1]):
            raise DataError(f"text embeddings must be (K, D) = {(raw.shape[1], emb.shape[1])}, got {shape_t}")
    return emb, raw


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, float32, without overflow warnings."""
    out = np.exp(-np.abs(z, dtype=np.float32))
    return np.where(z >= 0, 1.0 / (1.0 + out), out / (1.0 + out)).astype(np.float32)


# --- calibration cells ------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationCells:
    """The (row, tag) cells the calibration and pooling fits read.

    Every positive cell (the tag is given) with weight 1, and for the negative cells a shared
    random sample of rows: each negative cell of the sample stands for ``negatives of the tag /
    negatives of the tag in the sample`` cells. rows, cols: (M,) int64;  target: (M,) bool given;
    weight: (M,) float64.
    """

    rows: np.ndarray
    cols: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    num_tags: int

    #: Rows of the shared negative sample.
    SAMPLE_ROWS = 4_000

    @classmethod
    def draw(cls, given: np.ndarray, rng: np.random.Generator, *, sample_rows: int | None = None) -> CalibrationCells:
        n, k = given.shape
        size = min(n, cls.SAMPLE_ROWS if sample_rows is None else sample_rows)
        sample = np.sort(rng.choice(n, size=size, replace=False))
        pos_rows, pos_cols = np.nonzero(given)
        neg_rows, neg_cols = np.nonzero(~given[sample])
        neg_rows = sample[neg_rows]
        negatives = n - given.sum(axis=0)
        in_sample = np.bincount(neg_cols, minlength=k)
        neg_weight = negatives / np.maximum(in_sample, 1)
        rows = np.concatenate([pos_rows, neg_rows]).astype(np.int64)
        cols = np.concatenate([pos_cols, neg_cols]).astype(np.int64)
        target = np.concatenate([np.ones(len(pos_rows), bool), np.zeros(len(neg_rows), bool)])
        weight = np.concatenate([np.ones(len(pos_rows)), neg_weight[neg_cols]])
        return cls(rows, cols, target, weight, k)

    def gather(self, scores: np.ndarray) -> np.ndarray:
        """(M,) float64 values of an (N, K) score matrix at the cells."""
        return np.asarray(scores[self.rows, self.cols], dtype=np.float64)

    def per_tag(self, values: np.ndarray) -> np.ndarray:
        """(K,) sums of (M,) per-cell values by tag."""
        return np.bincount(self.cols, weights=values, minlength=self.num_tags)


def fit_platt(scores: np.ndarray, cells: CalibrationCells, *, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Per-tag Platt scaling ``P(present) = sigmoid(a_k s + b_k)`` by weighted Newton steps.

    scores: (M,) float64 a source's scores at ``cells``. Targets are Platt's smoothed ones,
    ``(P + 1) / (P + 2)`` for positives and ``1 / (M_neg + 2)`` for negatives (P, M_neg: the tag's
    counts), so no tag is fitted to certainty. Returns ``(a, b)``: (K,) float64 each; every
    Newton step is halved per tag until its loss does not grow.
    """
    k = cells.num_tags
    cols, w = cells.cols, cells.weight
    pos = cells.per_tag(w * cells.target)
    neg = cells.per_tag(w * ~cells.target)
    t = np.where(cells.target, ((pos + 1) / (pos + 2))[cols], (1 / (neg + 2))[cols])
    mean = cells.per_tag(w * scores) / np.maximum(pos + neg, 1e-12)
    var = cells.per_tag(w * (scores - mean[cols]) ** 2) / np.maximum(pos + neg, 1e-12)
    a = 1.0 / np.sqrt(np.maximum(var, 1e-12))
    prior = (pos + 1) / (pos + neg + 2)
    b = np.log(prior / (1 - prior)) - a * mean

    def loss(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = a[cols] * scores + b[cols]
        # -(t log p + (1 - t) log(1 - p)) = log(1 + e^z) - t z
        return cells.per_tag(w * (np.logaddexp(0.0, z) - t * z))

    current = loss(a, b)
    for _ in range(max_iter):
        z = a[cols] * scores + b[cols]
        p = 1.0 / (1.0 + np.exp(-z))
        r = w * (p - t)
        h = w * p * (1 - p)
        ga, gb = cells.per_tag(r * scores), cells.per_tag(r)
        haa, hab, hbb = cells.per_tag(h * scores * scores), cells.per_tag(h * scores), cells.per_tag(h)
        haa, hbb = haa + 1e-9, hbb + 1e-9
        det = haa * hbb - hab * hab
        det = np.where(np.abs(det) > 1e-300, det, 1e-300)
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        step = np.ones(k)
        for _ in range(20):
            trial = loss(a - step * da, b - step * db)
            worse = trial > current + 1e-12 * np.abs(current)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        trial = loss(a - step * da, b - step * db)
        improved = trial <= current + 1e-12 * np.abs(current)
        a = np.where(improved, a - step * da, a)
        b = np.where(improved, b - step * db, b)
        gain = np.where(improved, current - trial, 0.0)
        current = np.where(improved, trial, current)
        if gain.max(initial=0.0) <= 1e-10 * max(float(np.abs(current).max(initial=0.0)), 1.0):
            break
    return a, b


def fit_noisy_platt(
    scores: np.ndarray, cells: CalibrationCells, *, start: tuple[np.ndarray, np.ndarray], max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-tag Platt scaling under a noise channel: ``P(given) = alpha_k + (1 - alpha_k - beta_k)
    sigmoid(a_k s + b_k)``, fitted by weighted maximum likelihood of the given tags.

    scores: (M,) float64 at ``cells``;  start: ``(a, b)`` of the plain fit (:func:`fit_platt`).
    ``alpha_k`` is the share of rows without the tag that are given it anyway (spurious), ``beta_k``
    the share of rows with the tag that miss it; both in (0, 1/2), and both 0 (the plain fit kept)
    for a tag where the channel gains less log-likelihood than ``log K`` (what fewer than one tag in K
    gains by chance). ``sigmoid(a_k s + b_k)`` is then
    the probability that the tag is truly present. Returns ``(a, b, alpha, beta)``, (K,) float64 each.
    """
    from scipy.optimize import minimize

    k = cells.num_tags
    cols, w, y = cells.cols, cells.weight, cells.target.astype(np.float64)
    pos = cells.per_tag(w * y)
    total = cells.per_tag(w)
    # start the noise rates at one row's worth of each side
    alpha0 = np.clip(1.0 / np.maximum(total - pos, 1.0), 1e-6, 0.25)
    beta0 = np.clip(1.0 / np.maximum(pos, 1.0), 1e-6, 0.25)
    x0 = np.concatenate(
        [start[0], start[1], np.log(2 * alpha0 / (1 - 2 * alpha0)), np.log(2 * beta0 / (1 - 2 * beta0))]
    )
    norm = float(w.sum())

    def unpack(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b, u, t = v[:k], v[k : 2 * k], v[2 * k : 3 * k], v[3 * k :]
        return a, b, 0.5 * _sigmoid64(u), 0.5 * _sigmoid64(t)

    def loss_and_grad(v: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, alpha, beta = unpack(v)
        z = a[cols] * scores + b[cols]
        sig = _sigmoid64(z)
        al, be = alpha[cols], beta[cols]
        p = np.clip(al + (1 - al - be) * sig, 1e-12, 1 - 1e-12)
        value = -float(w @ (y * np.log(p) + (1 - y) * np.log(1 - p))) / norm
        dp = -w * (y / p - (1 - y) / (1 - p)) / norm
        dz = dp * (1 - al - be) * sig * (1 - sig)
        ga, gb = cells.per_tag(dz * scores), cells.per_tag(dz)
        gu = cells.per_tag(dp * (1 - sig)) * alpha * (1 - 2 * alpha)
        gt = cells.per_tag(-dp * sig) * beta * (1 - 2 * beta)
        return value, np.concatenate([ga, gb, gu, gt])

    fit = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    a, b, alpha, beta = unpack(fit.x)

    # A tag whose noise channel does not explain its given states better than the plain fit has no
    # evidence of wrong tags: where the scores say little (a flat probe) the channel is not
    # identifiable and would call any share of the tags wrong. Without noise, twice the gain in
    # log-likelihood of the two extra parameters is about chi-square with 2 degrees of freedom, so
    # it exceeds 2 log K in fewer than one of the K tags by chance: that is the bar. A tag below it
    # keeps the plain fit and no noise.
    def log_likelihood(a: np.ndarray, b: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        sig = _sigmoid64(a[cols] * scores + b[cols])
        p = np.clip(alpha[cols] + (1 - alpha[cols] - beta[cols]) * sig, 1e-12, 1 - 1e-12)
        return cells.per_tag(w * (y * np.log(p) + (1 - y) * np.log(1 - p)))

    zero = np.zeros(k)
    gain = log_likelihood(a, b, alpha, beta) - log_likelihood(start[0], start[1], zero, zero)
    supported = gain > np.log(max(k, 2))
    a, b = np.where(supported, a, start[0]), np.where(supported, b, start[1])
    return a, b, np.where(supported, alpha, 0.0), np.where(supported, beta, 0.0)


def _sigmoid64(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def fit_pool_weights(logits: list[np.ndarray], cells: CalibrationCells) -> np.ndarray:
    """(S,) float64 non-negative weights of the calibrated source logits (each (M,) at ``cells``)
    minimising the weighted binary log loss of ``sigmoid(sum_s w_s logit_s)`` against the given
    tags; each tag's cells count as much in total as its rows (the negative cells' weights)."""
    from scipy.optimize import minimize

    x = np.stack(logits, axis=1)  # (M, S)
    y = cells.target.astype(np.float64)
    w = cells.weight / cells.weight.sum()

    def loss_and_grad(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ v
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(w @ (np.logaddexp(0.0, z) - y * z))
        return value, x.T @ (w * (p - y))

    start = np.full(x.shape[1], 1.0 / x.shape[1])
    fit = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * x.shape[1])
    return np.asarray(fit.x, dtype=np.float64)


# --- sources ----------------------------------------------------------------------------------


def tag_vote_logits(
    given: np.ndarray,
    neighbor_idx: np.ndarray,
    neighbor_sims: np.ndarray,
    *,
    temperature: float,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """(N, K) float32 log-odds of the similarity-weighted share of neighbours carrying each tag.

    given: (N, K) bool;  neighbor_idx / neighbor_sims: (N, k) self excluded, -1 / -inf empty;
    groups: (N,) duplicate-group ids; a neighbour in the row's own group does not vote.
    Weights ``exp((sim - nearest) / temperature)``; the share is smoothed towards the tag's
    frequency by one neighbour's worth of weight (the row's mean weight), so an unseen tag has a
    finite score that still orders by frequency.
    """
    from scipy.sparse import csr_matrix

    n, k = neighbor_idx.shape
    valid = (neighbor_idx >= 0) & np.isfinite(neighbor_sims)
    if groups is not None:
        safe = np.where(valid, neighbor_idx, 0)
        valid &= groups[safe] != groups[:, None]
    closeness = np.where(valid, neighbor_sims.astype(np.float64) / temperature, -np.inf)
    top = closeness.max(axis=1, keepdims=True) if k else np.zeros((n, 1))
    weight = np.where(valid, np.exp(closeness - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = weight.sum(axis=1)
    voters = valid.sum(axis=1)
    graph = csr_matrix(
        (weight[valid], np.where(valid, neighbor_idx, 0)[valid], np.r_[0, np.cumsum(voters)]), shape=(n, n)
    )
    votes = np.asarray((graph @ csr_matrix(given.astype(np.float32))).todense(), dtype=np.float64)
    prior = (given.sum(axis=0) + 1.0) / (n + 2.0)
    pseudo = np.where(voters > 0, total / np.maximum(voters, 1), 1.0)[:, None]
    share = (votes + pseudo * prior) / (total[:, None] + pseudo)
    return np.log(share / (1.0 - share)).astype(np.float32)


#: Context tags per tag in the second stage: the tags whose pooled logits move most with its own.
CONTEXT_TAGS = 8
#: Candidate L2 strengths of the context coefficients (per unit of cell weight); the one with the
#: lowest held-out log loss on the first fold is used for every fold.
CONTEXT_L2 = (1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class ContextStage:
    """The fitted context stage: ``context`` (K, m) int64 context tags per tag, ``coef`` one (K, 2 + 2m)
    float32 array per fold (own logit, bias, context logits, context given), the first-stage
    ``logits`` (N, K) and the rows' ``fold_of`` (N,)."""

    context: np.ndarray
    coef: list[np.ndarray]
    logits: np.ndarray
    fold_of: np.ndarray

    def apply(self, rows: np.ndarray, given_rows: np.ndarray) -> np.ndarray:
        """(B, K) float32 second-stage logits of ``rows`` (B,) from one fold, with their tag states
        taken as ``given_rows`` (B, K) bool (the given ones, or a corrected set)."""
        m = self.context.shape[1]
        coef = self.coef[int(self.fold_of[rows[0]])]
        lg = np.clip(self.logits[rows], -30, 30)
        acc = coef[:, 0] * lg + coef[:, 1]
        for j in range(m):
            acc += coef[:, 2 + j] * lg[:, self.context[:, j]] + coef[:, 2 + m + j] * given_rows[:, self.context[:, j]]
        return acc.astype(np.float32)


def tag_context_logits(
    logits: np.ndarray, given: np.ndarray, fold_of: np.ndarray, cells: CalibrationCells
) -> tuple[np.ndarray, dict[str, Any], ContextStage]:
    """A second, stacked stage (stacked binary relevance): each tag's logit refitted from its own
    pooled logit and, for its :data:`CONTEXT_TAGS` context tags, their pooled logits and whether
    the row is given them.

    logits: (N, K) float32 pooled out-of-fold logits;  given: (N, K) bool;  fold_of: (N,) folds.
    A linear probe that fires on a look-alike (a 4 read as a 9) is corrected by the row's other
    tags (the 4 is given and its own logit is high), which no per-tag calibration can do. The
    context tags of tag k are those whose logits correlate most with k's over the calibration
    sample. The stage is a per-tag logistic regression on the calibration cells, cross-fitted: the
    rows of each fold are scored by the coefficients fitted on the other folds' cells, so the
    result stays out of sample. Returns ``((N, K) float32 logits, params, the fitted stage)``.
    """
    n, k = logits.shape
    m = min(CONTEXT_TAGS, k - 1)
    sample = np.unique(cells.rows[~cells.target])
    z = np.clip(logits[sample].astype(np.float64), -30, 30)
    corr = np.corrcoef(z, rowvar=False) if len(sample) > 2 else np.zeros((k, k))
    corr = np.nan_to_num(np.abs(np.atleast_2d(corr)), nan=0.0)
    np.fill_diagonal(corr, -1.0)
    context = np.argsort(-corr, axis=1, kind="stable")[:, :m]  # (K, m)

    def features(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len, 2 + 2m) float64: own logit, bias, context logits, context given."""
        ctx = context[cols]
        own = np.clip(logits[rows, cols].astype(np.float64), -30, 30)
        ctx_logits = np.clip(logits[rows[:, None], ctx].astype(np.float64), -30, 30)
        ctx_given = given[rows[:, None], ctx].astype(np.float64)
        return np.column_stack([own, np.ones(len(rows)), ctx_logits, ctx_given])

    x_all = features(cells.rows, cells.cols)
    cell_fold = fold_of[cells.rows]
    folds = int(fold_of.max()) + 1

    def fit(train: np.ndarray, l2: float) -> np.ndarray:
        return _fit_tag_logistic(x_all[train], cells.cols[train], cells.target[train], cells.weight[train], k, l2)

    def held_out_loss(coef: np.ndarray, test: np.ndarray) -> float:
        zt = (x_all[test] * coef[cells.cols[test]]).sum(axis=1)
        y, w = cells.target[test], cells.weight[test]
        return float(w @ (np.logaddexp(0.0, zt) - y * zt) / max(w.sum(), 1e-12))

    first_test = cell_fold == 0
    losses = {l2: held_out_loss(fit(~first_test, l2), first_test) for l2 in CONTEXT_L2}
    l2 = min(losses, key=losses.__getitem__)
    coefs = [fit(cell_fold != fold, l2).astype(np.float32) for fold in range(folds)]
    stage = ContextStage(context, coefs, logits, fold_of)
    out = np.empty((n, k), dtype=np.float32)
    for fold in range(folds):
        rows = np.flatnonzero(fold_of == fold)
        for start in range(0, len(rows), 8192):
            block = rows[start : start + 8192]
            out[block] = stage.apply(block, given[block])
    record = {"context_tags": int(m), "l2": l2, "held_out_loss": {str(a): round(b, 6) for a, b in losses.items()}}
    return out, record, stage


def _fit_tag_logistic(
    x: np.ndarray, cols: np.ndarray, y: np.ndarray, w: np.ndarray, num_tags: int, l2: float, *, max_iter: int = 25
) -> np.ndarray:
    """(K, F) coefficients of one logistic regression per tag over cells: rows ``x`` (M, F) whose
    first column is the tag's own logit (starts at coefficient 1) and second the bias; every
    coefficient but the bias is shrunk by ``l2`` (per unit of the tag's cell weight), the own
    logit's towards 1, the rest towards 0. Newton steps per tag, each halved until the tag's
    penalised loss does not grow."""
    f = x.shape[1]
    target = np.zeros(f)
    target[0] = 1.0
    penalised = np.ones(f)
    penalised[1] = 0.0
    coef = np.tile(target, (num_tags, 1))
    order = np.argsort(cols, kind="stable")
    bounds = np.searchsorted(cols[order], np.arange(num_tags + 1))
    yf = y.astype(np.float64)

    def loss(xt: np.ndarray, yt: np.ndarray, wt: np.ndarray, c: np.ndarray, norm: float) -> float:
        z = xt @ c
        return float(wt @ (np.logaddexp(0.0, z) - yt * z)) / norm + 0.5 * l2 * float(
            (((c - target) * penalised) ** 2).sum()
        )

    for tag in range(num_tags):
        at = order[bounds[tag] : bounds[tag + 1]]
        if at.size == 0:
            continue
        xt, yt, wt = x[at], yf[at], w[at]
        norm = max(float(wt.sum()), 1e-12)
        c = coef[tag]
        current = loss(xt, yt, wt, c, norm)
        for _ in range(max_iter):
            z = xt @ c
            p = _sigmoid64(z)
            grad = xt.T @ (wt * (p - yt)) / norm + l2 * (c - target) * penalised
            hess = (xt * (wt * p * (1 - p))[:, None]).T @ xt / norm + np.diag(l2 * penalised + 1e-9)
            step = np.linalg.solve(hess, grad)
            scale = 1.0
            for _ in range(20):
                trial = loss(xt, yt, wt, c - scale * step, norm)
                if trial <= current + 1e-12:
                    break
                scale /= 2
            else:
                break
            c = c - scale * step
            gain, current = current - trial, trial
            if gain < 1e-9:
                break
        coef[tag] = c
    return coef


def tag_folds(given: np.ndarray, groups: np.ndarray, *, folds: int, seed: int) -> np.ndarray:
    """(N,) int64 fold per row: duplicate groups kept together, rows dealt by their rarest tag
    (rows without tags as one more stratum) so each tag with at least ``folds`` rows reaches every
    fold (:func:`curate.score.noise.probe.cv_folds`)."""
    counts = given.sum(axis=0)
    rarity = np.where(given, counts[None, :], np.iinfo(np.int64).max)
    stratum = np.where(given.any(axis=1), rarity.argmin(axis=1), given.shape[1]).astype(np.int64)
    return cv_folds(stratum, groups, folds=folds, seed=seed)


def ridge_probe_scores(
    embeddings: np.ndarray,
    given: np.ndarray,
    fold_of: np.ndarray,
    *,
    seed: int = 0,
    block_size: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold one-vs-rest ridge scores, (N, K) float32, and each tag's ridge strength (K,).

    embeddings: (N, D) L2-normalised;  given: (N, K) bool targets;  fold_of: (N,) int64 folds.
    One Gram matrix (D+1)^2 and one (D+1) x K target sum per fold, accumulated in one pass; each
    fold's Gram matrix without the fold is eigendecomposed once, ``Q diag(e) Q^T``, so every
    tag's weights at any strength are ``Q ((Q^T S)_k / (e + r_k))``. Each tag's strength ``r_k`` is
    chosen among the whole decades of :data:`curate.score.noise.probe.RIDGE_GRID` times the Gram
    matrix's mean eigenvalue by the calibrated log loss of its out-of-fold scores on a sample of
    rows (:func:`_probe_choice_rows`): a tail tag may want a stronger ridge than a head tag.
    """
    n, dim = embeddings.shape
    num_tags = given.shape[1]
    folds = int(fold_of.max()) + 1
    gram = np.zeros((folds, dim + 1, dim + 1))
    sums = np.zeros((folds, dim + 1, num_tags))
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        x = _with_bias_np(embeddings[start:stop])
        y = given[start:stop].astype(np.float32)
        f = fold_of[start:stop]
        for fold in np.unique(f).tolist():
            rows = f == fold
            xr = x[rows]
            gram[fold] += xr.T @ xr
            sums[fold] += xr.T @ y[rows]
    total_gram, total_sums = gram.sum(0), sums.sum(0)
    scale = float(np.trace(total_gram)) / (dim + 1)
    eig = []
    for fold in range(folds):
        values, vectors = np.linalg.eigh(total_gram - gram[fold])
        eig.append((np.maximum(values, 0), vectors, vectors.T @ (total_sums - sums[fold])))
    candidates = RIDGE_GRID[::2] * (scale if scale > 0 else 1.0)
    chosen = _choose_tag_ridges(embeddings, given, fold_of, eig, candidates, seed=seed)
    ridges = candidates[chosen]
    out = np.empty(given.shape, dtype=np.float32)
    for fold, (values, vectors, qs) in enumerate(eig):
        weights = (vectors @ (qs / (values[:, None] + ridges[None, :]))).astype(np.float32)
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            rows = np.flatnonzero(fold_of[start:stop] == fold)
            if rows.size:
                out[start + rows] = _with_bias_np(embeddings[start + rows]) @ weights
    return out, ridges.astype(np.float64)


def _probe_choice_rows(given: np.ndarray, rng: np.random.Generator, *, per_tag: int = 50) -> np.ndarray:
    """Sorted rows the probe's strengths are chosen on: :attr:`CalibrationCells.SAMPLE_ROWS` random
    rows and up to ``per_tag`` random positives of every tag, so the tail tags are judged too."""
    n = len(given)
    picked = [rng.choice(n, size=min(n, CalibrationCells.SAMPLE_ROWS), replace=False)]
    order = rng.permutation(n)
    shuffled = given[order]
    for tag in range(given.shape[1]):
        picked.append(order[np.flatnonzero(shuffled[:, tag])[:per_tag]])
    return np.unique(np.concatenate(picked))


def _choose_tag_ridges(
    embeddings: np.ndarray,
    given: np.ndarray,
    fold_of: np.ndarray,
    eig: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    candidates: np.ndarray,
    *,
    seed: int,
) -> np.ndarray:
    """(K,) int64 index into ``candidates`` per tag: the strength whose out-of-fold scores, calibrated
    per tag (:func:`fit_platt`), have the lowest log loss at the choice rows' cells."""
    rng = np.random.default_rng([seed, 7])
    rows = _probe_choice_rows(given, rng)
    cells = CalibrationCells.draw(given[rows], rng, sample_rows=len(rows))
    x = _with_bias_np(embeddings[rows]).astype(np.float64)
    f = fold_of[rows]
    projected = []
    for fold, (values, vectors, qs) in enumerate(eig):
        at = np.flatnonzero(f == fold)
        projected.append((at, x[at] @ vectors, values, qs))
    losses = np.empty((len(candidates), given.shape[1]))
    for i, ridge in enumerate(candidates):
        scores = np.empty((len(rows), given.shape[1]))
        for at, xq, values, qs in projected:
            scores[at] = (xq / (values + ridge)) @ qs
        s = cells.gather(scores)
        a, b = fit_platt(s, cells)
        z = a[cells.cols] * s + b[cells.cols]
        losses[i] = cells.per_tag(cells.weight * (np.logaddexp(0.0, z) - cells.target * z))
    return losses.argmin(axis=0)


# --- confident learning per tag ---------------------------------------------------------------


def tag_confident_learning(
    given: np.ndarray, probs: np.ndarray, *, min_positives: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """cleanlab's one-vs-rest confident learning over every tag.

    given: (N, K) bool;  probs: (N, K) float32 P(present), out of sample;  min_positives: a tag
    given to fewer rows is never named missing. Returns ``(flags (N, K) bool: the cell's given
    state is named wrong, thresholds (K,) float32 on P(present), params)``.
    """
    n, k = given.shape
    pos_count = given.sum(axis=0)
    neg_count = n - pos_count
    p_sum_pos = np.where(given, probs, 0).sum(axis=0, dtype=np.float64)
    p_sum_neg = np.where(given, 0, 1 - probs).sum(axis=0, dtype=np.float64)
    big = 2.0  # cleanlab's value for a class without rows: no probability reaches it
    t_present = np.clip(
        np.where(pos_count > 0, p_sum_pos / np.maximum(pos_count, 1), big), CONFIDENT_THRESHOLDS_LOWER_BOUND, None
    )
    t_absent = np.clip(
        np.where(neg_count > 0, p_sum_neg / np.maximum(neg_count, 1), big), CONFIDENT_THRESHOLDS_LOWER_BOUND, None
    )
    confident_present = probs >= (t_present - 1e-6)
    confident_absent = (1 - probs) >= (t_absent - 1e-6)
    # both confident: the argmax (ties to "absent", class 0, like numpy's argmax)
    guess_present = np.where(confident_present & confident_absent, probs > 1 - probs, confident_present)
    sure = confident_present | confident_absent
    flags = np.zeros((n, k), dtype=bool)
    named_missing = named_spurious = 0
    for tag in range(k):
        if pos_count[tag] == 0 or neg_count[tag] == 0:
            continue
        y = given[:, tag]
        s, g = sure[:, tag], guess_present[:, tag]
        joint = np.array(
            [[np.sum(s & ~y & ~g), np.sum(s & ~y & g)], [np.sum(s & y & ~g), np.sum(s & y & g)]], dtype=np.int64
        )
        np.fill_diagonal(joint, joint.diagonal().clip(min=1))
        joint = calibrate_confident_joint(joint, y.astype(np.int64))
        prune = keep_at_least_n_per_class(joint.T, n=1)
        p = probs[:, tag]
        spurious_count = int(prune[0, 1])  # given present, truly absent
        missing_count = int(prune[1, 0]) if pos_count[tag] >= min_positives else 0
        if spurious_count > 0:
            rows = np.flatnonzero(y)
            worst = rows[np.argsort(p[rows], kind="stable")[:spurious_count]]
            # a given tag the prediction still favours (p + 1e-6 > 1 - p) is not an issue
            worst = worst[p[worst] + FLOATING_POINT_COMPARISON <= 1 - p[worst]]
            flags[worst, tag] = True
            named_spurious += len(worst)
        if missing_count > 0:
            rows = np.flatnonzero(~y)
            top = rows[np.argsort(-p[rows], kind="stable")[:missing_count]]
            top = top[(1 - p[top]) + FLOATING_POINT_COMPARISON < p[top]]
            flags[top, tag] = True
            named_missing += len(top)
    params = {
        "method": "one-vs-rest confident learning per tag (prune_by_noise_rate)",
        "min_positives_for_missing": int(min_positives),
        "tags_below_bar": int(((pos_count > 0) & (pos_count < min_positives)).sum()),
        "named_missing": int(named_missing),
        "named_spurious": int(named_spurious),
    }
    return flags, t_present.astype(np.float32), params


def _result(
    probs: np.ndarray,
    given: np.ndarray,
    flags: np.ndarray,
    params: dict[str, Any],
    thresholds: np.ndarray | None = None,
    *,
    wrong: np.ndarray | None = None,
) -> TagScores:
    """The result; ``wrong``: (N, K) probability that each cell is wrong (default: one minus the
    probability of the given state). ``label_quality`` is the product over the row of one minus it."""
    n, k = given.shape
    if wrong is None:
        wrong = np.where(given, 1 - probs, probs)
    right = np.clip(1.0 - wrong.astype(np.float64), 1e-12, 1.0)
    quality = np.exp(np.log(right).sum(axis=1)).astype(np.float32)
    missing_cells = flags & ~given
    spurious_cells = flags & given
    missing: list[list[int]] = [[] for _ in range(n)]
    spurious: list[list[int]] = [[] for _ in range(n)]
    for r, c in zip(*np.nonzero(missing_cells)):
        missing[r].append(int(c))
    for r, c in zip(*np.nonzero(spurious_cells)):
        spurious[r].append(int(c))
    suggested_cells = given ^ flags
    suggested = [np.flatnonzero(row).tolist() for row in suggested_cells]
    return TagScores(
        pred_probs=probs.astype(np.float32, copy=False),
        is_label_issue=np.asarray(flags.any(axis=1), dtype=bool),
        label_quality=quality,
        missing=missing,
        spurious=spurious,
        suggested=suggested,
        thresholds=(np.full(k, np.nan, dtype=np.float32) if thresholds is None else thresholds),
        tag_issue_rate=(flags.sum(axis=0) / max(n, 1)).astype(np.float32),
        params=params,
    )
