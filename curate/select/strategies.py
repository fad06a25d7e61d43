"""Choosing a training subset of a budget: which rows, in which order.

Everything here works on arrays (no workspace): :func:`select_rows` takes the embeddings, the
final labels and a *tier* per row, and returns each row's ``select_rank`` (0 = chosen first,
-1 = not chosen). Tiers say what a row is worth before coverage is considered
(:data:`TIERS`): every strategy but ``random`` fills the budget from the lowest tier first, so
redundant copies, likely label errors, defective images and dropped rows are only taken when
the budget is larger than everything better.

Within a tier, the ``default`` strategy

* splits the budget between classes (:func:`class_quotas`): first one row per mode of every class
  (its prototypes; a small class keeps all of them before a large class loses any), then the
  rest in proportion to the classes' sizes, so the subset keeps the class prior while no class
  is left without its modes;
* orders each class by *cluster-stratified sampling* (:func:`stratified_order`): spherical
  k-means inside the class, each cluster's prototype first, then its rows spread over their
  distances to the centroid, clusters interleaved in proportion to their size. The first picks
  are the prototypes of the class's modes (one each), later ones fill each mode in proportion
  to its mass and across its width, and the least typical rows of each mode (often mislabelled
  or broken) come last.

The other strategies (``--strategy``): ``diverse`` (greedy k-center, farthest point first, over
the whole tier: :func:`kcenter_order`), ``typical`` (closest to the class prototype first),
``easy`` (largest margin between the own prototype and the nearest other one), ``hard``
(smallest margin first), ``balanced`` (equal class quotas, water-filled: :func:`waterfill`, random within a class) and
``random`` (uniform over every selectable row, tiers ignored). All are deterministic given
``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the strategies :func:`select_rows` knows, ``default`` first
STRATEGIES: tuple[str, ...] = ("default", "diverse", "typical", "easy", "hard", "balanced", "random")

#: what a row is worth before coverage, best first (its index is the row's tier); a row of tier
#: -1 is never selectable (unreadable)
TIERS: tuple[str, ...] = ("candidate", "redundant", "label_issue", "defect", "dropped")

#: k-means fits its centroids on at most this many rows per centroid (faiss's default
#: ``max_points_per_centroid``), then assigns every row once: the cost stays linear in N
POINTS_PER_CENTROID = 256

#: Lloyd iterations of the in-class k-means at most (it stops earlier once no row moves)
KMEANS_ITERATIONS = 20

#: ``diverse`` runs greedy k-center inside blocks of at most this many rows (coarse k-means
#: cells), so its cost is O(N x block) rather than O(N x budget)
KCENTER_BLOCK = 4096


def spread_permutation(size: int) -> np.ndarray:
    """Positions 0..size-1 in an order that spreads over the range: 0 first, then the middle,
    the quarters, the eighths... (positions by the bit-reversal of their index)."""
    if size <= 1:
        return np.arange(size)
    bits = int(math.ceil(math.log2(size)))
    index = np.arange(size)
    reversed_ = np.zeros(size, dtype=np.int64)
    for b in range(bits):
        reversed_ |= ((index >> b) & 1) << (bits - 1 - b)
    return np.argsort(reversed_, kind="stable")


@dataclass(frozen=True)
class Selection:
    """What :func:`select_rows` chose.

    rank:   (N,) int64, the order of choice (0 = first chosen), -1 for rows not chosen
    quotas: class index -> rows chosen of it (the label -1, unlabelled, is its own group)
    """

    rank: np.ndarray
    quotas: dict[int, int]

    @property
    def selected(self) -> np.ndarray:
        """(N,) bool: the rows chosen."""
        return self.rank >= 0


def budget_count(budget: int | float, available: int) -> int:
    """The number of rows a budget asks for: an ``int`` is a count, a ``float`` a fraction of
    ``available`` (rounded to the nearest row). Raises ValueError, in words, for a budget that is
    not positive, a fraction above 1, a count above ``available`` or one that rounds to 0."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise ValueError(f"budget must be a fraction in (0, 1] or a count of samples, got {budget!r}")
    if isinstance(budget, float):
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"a budget fraction must be in (0, 1], got {budget:g}")
        count = int(round(budget * available))
        if count < 1:
            raise ValueError(f"a budget of {budget:g} of {available:,} samples rounds to no sample")
        return count
    if budget < 1:
        raise ValueError(f"a budget count must be at least 1, got {budget}")
    if budget > available:
        raise ValueError(f"a budget of {budget:,} samples is more than the {available:,} that can be selected")
    return int(budget)


def waterfill(
    available: np.ndarray, budget: int, base: np.ndarray | None = None, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per-group quotas summing to exactly ``budget``: the largest level L such that every group
    reaches ``base + quota = floor(L x weight)`` where it can, ``quota <= available``. With equal
    weights a small group keeps all it has before a large one loses any; the rows left over at
    the last level go to the groups furthest below the level first ((base + quota) / weight),
    then the most rows available, then the lowest index.

    available: (K,) int, rows each group can give;  base: (K,) int, rows it already has (0)
    weights:   (K,) float > 0, each group's share of a level (1)
    Returns (K,) int64. Raises ValueError when ``budget`` exceeds ``available.sum()``.
    """
    available = np.asarray(available, dtype=np.int64)
    base = np.zeros_like(available) if base is None else np.asarray(base, dtype=np.int64)
    weights = np.ones(len(available)) if weights is None else np.asarray(weights, dtype=np.float64)
    if budget > int(available.sum()):
        raise ValueError(f"budget {budget} exceeds the {int(available.sum())} rows available")

    def at(level: float) -> np.ndarray:
        return np.clip(np.floor(level * weights).astype(np.int64) - base, 0, available)

    low, high = 0.0, float(((base + available + 1) / weights).max(initial=0.0))
    for _ in range(100):  # the largest level whose quotas fit the budget
        mid = (low + high) / 2
        if int(at(mid).sum()) <= budget:
            low = mid
        else:
            high = mid
    quota = at(low)
    left = budget - int(quota.sum())
    while left > 0:
        open_ = np.flatnonzero(quota < available)
        order = open_[np.lexsort((open_, -available[open_], (base + quota)[open_] / weights[open_]))]
        take = order[:left]
        quota[take] += 1
        left -= len(take)
    return quota


def modes(size: int) -> int:
    """How many modes (k-means clusters) a class of ``size`` rows is split into at most:
    ceil(sqrt(size)), the usual rule of thumb, which also bounds k-means at O(size^1.5 D)."""
    return max(1, math.ceil(math.sqrt(size)))


def class_quotas(
    available: np.ndarray, count: int, *, base: np.ndarray | None = None, balance: str = "prior"
) -> np.ndarray:
    """How many of ``count`` rows each class gives (a tier's share of the budget).

    ``prior`` (every strategy but ``balanced``): first every class gets one row per mode
    (:func:`modes` of its size, or all it has), so no class, however small, is left without its
    prototypes; the rest of the budget follows the classes' sizes (water-filled with weights
    proportional to them), so the subset keeps the class prior the test data has. When the
    modes alone exceed the budget, they are water-filled with equal weights: a small class keeps
    all of its prototypes before a large one loses any. ``equal`` (``balanced``): water-filled
    with equal weights, every class the same share or all it has.

    available: (K,) int rows each class can give in this tier;  base: (K,) int rows it already has
    Returns (K,) int64 quotas summing to ``count``.
    """
    available = np.asarray(available, dtype=np.int64)
    base = np.zeros_like(available) if base is None else np.asarray(base, dtype=np.int64)
    if balance == "equal":
        return waterfill(available, count, base=base)
    size = available + base
    floor = np.clip(np.array([modes(int(n)) for n in size]) - base, 0, available)
    if int(floor.sum()) >= count:
        return waterfill(floor, count)
    return floor + waterfill(
        available - floor, count - int(floor.sum()), base=base + floor, weights=np.maximum(size, 1)
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def spherical_kmeans(
    x: np.ndarray, k: int, rng: np.random.Generator, *, iterations: int = KMEANS_ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-means of unit rows: ``(centroids (k, D) float32 unit, assignment (n,) int64)``.

    k-means++ seeding; centroids are fitted on at most :data:`POINTS_PER_CENTROID` x k rows (a
    seeded sample), then every row is assigned to its most similar centroid. ``x``: (n, D)
    float32, L2-normalised; ``k <= n``.
    """
    n = len(x)
    k = max(1, min(k, n))
    fit = x if n <= POINTS_PER_CENTROID * k else x[rng.choice(n, POINTS_PER_CENTROID * k, replace=False)]
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    centroids[0] = fit[rng.integers(len(fit))]
    distance = np.maximum(1.0 - fit @ centroids[0], 0.0)
    for j in range(1, k):
        total = float(distance.sum())
        pick = int(rng.choice(len(fit), p=distance / total)) if total > 0 else int(rng.integers(len(fit)))
        centroids[j] = fit[pick]
        distance = np.minimum(distance, np.maximum(1.0 - fit @ centroids[j], 0.0))
    assign = np.full(len(fit), -1, dtype=np.int64)
    for _ in range(iterations):
        new = np.argmax(fit @ centroids.T, axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, fit)
        empty = np.bincount(assign, minlength=k) == 0
        sums[empty] = centroids[empty]  # an emptied centroid stays where it was
        centroids = _unit(sums).astype(np.float32)
    return centroids, np.argmax(x @ centroids.T, axis=1)


def stratified_order(x: np.ndarray, quota: int, rng: np.random.Generator) -> np.ndarray:
    """The default strategy's order of one class's rows (indices into ``x``, all of them).

    Spherical k-means into ``min(quota, modes(n))`` clusters (as many modes as there are picks,
    up to :func:`modes`); each cluster's rows are sorted by similarity to its centroid and taken
    in :func:`spread_permutation` order (the prototype first, then rows spread over the cluster's
    whole range of distances, the least typical last); within a cluster of size s the row taken
    p-th gets the key p / s, and rows are taken by increasing key (larger clusters first on
    ties): every cluster's prototype first, then proportional stratified sampling of the
    clusters. ``x``: (n, D) float32, L2-normalised.
    """
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(quota, modes(n)))
    centroids, assign = spherical_kmeans(x, k, rng)
    sim = np.einsum("nd,nd->n", x, centroids[assign])
    key = np.empty(n, dtype=np.float64)
    size = np.bincount(assign)[assign]
    for j in np.unique(assign):
        members = np.flatnonzero(assign == j)
        order = members[np.lexsort((members, -sim[members]))][spread_permutation(len(members))]
        key[order] = np.arange(len(order)) / len(order)
    return np.lexsort((np.arange(n), -size, key))


def kcenter_order(x: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-center (farthest point first) picks of ``count`` rows of ``x`` (indices, in
    order of choice), seeded by a random first row. Above :data:`KCENTER_BLOCK` rows the rows are
    split into coarse k-means cells, ``count`` is shared between the cells in proportion to their
    size, and each cell is ordered on its own (picks interleaved by their position in the cell).
    ``x``: (n, D) float32, L2-normalised."""
    n = len(x)
    count = min(count, n)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if n > KCENTER_BLOCK:
        _, cell = spherical_kmeans(x, math.ceil(n / KCENTER_BLOCK), rng)
        sizes = np.bincount(cell)
        share = _proportional(sizes, count)
        picks, keys = [], []
        for j in np.flatnonzero(share):
            members = np.flatnonzero(cell == j)
            chosen = members[kcenter_order(x[members], int(share[j]), rng)]
            picks.append(chosen)
            keys.append((np.arange(len(chosen)) + 0.5) / share[j])
        picks_all, keys_all = np.concatenate(picks), np.concatenate(keys)
        return picks_all[np.lexsort((picks_all, keys_all))]
    order = np.empty(count, dtype=np.int64)
    order[0] = rng.integers(n)
    distance = 1.0 - x @ x[order[0]]
    distance[order[0]] = -np.inf
    for i in range(1, count):
        order[i] = int(np.argmax(distance))
        distance = np.minimum(distance, 1.0 - x @ x[order[i]])
        distance[order[: i + 1]] = -np.inf
    return order


def _proportional(sizes: np.ndarray, count: int) -> np.ndarray:
    """``count`` shared between groups in proportion to ``sizes`` (largest remainders), never
    more than a group's size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    exact = sizes * count / max(int(sizes.sum()), 1)
    share = np.minimum(np.floor(exact).astype(np.int64), sizes)
    left = count - int(share.sum())
    while left > 0:
        room = np.flatnonzero(share < sizes)
        order = room[np.lexsort((room, -(exact[room] - share[room])))]
        take = order[:left]
        share[take] += 1
        left -= len(take)
    return share


def _prototype_scores(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: cosine to its own class's prototype (mean direction) and the margin over the most
    similar other prototype. ``x``: (n, D) unit rows; ``labels``: (n,) group ids."""
    groups = np.unique(labels)
    prototypes = _unit(np.stack([x[labels == g].mean(axis=0) for g in groups])).astype(np.float32)
    sims = x @ prototypes.T
    own = np.searchsorted(groups, labels)
    to_own = sims[np.arange(len(x)), own]
    if len(groups) == 1:
        return to_own, to_own
    sims[np.arange(len(x)), own] = -np.inf
    return to_own, to_own - sims.max(axis=1)


def _class_order(
    x: np.ndarray, quota: int, strategy: str, scores: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """One class's rows in the order ``strategy`` takes them (indices into its rows)."""
    n = len(x)
    ids = np.arange(n)
    if strategy == "default":
        return stratified_order(x, quota, rng)
    if strategy == "typical":
        return np.lexsort((ids, -scores["prototype"]))
    if strategy == "easy":
        return np.lexsort((ids, -scores["margin"]))
    if strategy == "hard":
        return np.lexsort((ids, scores["margin"]))
    if strategy == "balanced":
        return rng.permutation(n)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")


def defer_mutual_pairs(rows: np.ndarray, order: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """``order`` (positions into ``rows``) with every row whose mutual nearest neighbour comes
    earlier in it moved to the end, both parts keeping their order. ``rows``: (n,) global row
    indices; ``nearest``: (N,) int64 global nearest neighbour of every row, -1 for none."""
    nearest = np.asarray(nearest, dtype=np.int64)
    partner = nearest[rows]
    has = partner >= 0
    mutual = np.zeros(len(rows), dtype=bool)
    mutual[has] = nearest[partner[has]] == rows[has]
    place = np.full(len(nearest), -1, dtype=np.int64)  # where each global row sits in the order
    place[rows[order]] = np.arange(len(order))
    position = place[rows]
    partner_place = np.where(has, place[np.where(has, partner, 0)], -1)
    later = mutual & (partner_place >= 0) & (partner_place < position)
    deferred = later[order]
    return np.concatenate([order[~deferred], order[deferred]])


def select_rows(
    embeddings: np.ndarray,
    labels: np.ndarray,
    tiers: np.ndarray,
    budget: int,
    *,
    strategy: str = "default",
    seed: int = 0,
    nearest: np.ndarray | None = None,
) -> Selection:
    """Choose ``budget`` rows: each tier in turn (:data:`TIERS`), the best tier first, with
    ``strategy`` deciding which rows of the tier that is only partly taken (the module docstring
    describes each strategy).

    embeddings: (N, D) float32 (or float16), L2-normalised
    labels:     (N,) int64 final class of each row, -1 for unlabelled (a group of its own)
    tiers:      (N,) int, index into :data:`TIERS`; -1 for rows that can never be selected
    budget:     rows to choose, 1 <= budget <= number of rows with tier >= 0
    nearest:    (N,) int64 each row's nearest neighbour (the neighbour graph's first column), -1
                for none; ``default`` then defers a row whose *mutual* nearest neighbour its class
                took before it to the end of the class's order (:func:`defer_mutual_pairs`): two
                rows that are each other's nearest are one place in the space, and a second pick
                there covers nothing new while the budget is short

    Returns a :class:`Selection`; ranks run over the chosen rows, tier by tier, and inside a tier
    alternate between classes in proportion to their quotas.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    x = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    tiers = np.asarray(tiers, dtype=np.int64)
    selectable = np.flatnonzero(tiers >= 0)
    if not 1 <= budget <= len(selectable):
        raise ValueError(f"budget must be between 1 and {len(selectable)}, got {budget}")
    rng = np.random.default_rng(seed)
    rank = np.full(len(labels), -1, dtype=np.int64)
    if strategy == "random":
        chosen = rng.permutation(selectable)[:budget]
        rank[chosen] = np.arange(budget)
        groups, counts = np.unique(labels[chosen], return_counts=True)
        return Selection(rank, dict(zip(groups.tolist(), counts.tolist())))
    groups = np.unique(labels[selectable])
    taken = np.zeros(len(groups), dtype=np.int64)
    left, next_rank = budget, 0
    for tier in range(len(TIERS)):
        rows = selectable[tiers[selectable] == tier]
        if left == 0:
            break
        if len(rows) == 0:
            continue
        count = min(left, len(rows))
        if strategy == "diverse":
            chosen = rows[kcenter_order(x[rows], count, rng)]
            for g, c in zip(*np.unique(labels[chosen], return_counts=True)):
                taken[np.searchsorted(groups, g)] += c
        else:
            chosen = _tier_by_class(x, labels, rows, groups, taken, count, strategy, rng, nearest)
        rank[chosen] = next_rank + np.arange(len(chosen))
        next_rank += len(chosen)
        left -= len(chosen)
    return Selection(rank, {int(g): int(t) for g, t in zip(groups, taken) if t})


def _tier_by_class(
    x: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    groups: np.ndarray,
    taken: np.ndarray,
    count: int,
    strategy: str,
    rng: np.random.Generator,
    nearest: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` of ``rows`` (one tier) chosen class by class: water-filled quotas over what
    each class already has (``taken``, updated), each class's rows in the strategy's order;
    returned in order of choice (classes alternate by position / quota)."""
    position = np.searchsorted(groups, labels[rows])
    available = np.bincount(position, minlength=len(groups))
    quota = class_quotas(available, count, base=taken, balance="equal" if strategy == "balanced" else "prior")
    scores: dict[str, np.ndarray] = {}
    if strategy in ("typical", "easy", "hard"):
        scores["prototype"], scores["margin"] = _prototype_scores(x[rows], labels[rows])
    picks, keys = [], []
    for g in np.flatnonzero(quota):
        members = np.flatnonzero(position == g)
        own = {name: s[members] for name, s in scores.items()}
        order = _class_order(x[rows[members]], int(quota[g]), strategy, own, rng)
        if strategy == "default" and nearest is not None:
            order = defer_mutual_pairs(rows[members], order, nearest)
        order = order[: quota[g]]
        picks.append(rows[members[order]])
        keys.append((np.arange(len(order)) + 0.5) / quota[g])
    taken += quota
    chosen, key = np.concatenate(picks), np.concatenate(keys)
    return chosen[np.lexsort((chosen, key))]
