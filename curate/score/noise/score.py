"""``score_label_noise``: out-of-sample probabilities from the embeddings, then confident learning."""

from __future__ import annotations

import numpy as np

from curate.errors import DataError, UsageError
from curate.graph.scale import SimilarityScale, measure_scale, neighbourhood_width
from curate.progress import log
from curate.score.duplicates import duplicate_components, exact_keys
from curate.score.noise.calibrate import PooledProbabilities, ScoreFn, pooled_fit
from curate.score.noise.confident import BLOCK_CELLS, FILTERS, confident_learning
from curate.score.noise.evidence import measure_evidence
from curate.score.noise.knn import euclidean_vote_logits, knn_vote_logits
from curate.score.noise.probe import cv_folds, fit_linear_probe
from curate.score.noise.result import LabelNoiseResult
from curate.score.noise.zeroshot import zeroshot_logits

SOURCES = ("knn", "euclidean", "probe", "zeroshot")

#: The probe's candidate class balances (``fit_linear_probe(balance=...)``): 1 weighs every class
#: alike, 0 every sample alike. Which one explains the labels best differs by space: balanced wins
#: on textile HOG (label F1 0.756 vs 0.672) and the diffuse synthetic space (0.905 vs 0.807),
#: unbalanced on the metric-learning digits (0.921 vs 0.873) and textile pixels (0.478 vs 0.302),
#: where the balanced probe had let cleanlab on a plain logistic regression win
#: (tests/bench/bench_geometries.py, seed 0; docs/benchmarks.md).
PROBE_BALANCES = (1.0, 0.0)

#: Up to this many cells (samples x classes) the result keeps the dense ``pred_probs`` (128 MB).
KEEP_PRED_PROBS_CELLS = 1 << 25


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where it cannot be read."""
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def scoring_memory_bytes(num_samples: int, num_classes: int, largest_class: int) -> int:
    """Peak bytes the scorer adds to the embeddings and the graph it is given.

    The N x K probabilities are walked in blocks (:mod:`confident`), so what grows is: the K x K
    confident joint and cleanlab's calibration / prune-count copies of it (~8 float64 matrices),
    the biggest block (``BLOCK_CELLS`` cells, or the largest class's rows in the pruning pass)
    with its ~6 float64 temporaries, and ~100 bytes of per-row values.
    """
    block = max(BLOCK_CELLS, largest_class * num_classes)
    return 64 * num_classes**2 + 48 * block + 100 * num_samples


def check_memory(num_samples: int, num_classes: int, largest_class: int, available: int | None = None) -> None:
    """Refuse, with one line, a scoring run that cannot fit in memory — instead of being killed by
    the kernel halfway through."""
    if available is None:
        available = available_memory_bytes()
    need = scoring_memory_bytes(num_samples, num_classes, largest_class)
    if available is not None and need > available:
        raise DataError(
            f"label-noise scoring of {num_samples} samples x {num_classes} classes needs about "
            f"{need / 1e9:.1f} GB of memory and {available / 1e9:.1f} GB is available; "
            "score a subset of the classes or samples, or use a machine with more memory"
        )


#: Neighbours per sample in the kNN vote (more than Datalab's 10: the vote is similarity-weighted,
#: so far neighbours add evidence without drowning the near ones).
DEFAULT_VOTE_K = 30


def score_label_noise(
    data,
    *,
    neighbors: tuple[np.ndarray, np.ndarray] | None = None,
    sources: tuple[str, ...] = SOURCES,
    k: int = DEFAULT_VOTE_K,
    folds: int = 5,
    seed: int = 0,
    device: str = "cpu",
    scale: SimilarityScale | None = None,
    duplicate_groups: np.ndarray | None = None,
    probe_solver: str = "ridge",
    filter_by: str = "prune_by_noise_rate",
) -> LabelNoiseResult:
    """Score every labelled sample's label from its embedding.

    data:      :class:`curate.data.Embedded` (embeddings (N, D) float32 L2-normalised, labels (N,)
               int64 with -1 for unlabelled, optional text_embeddings (K, D) and hashes)
    neighbors: ``(idx (N, k') int64, sims (N, k') float32)`` from
               :func:`curate.graph.neighbors.exact_knn` (self excluded), e.g. the neighbours
               stage's graph; computed here when None. Only the first ``k`` columns are used.
    sources:   any of ``"knn"`` (similarity-weighted vote without the sample itself or its
               duplicate group), ``"euclidean"`` (the same vote over Euclidean neighbours of the
               features as given, ``embeddings * norms``; silently unused, with a note, unless
               ``data.norms`` says the imported features were not unit length), ``"probe"``
               (``folds``-fold cross-validated linear probe, duplicate
               groups kept in one fold), ``"zeroshot"`` (similarity to the class-name text
               embeddings; silently unused when ``data.text_embeddings`` is None, with a note).
    scale:     the space's vote temperature and near-duplicate decision; None measures it from
               the neighbour graph (:func:`curate.graph.scale.measure_scale` defaults)
    duplicate_groups: (N,) int64 duplicate-component ids (:func:`curate.score.duplicates.duplicate_components`)
               that keep copies in one probe fold and out of each other's votes; None computes
               them with ``scale``
    Each source is calibrated on its own (inverse temperature fitted by noise-aware NLL) and the
    calibrated distributions are pooled by geometric mean, or by jointly fitted weights where
    those explain held-out rows better (:func:`calibrate.pooled_fit`); then cleanlab's
    confident-learning filter (``filter_by``, one of :data:`confident.FILTERS`) flags issues with
    per-class thresholds. The N x K probabilities are computed block by block and never held
    whole (:mod:`confident`); ``result.pred_probs`` is kept only up to
    ``KEEP_PRED_PROBS_CELLS`` cells, else None. Unlabelled rows are not scored (label_quality
    NaN, never an issue) but still get a suggested label. No labels at all, or a single class,
    returns an unscored result whose ``notes`` say why; nothing raises for those.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise UsageError(f"unknown label-noise sources {unknown or '(none)'}: choose from {', '.join(SOURCES)}")
    if filter_by not in FILTERS:
        raise UsageError(f"unknown filter_by {filter_by!r}: choose from {', '.join(FILTERS)}")
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    labels = np.asarray(data.labels, dtype=np.int64)
    num_classes = data.num_classes
    present = np.unique(labels[labels >= 0])
    if present.size == 0:
        return LabelNoiseResult.unscored(labels, num_classes, "skipped: unlabelled (no labelled samples to score)")
    if present.size < 2:
        return LabelNoiseResult.unscored(labels, num_classes, "skipped: one class (nothing to confuse it with)")

    check_memory(len(labels), num_classes, int(np.bincount(labels[labels >= 0]).max()))
    notes: list[str] = []
    emb = data.embeddings
    norms = getattr(data, "norms", None)
    from curate.graph.neighbors import euclidean_knn, exact_knn

    if neighbors is None and ("knn" in sources or "probe" in sources or "euclidean" in sources):
        log(f"label noise: exact {k}-NN graph on {len(emb)} samples")
        neighbors = exact_knn(emb, k, device=device)
    if scale is None and neighbors is not None:
        scale = measure_scale(neighbors[1])
    scores: list[ScoreFn] = []
    used: list[str] = []
    needs_groups = "knn" in sources or "probe" in sources or ("euclidean" in sources and norms is not None)
    if needs_groups and duplicate_groups is None:
        duplicate_groups = duplicate_components(exact_keys(data), neighbors, scale)
    groups = duplicate_groups
    if "knn" in sources:
        idx, sims = neighbors[0][:, :k], neighbors[1][:, :k]
        scores.append(
            lambda rows: knn_vote_logits(
                labels, idx[rows], sims[rows], num_classes, scale=scale, row_groups=groups[rows], groups=groups
            )
        )
        used.append("knn")
    if "euclidean" in sources:
        if norms is None:
            notes.append("euclidean source unused: the vectors are unit length (embeddings, not raw features)")
        else:
            features = emb * np.asarray(norms, dtype=np.float32)[:, None]
            log(f"label noise: Euclidean {k}-NN graph of the features as given ({len(emb)} samples)")
            e_idx, e_dist = euclidean_knn(features, k, device=device, seed=seed)
            del features
            width = neighbourhood_width(e_dist) or 1.0
            scores.append(
                lambda rows: euclidean_vote_logits(
                    labels,
                    e_idx[rows],
                    e_dist[rows],
                    num_classes,
                    temperature=width,
                    row_groups=groups[rows],
                    groups=groups,
                )
            )
            used.append("euclidean")
    probes: list[tuple[float, ScoreFn, float]] = []  # (class balance, source, ridge) per candidate
    if "probe" in sources:
        fold_of = cv_folds(labels, duplicate_groups, folds=folds, seed=seed)
        # Imported features that were not unit length are probed as given, like the Euclidean vote:
        # their lengths carry information the directions lack (a tumour's size).
        lengths = None if norms is None else np.asarray(norms, dtype=np.float32)
        counts = np.bincount(labels[labels >= 0])
        # Class balancing changes nothing when the classes are the same size: one fit then.
        balances = PROBE_BALANCES if np.unique(counts[counts > 0]).size > 1 else PROBE_BALANCES[:1]
        for balance in balances:
            probe = fit_linear_probe(
                emb,
                labels,
                num_classes,
                fold_of,
                solver=probe_solver,
                device=device,
                seed=seed,
                lengths=lengths,
                balance=balance,
            )
            probes.append(
                (
                    balance,
                    lambda rows, probe=probe: probe.scores(
                        emb[rows], fold_of[rows], None if lengths is None else lengths[rows]
                    ),
                    probe.ridge,
                )
            )
        probe_at = len(scores)
        scores.append(probes[0][1])
        used.append("probe")
    if "zeroshot" in sources:
        if data.text_embeddings is None:
            notes.append("zeroshot source unused: no class-name text embeddings")
        else:
            text = data.text_embeddings
            scores.append(lambda rows: zeroshot_logits(emb[rows], text, device=device))
            used.append("zeroshot")
    if not scores:
        result = LabelNoiseResult.unscored(labels, num_classes, "skipped: no usable source")
        result.notes[:0] = notes
        return result

    if probes:
        # The probe's class balance is read from the data like its ridge: each candidate pooled
        # with the other sources, the pool that explains the given labels best kept.
        fits, shared = [], {}  # the other sources are scored and calibrated once for every candidate
        for balance, source, ridge in probes:
            scores[probe_at] = source
            fits.append((pooled_fit(scores, labels, seed=seed, cache=shared), balance, source, ridge))
        pool, balance, scores[probe_at], ridge = min(fits, key=lambda fit: fit[0].nll)
        notes.append(
            f"probe ridge: {ridge:.3g} (chosen by out-of-fold likelihood); class balance {balance:g} "
            f"(of {', '.join(f'{b:g}' for _, b, _, _ in fits)}, chosen by the pool's likelihood)"
            + ("; probe fitted on the features as given (not unit length)" if norms is not None else "")
        )
    else:
        pool = pooled_fit(scores, labels, seed=seed)
    weights = pool.weights
    notes.append(pool.describe())
    notes.append("pooling weights: " + ", ".join(f"{s}={w:.3g}" for s, w in zip(used, weights)))
    pooled = PooledProbabilities(scores, weights, len(labels), num_classes)
    log(f"label noise: confident learning over {len(labels)} x {num_classes} probabilities, block by block")
    result = confident_learning(
        labels, pooled, filter_by=filter_by, keep_pred_probs=len(labels) * num_classes <= KEEP_PRED_PROBS_CELLS
    )
    if np.isfinite(result.label_quality).any():
        result.evidence = measure_evidence(
            labels, pooled, result.suggested_label, result.confident_joint, result.confused_pairs
        )
    result.notes[:0] = notes
    return result
