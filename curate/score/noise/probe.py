"""Source (b): a K-fold cross-validated linear probe on the embeddings.

Every labelled sample is scored by a probe that never saw it (nor any of its duplicates: folds
are drawn per duplicate group, stratified by class so tail classes spread over the folds).

Two solvers (the ridge one in numpy on the CPU, so a CPU run never imports torch for it; its
row passes in torch on another ``device``; the small (D+1)-sized solves in float64 numpy
everywhere, where LAPACK is ~25x faster than torch's CPU solve here):

* ``"ridge"`` (default): class-balanced least squares on one-hot targets, solved in closed form.
  The (D+1) x (D+1) Gram matrix and the (D+1) x K class sums are accumulated once in blocks;
  each fold subtracts its own rows and solves one small linear system, so the cost is a single
  pass over the data plus ``folds`` solves — independent of the number of optimisation steps.
  On the synthetic benchmark it ranks label errors better than softmax regression, and it is
  what makes the whole scorer fit in a fraction of Datalab's time on a CPU.
* ``"softmax"``: class-balanced multinomial logistic regression, full-batch L-BFGS on device,
  warm-started from the ridge solution (so a few iterations suffice).

Class balancing weights each sample by ``(count / mean count) ** -balance``: without it a
least-squares probe shrinks tail-class scores and flags tail classes wholesale.

The ridge strength is read from the data, not fixed: each candidate (half-decades over seven
decades, relative to the mean eigenvalue of the Gram matrix) scores a sample of labelled rows
out of fold, and the one whose scores explain the given labels best once calibrated (the same
noise-aware likelihood that weighs the sources, :func:`curate.score.noise.calibrate.calibrated_nll`)
is kept. One eigendecomposition per fold makes every candidate a pair of small products. The
best strength spans five decades across real spaces: a metric-learning network's digits want
almost none (1e-3), HOG of textile photos and the synthetic spaces a strong one (30-100), and
the fixed strength of 1 that this replaced cost the probe up to 0.2 of label F1 on its own
(tests/bench/bench_geometries.py, seeds 0-4; docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cv_folds(labels: np.ndarray, groups: np.ndarray, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign each sample a fold in ``0..folds-1``; -1 for unlabelled rows.

    labels: (N,) int64, -1 unlabelled;  groups: (N,) int64 duplicate-group ids.
    All members of a group share a fold (the group takes the fold of its first labelled
    member's class order); within each class, groups are dealt round-robin from a random
    offset, so every class with at least ``folds`` groups appears in every fold.
    """
    rng = np.random.default_rng(seed)
    labelled = np.flatnonzero(labels >= 0)
    fold_of = np.full(len(labels), -1, dtype=np.int64)
    if labelled.size == 0:
        return fold_of
    group_ids, first = np.unique(groups[labelled], return_index=True)
    group_label = labels[labelled[first]]
    order = np.lexsort((rng.random(len(group_ids)), group_label))
    sorted_labels = group_label[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_labels)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    offset = rng.integers(0, folds, size=len(starts))
    group_fold = np.empty(len(group_ids), dtype=np.int64)
    group_fold[order] = (rank + np.repeat(offset, np.diff(np.r_[starts, len(order)]))) % folds
    fold_of[labelled] = group_fold[np.searchsorted(group_ids, groups[labelled])]
    return fold_of


#: Candidate ridge strengths, as multiples of the mean eigenvalue of the class-weighted Gram
#: matrix (its trace / (D + 1)): half-decades from 1e-5 to 1e2 (an odd count: whole decades at
#: the even positions).
RIDGE_GRID = 10.0 ** np.arange(-5.0, 2.01, 0.5)


@dataclass
class LinearProbe:
    """Fitted probes: one per fold (trained without that fold) and one on every labelled row.

    weights: ``folds`` arrays (D+1, K) float32 (the last row is the bias);  full: (D+1, K).
    ridge:   the ridge strength they were fitted with (chosen from the data unless given).
    device:  where :meth:`scores` multiplies (``cpu``: numpy; else torch on that device).
    """

    weights: list
    full: np.ndarray
    ridge: float = 1.0
    device: str = "cpu"

    def scores(self, embeddings: np.ndarray, fold_of: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(B, K) float32 out-of-fold scores of a block of rows.

        embeddings: (B, D) the block's embeddings;  fold_of: (B,) their folds (-1: unlabelled rows,
        scored by the probe trained on every labelled row);  lengths: (B,) the block's row
        lengths when the probe was fitted with ``lengths``.
        """
        if self.device != "cpu":
            return self._scores_torch(embeddings, fold_of, lengths)
        x = _with_bias_np(embeddings, lengths)
        out = np.empty((len(x), self.full.shape[1]), dtype=np.float32)
        for fold in np.unique(fold_of).tolist():
            rows = fold_of == fold
            out[rows] = x[rows] @ (self.full if fold < 0 else self.weights[fold])
        return out

    def _scores_torch(self, embeddings: np.ndarray, fold_of: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        import torch

        device = self.device
        x = _with_bias(embeddings, device, lengths)
        f = torch.from_numpy(np.ascontiguousarray(fold_of)).to(device)
        out = torch.empty(len(x), self.full.shape[1], device=device)
        for fold in torch.unique(f).tolist():
            rows = f == fold
            w = self.full if fold < 0 else self.weights[fold]
            out[rows] = x[rows] @ torch.from_numpy(np.ascontiguousarray(w)).to(device)
        return out.cpu().numpy()


def fit_linear_probe(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    fold_of: np.ndarray,
    *,
    solver: str = "ridge",
    ridge: float | None = None,
    balance: float = 1.0,
    max_iter: int = 30,
    block_size: int = 16384,
    device: str = "cpu",
    seed: int = 0,
    lengths: np.ndarray | None = None,
) -> LinearProbe:
    """Fit the per-fold probes in one pass over the data.

    embeddings: (N, D) float16/float32, L2-normalised
    labels:     (N,) int64, -1 unlabelled (not trained on)
    fold_of:    (N,) int64 fold per row from :func:`cv_folds` (-1 for unlabelled rows)
    lengths:    (N,) float32 row lengths: the probe fits ``embeddings * lengths[:, None]`` (the
                features as given, for imported vectors that were not unit length), scaled
                block by block rather than copied; score with the same lengths
    ridge:      the ridge strength; None chooses it from the data (:func:`choose_ridge`, on a
                ``seed``-drawn sample of labelled rows)
    Memory is O(folds * D * (D + K)) besides one block: the (N, K) scores are never held.
    """
    if solver not in ("ridge", "softmax"):
        raise ValueError(f"unknown probe solver {solver!r}: use 'ridge' or 'softmax'")
    n, dim = embeddings.shape
    folds = int(fold_of.max()) + 1 if (fold_of >= 0).any() else 0
    counts = np.bincount(labels[labels >= 0], minlength=num_classes).astype(np.float64)
    present = counts > 0
    class_weight = np.zeros(num_classes)
    class_weight[present] = (counts[present] / counts[present].mean()) ** -balance

    # One pass: per-fold Gram matrices and weighted class sums, with a bias column.
    accumulate = _accumulate_np if device == "cpu" else _accumulate_torch
    gram, sums = accumulate(embeddings, labels, num_classes, fold_of, folds, class_weight, block_size, device, lengths)
    sums = sums.transpose(0, 2, 1)  # (folds, D+1, K)
    total_gram, total_sums = gram.sum(0), sums.sum(0)
    if ridge is None:
        ridge = choose_ridge(embeddings, labels, fold_of, gram, sums, seed=seed, lengths=lengths)
    eye = ridge * np.eye(dim + 1)

    weights = [
        np.linalg.solve(total_gram - gram[fold] + eye, total_sums - sums[fold]).astype(np.float32)
        for fold in range(folds)
    ]
    full = np.linalg.solve(total_gram + eye, total_sums).astype(np.float32)
    if solver == "softmax":
        import torch

        def refine(train_rows: np.ndarray, init: np.ndarray) -> np.ndarray:
            w = torch.from_numpy(init).to(device)
            out = _refine_softmax(embeddings, labels, train_rows, w, class_weight, ridge, max_iter, device, lengths)
            return out.cpu().numpy()

        weights = [refine(fold_of != fold, w) for fold, w in enumerate(weights)]
        full = refine(labels >= 0, full)
    return LinearProbe(weights=weights, full=full, ridge=float(ridge), device=device)


def _accumulate_np(embeddings, labels, num_classes, fold_of, folds, class_weight, block_size, device, lengths):
    """(gram (folds, D+1, D+1), sums (folds, K, D+1)) float64: per fold, the class-weighted Gram
    matrix of the rows with a bias column, and their weighted class sums; float32 products per
    block, accumulated in float64 across blocks."""
    dim = embeddings.shape[1]
    gram = np.zeros((folds, dim + 1, dim + 1))
    sums = np.zeros((folds, num_classes, dim + 1))
    for start in range(0, len(embeddings), block_size):
        stop = min(start + block_size, len(embeddings))
        f = fold_of[start:stop]
        keep = f >= 0
        if not keep.any():
            continue
        x = _with_bias_np(embeddings[start:stop], None if lengths is None else lengths[start:stop])[keep]
        y = labels[start:stop][keep]
        w = class_weight[y].astype(np.float32)
        f = f[keep]
        for fold in np.unique(f).tolist():
            rows = f == fold
            xr = x[rows]
            xw = xr * w[rows, None]
            gram[fold] += xw.T @ xr
            # class sums by sorting the rows by class: O(rows * D), not a one-hot GEMM's O(rows * D * K)
            yr = y[rows]
            order = np.argsort(yr, kind="stable")
            classes, first = np.unique(yr[order], return_index=True)
            sums[fold, classes] += np.add.reduceat(xw[order].astype(np.float64), first, axis=0)
    return gram, sums


def _accumulate_torch(embeddings, labels, num_classes, fold_of, folds, class_weight, block_size, device, lengths):
    """:func:`_accumulate_np` in torch on ``device`` (a GPU), returned as numpy float64."""
    import torch

    dim = embeddings.shape[1]
    gram = torch.zeros(folds, dim + 1, dim + 1, dtype=torch.float64, device=device)
    sums = torch.zeros(folds, num_classes, dim + 1, dtype=torch.float64, device=device)
    weight_of = torch.from_numpy(class_weight).float().to(device)
    for start in range(0, len(embeddings), block_size):
        stop = min(start + block_size, len(embeddings))
        f = torch.from_numpy(fold_of[start:stop]).to(device)
        keep = f >= 0
        if not bool(keep.any()):
            continue
        x = _with_bias(embeddings[start:stop], device, None if lengths is None else lengths[start:stop])[keep]
        y = torch.from_numpy(labels[start:stop]).to(device)[keep]
        w = weight_of[y]
        f = f[keep]
        for fold in torch.unique(f).tolist():
            rows = f == fold
            xw = x[rows] * w[rows, None]
            gram[fold] += (xw.T @ x[rows]).double()
            sums[fold].index_add_(0, y[rows], xw.double())
    return gram.cpu().numpy(), sums.cpu().numpy()


def choose_ridge(
    embeddings: np.ndarray,
    labels: np.ndarray,
    fold_of: np.ndarray,
    gram: np.ndarray,
    sums: np.ndarray,
    *,
    seed: int = 0,
    max_rows: int = 5_000,
    lengths: np.ndarray | None = None,
) -> float:
    """The ridge strength, of :data:`RIDGE_GRID` x the Gram matrix's mean eigenvalue, whose
    out-of-fold scores explain the given labels best once calibrated.

    gram: (folds, D+1, D+1) float64 per-fold class-weighted Gram matrices;  sums: (folds, D+1, K)
    per-fold weighted class sums (as :func:`fit_linear_probe` accumulates them). At most
    ``max_rows`` labelled rows (drawn with ``seed``) are scored: each by the probe trained
    without its fold (``lengths``: as :func:`fit_linear_probe`). Per fold, one
    eigendecomposition ``G = Q diag(e) Q^T`` turns every candidate into
    ``(X Q / (e + ridge)) (Q^T S)``. With no labelled row or an all-zero Gram matrix there is
    nothing to fit, and any strength gives the same probe: 1.
    """
    from curate.score.noise.calibrate import calibrated_nll, calibration_rows

    rows = calibration_rows(labels, max_rows=max_rows, seed=seed)
    rows = rows[fold_of[rows] >= 0]
    total_gram, total_sums = gram.sum(0), sums.sum(0)
    scale = float(np.trace(total_gram)) / total_gram.shape[0]
    if rows.size == 0 or not scale > 0:
        return 1.0
    x = _with_bias_np(embeddings[rows], None if lengths is None else lengths[rows]).astype(np.float64)
    y, f = labels[rows], fold_of[rows]
    parts = []  # per fold: its rows' positions, X Q, the eigenvalues, Q^T S
    for fold in np.unique(f).tolist():
        at = np.flatnonzero(f == fold)
        values, vectors = np.linalg.eigh(total_gram - gram[fold])
        parts.append((at, x[at] @ vectors, np.maximum(values, 0), vectors.T @ (total_sums - sums[fold])))

    def loss_at(i: int) -> float:
        ridge = RIDGE_GRID[i] * scale
        scores = np.empty((len(rows), total_sums.shape[1]), dtype=np.float32)
        for at, xq, values, qs in parts:
            scores[at] = (xq / (values + ridge)) @ qs
        return calibrated_nll(scores, y)

    # Whole decades first, then the half-decades either side of the best: 10 fits, not 15 (each
    # is ~1 s at 1,000 classes).
    losses = {i: loss_at(i) for i in range(0, len(RIDGE_GRID), 2)}
    best = min(losses, key=losses.__getitem__)
    losses.update({i: loss_at(i) for i in (best - 1, best + 1) if 0 <= i < len(RIDGE_GRID)})
    return float(RIDGE_GRID[min(losses, key=losses.__getitem__)] * scale)


def linear_probe_logits(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    fold_of: np.ndarray,
    *,
    block_size: int = 16384,
    **fit_options,
) -> np.ndarray:
    """Out-of-fold probe scores of every row, (N, K) float32 (ridge: one-hot regression outputs;
    softmax: logits). A labelled row is scored by the probe of its own fold, trained on the other
    folds; an unlabelled row by the probe trained on every labelled row. ``fit_options`` pass to
    :func:`fit_linear_probe`. Holds all N x K scores: for large N x K score blocks with
    :meth:`LinearProbe.scores` instead."""
    probe = fit_linear_probe(embeddings, labels, num_classes, fold_of, block_size=block_size, **fit_options)
    out = np.empty((len(embeddings), num_classes), dtype=np.float32)
    for start in range(0, len(embeddings), block_size):
        stop = min(start + block_size, len(embeddings))
        out[start:stop] = probe.scores(embeddings[start:stop], fold_of[start:stop])
    return out


def _with_bias_np(block: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """(B, D+1) float32: the block (times its rows' ``lengths``, when given) and a column of ones."""
    out = np.empty((len(block), block.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = block
    if lengths is not None:
        out[:, :-1] *= np.asarray(lengths, dtype=np.float32)[:, None]
    out[:, -1] = 1.0
    return out


def _with_bias(block: np.ndarray, device: str, lengths: np.ndarray | None = None):
    """(B, D+1) float32 tensor: the block (times its rows' ``lengths``, when given) and a column of ones."""
    import torch

    if lengths is not None:
        block = np.asarray(block, dtype=np.float32) * np.asarray(lengths, dtype=np.float32)[:, None]
    x = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)).to(device)
    return torch.cat([x, torch.ones(len(x), 1, device=device)], dim=1)


def _refine_softmax(embeddings, labels, train_rows, init, class_weight, ridge, max_iter, device, lengths=None):
    """Class-balanced softmax regression from the ridge solution, full-batch L-BFGS on device.

    The ridge outputs live on a one-hot scale (~0..1), so the warm start is sharpened by a
    fixed factor before the first step; L-BFGS then fits the scale and the directions jointly.
    """
    import torch
    import torch.nn.functional as F

    rows = np.flatnonzero(train_rows & (labels >= 0))
    x = _with_bias(embeddings[rows], device, None if lengths is None else lengths[rows])
    y = torch.from_numpy(labels[rows]).to(device)
    cw = torch.from_numpy(class_weight).float().to(device)
    weight = (init * 10.0).contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS([weight], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe")
    l2 = ridge / max(len(rows), 1)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight, y, weight=cw) + l2 * (weight[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return weight.detach()
