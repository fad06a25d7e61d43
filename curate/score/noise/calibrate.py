"""Calibrate each source, then pool them into one set of predicted probabilities.

Each source gives (N, K) scores on its own scale (log vote shares, probe outputs, cosines).
Calibration fits one inverse temperature per source, ``softmax(w * scores)``, by maximum
likelihood of the given labels on out-of-sample scores. The given labels are noisy, and a plain
NLL fit lets the wrong ones (10-20 % of rows) pull the temperature up until the probabilities are
blurred, which costs the confident-learning filter its recall. So the likelihood has a noise
channel: a label is the true class with probability ``1 - eps`` and a uniformly random class
with probability ``eps``; ``eps`` is fitted with ``w`` and explains the wrong labels instead of a
soft temperature.

Pooling is log-linear, ``softmax(sum_s w_s * scores_s)``, with the weights fitted jointly by the
same noise-aware likelihood, starting from the geometric mean of the individually calibrated
sources (``w_s / S``). How much each source counts is thus read from the data: on real features
the cross-validated probe is often much weaker than the kNN vote and the equal-weight mean let it
drag the pool down. Label F1 on tests/bench/bench_geometries.py, equal-weight -> fitted: digits
pixels 0.865 -> 0.901, HOG 0.906 -> 0.933, breast cancer 0.704 -> 0.796, textile HOG 0.665 ->
0.722; the CLIP-like synthetic space 0.998 -> 0.975 (Datalab 0.886). Earlier, on the synthetic
20k benchmark alone: kNN vote with plain NLL 0.91, with the noise channel 0.98.

The fitted weights are kept only where they explain held-out calibration rows better than the
geometric mean by more than noise (:func:`pooled_fit`): on small tables they over-fit (wine, 142
rows: all weight on the one source with the best in-sample likelihood and the worst flags). A
single source's fit starts from a profiled grid of temperatures (:func:`_profile_log_weight`):
from a fixed start the descent could stop on the over-sharpened plateau of the likelihood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from curate.score.noise.confident import ProbabilityBlocks

#: Bounds of the noise share's logit in every fit: eps from 0.0003 to 0.98.
_EPS_LOGIT_BOUNDS = (-8.0, 4.0)


def fit_inverse_temperature(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    max_rows: int = 5_000,
    max_iter: int = 50,
    seed: int = 0,
) -> tuple[float, float]:
    """Fit ``softmax(w * scores)`` to the given labels under a uniform noise channel.

    scores: (N, K) float32 out-of-sample scores of one source;  labels: (N,) int64, -1 ignored.
    Uses a random sample of at most ``max_rows`` labelled rows. Returns ``(w, eps)``: the inverse
    temperature and the fitted share of labels explained as noise.
    """
    rows = calibration_rows(labels, max_rows=max_rows, seed=seed)
    weights, eps = fit_pooling([scores[rows]], labels[rows], max_iter=max_iter)
    return float(weights[0]), eps


def fit_pooling(
    scores: list[np.ndarray],
    labels: np.ndarray,
    *,
    start: np.ndarray | None = None,
    max_iter: int = 50,
) -> tuple[np.ndarray, float]:
    """Fit ``softmax(sum_s w_s * scores_s)`` to the given labels under a uniform noise channel.

    scores: S arrays (n, K) of out-of-sample scores of the same n labelled rows;  labels: (n,)
    int64 >= 0;  start: (S,) initial weights (default 1 / spread of each source).
    Returns ``(w (S,) float64, eps)``. ``S + 1`` parameters: a small L-BFGS-B problem in numpy
    with an analytic gradient.
    """
    weights, eps, _ = _fit_pooling(scores, labels, start=start, max_iter=max_iter)
    return weights, eps


def _fit_pooling(
    scores: list[np.ndarray], labels: np.ndarray, *, start: np.ndarray | None, max_iter: int
) -> tuple[np.ndarray, float, float]:
    """:func:`fit_pooling`, with the fitted mean negative log-likelihood third."""
    from scipy.optimize import minimize

    # Unit spread per source, so one set of bounds suits every source.
    spreads = np.array([max(float(np.asarray(x, dtype=np.float64).std(axis=1).mean()), 1e-6) for x in scores])
    xs = [np.asarray(x, dtype=np.float64) / spread for x, spread in zip(scores, spreads)]
    n, num_classes = xs[0].shape
    y = np.asarray(labels)
    at_label = [x[np.arange(n), y] for x in xs]
    if start is not None:
        init = np.log(np.maximum(np.asarray(start) * spreads, 1e-3))
    elif len(xs) == 1:
        init = np.array([_profile_log_weight(xs[0], y)])
    else:
        init = np.zeros(len(xs))
    # The noise share starts where it is best for the starting weights (a convex 1-D fit).
    start_given = _given_probability(xs, y, np.exp(init))
    start_eps = _best_noise_share(start_given, num_classes)

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, eps = np.exp(params[:-1]), 1.0 / (1.0 + np.exp(-params[-1]))
        p_given, expected = _pool_pass(xs, y, w, expectations=True)
        q = (1 - eps) * p_given + eps / num_classes
        grad = [-((1 - eps) * p_given * (a - e) * wi / q).mean() for wi, e, a in zip(w, expected, at_label)]
        grad.append(-((1.0 / num_classes - p_given) * eps * (1 - eps) / q).mean())
        return float(-np.log(q).mean()), np.array(grad)

    fit = minimize(
        loss_and_grad,
        np.append(init, np.log(start_eps / (1.0 - start_eps))),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-8.0, 8.0)] * len(xs) + [_EPS_LOGIT_BOUNDS],
        options={"maxiter": max_iter},
    )
    return np.exp(fit.x[:-1]) / spreads, float(1.0 / (1.0 + np.exp(-fit.x[-1]))), float(fit.fun)


#: Inverse temperatures (log, in units of 1 / the source's spread) a single source's fit starts
#: from: whole steps of e over the fit's bounds.
_PROFILE_LOG_WEIGHTS = np.arange(-8.0, 8.01, 1.0)


def _profile_log_weight(x: np.ndarray, y: np.ndarray) -> float:
    """The log inverse temperature, of :data:`_PROFILE_LOG_WEIGHTS`, whose pool ``softmax(w x)``
    explains ``y`` best with its own best noise share; x: (n, K) float64 scores at unit spread.

    The noise-aware likelihood is not convex in ``(log w, eps)`` jointly: towards large ``w`` it
    flattens into a plateau (a hard classifier whose misses the noise share absorbs), and a
    descent from a fixed start could slide onto it and stop there, far from the soft optimum.
    On the wine table's kNN vote (tests/bench/bench_geometries.py, seed 2) the fit ended at
    ``w`` = 630 with NLL 0.603 where ``w`` = 3 gives 0.560; such an over-sharpened source then
    outweighs every other in the pool. For fixed ``w`` the likelihood is convex in ``eps``, so a
    grid over ``w`` with ``eps`` profiled out finds the right basin to polish.
    """
    num_classes = x.shape[1]
    losses = []
    for log_w in _PROFILE_LOG_WEIGHTS:
        given = _given_probability([x], y, np.array([np.exp(log_w)]))
        eps = _best_noise_share(given, num_classes)
        losses.append(float(-np.log((1 - eps) * given + eps / num_classes).mean()))
    return float(_PROFILE_LOG_WEIGHTS[int(np.argmin(losses))])


def _best_noise_share(given: np.ndarray, num_classes: int) -> float:
    """The noise share, within the fits' bounds, that maximises ``mean log((1 - eps) given + eps / K)``
    for (n,) probabilities ``given`` of the given labels (convex in ``eps``)."""
    from scipy.optimize import minimize_scalar

    low, high = (1.0 / (1.0 + np.exp(-bound)) for bound in _EPS_LOGIT_BOUNDS)
    fit = minimize_scalar(
        lambda eps: float(-np.log((1 - eps) * given + eps / num_classes).mean()),
        bounds=(low, high),
        method="bounded",
    )
    return float(fit.x)


def calibrated_nll(scores: np.ndarray, labels: np.ndarray, *, max_iter: int = 50) -> float:
    """How well one source's out-of-sample ``scores`` ((n, K)) explain the given ``labels``
    ((n,) int64 >= 0) once calibrated: the mean negative log-likelihood of
    ``(1 - eps) softmax(w * scores) + eps / K`` at the fitted ``w`` and ``eps``. Lower is better;
    comparable across candidate versions of one source (the probe's ridge, :mod:`probe`)."""
    return _fit_pooling([scores], labels, start=None, max_iter=max_iter)[2]


def calibration_rows(labels: np.ndarray, *, max_rows: int = 5_000, seed: int = 0) -> np.ndarray:
    """Sorted random sample of at most ``max_rows`` labelled rows (labels >= 0)."""
    labelled = np.flatnonzero(labels >= 0)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(labelled, size=min(max_rows, labelled.size), replace=False))


#: A source of class scores: rows (B,) int64 -> (B, K) float32 scores of those rows.
ScoreFn = Callable[[np.ndarray], np.ndarray]


#: Folds of the held-out check on the fitted pooling weights (:func:`pooled_fit`).
HELD_OUT_FOLDS = 5
#: How many standard errors the fitted weights' held-out gain over the geometric mean must reach
#: (one-sided 97.5 %: the 95 % intervals the benchmarks report) before they replace it.
HELD_OUT_Z = 1.96


@dataclass
class PoolFit:
    """How the sources are pooled (:func:`pooled_fit`).

    weights:  (S,) float64 weights for :class:`PooledProbabilities`
    nll:      the kept pool's mean noise-aware negative log-likelihood on the calibration rows
    fitted:   True when the jointly fitted weights were kept, False for the geometric mean of the
              individually calibrated sources (``alone / S``)
    gain:     held-out mean NLL of the geometric mean minus that of the fitted weights, per row
              (positive: the fitted weights explain unseen rows better); NaN when not measured
    gain_se:  its standard error over the held-out rows
    """

    weights: np.ndarray
    nll: float
    fitted: bool
    gain: float = float("nan")
    gain_se: float = float("nan")

    def describe(self) -> str:
        """One plain line for the scorer's notes."""
        if np.isnan(self.gain):
            return "pooling: one source" if self.fitted else "pooling: geometric mean (too few rows to check a fit)"
        check = f"held-out gain {self.gain:+.4f} +- {self.gain_se:.4f} nats per row"
        if self.fitted:
            return f"pooling: fitted weights ({check})"
        return (
            f"pooling: geometric mean of the calibrated sources (fitted weights not backed by held-out rows: {check})"
        )


def pooling_weights(sources: list[ScoreFn], labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(S,) float64 weights for :class:`PooledProbabilities` (:func:`pooled_fit`)."""
    return pooled_fit(sources, labels, seed=seed).weights


def pooled_fit(sources: list[ScoreFn], labels: np.ndarray, *, seed: int = 0, cache: dict | None = None) -> PoolFit:
    """Pool weights for the sources, and the kept pool's noise-aware likelihood.

    sources: S score functions (:data:`ScoreFn`);  labels: (N,) int64, -1 ignored. On the
    calibration rows (:func:`calibration_rows`) each source is calibrated alone (its inverse
    temperature ``alone_s``) and the default pool is their geometric mean, weights
    ``alone / S``. The weights fitted jointly from that start (:func:`fit_pooling`) replace it
    only when they explain *held-out* rows better by more than noise: in each of
    :data:`HELD_OUT_FOLDS` random folds of the calibration rows both pools are refitted on the
    other folds and scored on it, and the per-row NLL differences must average above
    :data:`HELD_OUT_Z` standard errors. In-sample the fitted weights always win (the geometric
    mean is one of their values), but on a few hundred rows they can over-fit: on the wine table
    of tests/bench/bench_geometries.py (142 rows) they put all the weight on one source whose
    held-out likelihood was no better, and lost a fifth of the label F1 the geometric mean kept.
    ``nll`` (lower explains the given labels better) lets two candidate sets of sources (the
    probe fitted two ways, :mod:`curate.score.noise.score`) be compared.

    cache: a dict shared by calls that pool the same labels with the same ``seed`` (the probe's
    candidates): a source that is the same function object in each (the kNN vote) is scored and
    calibrated alone once, not once per call; the results are the same either way.
    """
    rows = calibration_rows(labels, seed=seed)
    if cache is None:
        cache = {}
    scores = [_cached(cache, (id(source), "scores"), lambda source=source: source(rows)) for source in sources]
    y = labels[rows]

    def alone(part: str) -> list[Callable[[], float]]:
        # each source calibrated alone on the rows ``part`` names (the same rows in every call)
        mask = slice(None) if part == "all" else fold != int(part)
        return [
            lambda s=s: _cached(cache, (id(sources[s]), part), lambda: fit_pooling([scores[s][mask]], y[mask])[0][0])
            for s in range(len(sources))
        ]

    fold = np.random.default_rng(seed).permutation(len(y)) % HELD_OUT_FOLDS
    equal, equal_eps, fitted, fitted_eps, fitted_nll = _both_pools(scores, y, alone("all"))
    if len(scores) == 1:
        return PoolFit(fitted, fitted_nll, fitted=True)
    equal_nll = float(row_nll(scores, y, equal, equal_eps).mean())
    if len(y) < 2 * HELD_OUT_FOLDS:
        return PoolFit(equal, equal_nll, fitted=False)
    difference = np.empty(len(y))
    for f in range(HELD_OUT_FOLDS):
        train, test = fold != f, fold == f
        eq, eq_eps, fit, fit_eps, _ = _both_pools([x[train] for x in scores], y[train], alone(str(f)))
        held_out = [x[test] for x in scores]
        difference[test] = row_nll(held_out, y[test], eq, eq_eps) - row_nll(held_out, y[test], fit, fit_eps)
    gain = float(difference.mean())
    se = float(difference.std(ddof=1) / np.sqrt(len(difference)))
    if gain > HELD_OUT_Z * se:
        return PoolFit(fitted, fitted_nll, fitted=True, gain=gain, gain_se=se)
    return PoolFit(equal, equal_nll, fitted=False, gain=gain, gain_se=se)


def _cached(cache: dict, key: tuple, compute: Callable[[], object]):
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _both_pools(
    scores: list[np.ndarray], y: np.ndarray, alone_fits: list[Callable[[], float]] | None = None
) -> tuple[np.ndarray, float, np.ndarray, float, float]:
    """On (n, K) scores of n rows: the geometric mean's weights ``alone / S`` and its fitted noise
    share, then the jointly fitted weights, their noise share and mean NLL. ``alone_fits``: per
    source, what its calibration alone on these rows gives (default: fitted here)."""
    if alone_fits is None:
        alone_fits = [lambda x=x: fit_pooling([x], y)[0][0] for x in scores]
    alone = np.array([fit() for fit in alone_fits]) / len(scores)
    equal_eps = fit_noise_share(scores, y, alone)
    weights, eps, nll = _fit_pooling(scores, y, start=alone, max_iter=50)
    return alone, equal_eps, weights, eps, nll


def _given_probability(scores: list[np.ndarray], y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n,) float64 ``softmax(sum_s w_s scores_s)`` at each row's given label ``y``."""
    return _pool_pass(scores, y, np.asarray(weights, dtype=np.float64), expectations=False)[0]


def _pool_pass(
    scores: list[np.ndarray], y: np.ndarray, weights: np.ndarray, *, expectations: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One pass of the pool ``p = softmax(sum_s w_s scores_s)`` over (n, K) scores, in row
    blocks (:func:`curate.threads.map_rows`: cache-sized, in parallel threads; a row's arithmetic
    is the same as on the whole array, so the result does not depend on the blocking).

    Returns ``(p_given (n,) float64, expected (S, n) float64)``: ``p`` at each row's label ``y``
    and, with ``expectations``, each source's expected score under ``p``, ``sum_k p_k scores_s[:, k]``
    (what the likelihood's gradient needs); ``expected`` is (0, n) without."""
    from curate.threads import map_rows

    n, num_classes = scores[0].shape
    p_given = np.empty(n)
    expected = np.empty((len(scores) if expectations else 0, n))

    def block(rows: slice) -> None:
        parts = [np.asarray(x[rows], dtype=np.float64) for x in scores]
        logits = sum(float(w) * x for w, x in zip(weights, parts))
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        total = logits.sum(axis=1)
        if expectations:
            logits /= total[:, None]
            p_given[rows] = logits[np.arange(len(total)), y[rows]]
            for s, x in enumerate(parts):
                expected[s, rows] = (logits * x).sum(axis=1)
        else:
            p_given[rows] = logits[np.arange(len(total)), y[rows]] / total

    map_rows(block, n, num_classes)
    return p_given, expected


def row_nll(scores: list[np.ndarray], y: np.ndarray, weights: np.ndarray, eps: float) -> np.ndarray:
    """(n,) float64 per-row noise-aware NLL, ``-log((1 - eps) p_y + eps / K)``, of the pool
    ``softmax(sum_s weights[s] * scores[s])`` (scores: S arrays (n, K); y: (n,) int64 >= 0)."""
    num_classes = scores[0].shape[1]
    return -np.log((1 - eps) * _given_probability(scores, y, weights) + eps / num_classes)


def fit_noise_share(scores: list[np.ndarray], y: np.ndarray, weights: np.ndarray) -> float:
    """The noise share ``eps`` (as in :func:`fit_pooling`, same bounds) that best explains the
    labels ``y`` ((n,) int64) under the pool with these fixed ``weights``; the NLL is convex in it."""
    return _best_noise_share(_given_probability(scores, y, weights), scores[0].shape[1])


class PooledProbabilities(ProbabilityBlocks):
    """``softmax(sum_s weights[s] * scores_s)`` for any rows, computed when asked.

    The N x K matrix is never held: every consumer walks it in blocks (:meth:`blocks`), and each
    block is recomputed from the sources (a kNN vote, a GEMM against the probe, a GEMM against the
    class-name embeddings), which at 1M x 1000 costs seconds where holding it costs gigabytes.
    """

    def __init__(self, sources: list[ScoreFn], weights: np.ndarray, num_rows: int, num_classes: int):
        self.sources, self.weights = sources, np.asarray(weights, dtype=np.float64)
        self.num_rows, self.num_classes = num_rows, num_classes

    def block(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) float32 probabilities of ``rows``: the sources' scores of all of them,
        then the float64 softmax in cache-sized sub-blocks, in threads (:func:`curate.threads.map_rows`;
        each row's arithmetic is the same as over the whole block)."""
        from curate.threads import map_rows

        parts = [source(rows) for source in self.sources]
        out = np.empty((len(rows), self.num_classes), dtype=np.float32)

        def softmax(sub: slice) -> None:
            logits = sum(float(w) * x[sub].astype(np.float64) for w, x in zip(self.weights, parts))
            logits -= logits.max(axis=1, keepdims=True)
            np.exp(logits, out=logits)
            logits /= logits.sum(axis=1, keepdims=True)
            out[sub] = logits

        map_rows(softmax, len(rows), self.num_classes)
        return out
