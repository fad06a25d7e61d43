"""Hard-negative mining with false-negative filtering.

A hard negative of an anchor is a near neighbour with a different label. Plain "nearest
different label" mining is poisoned by false negatives: near-duplicates of the anchor that
carry another label, and neighbours whose *given* label is wrong — typically a sample of the
anchor's own class mislabelled as the confusable class, which is exactly where nearest
different-label neighbours come from. :func:`mine_hard_negatives` removes

* candidates that the space's :class:`~curate.graph.scale.SimilarityScale` calls near-duplicates
  of the anchor, or that are in the anchor's duplicate group;
* candidates whose suggested (probably true) label is the anchor's label;
* for an anchor whose own label is probably wrong, candidates labelled with, or probably
  belonging to, the anchor's suggested class (they are its true class-mates).

Suggested labels come from the score stage (issues.parquet) when available, else from a vote
of each sample's neighbours (:func:`curate.graph.vote.knn_vote`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.config import DEFAULT_SEARCH_NPROBE
from curate.data import Embedded
from curate.graph.scale import SimilarityScale, measure_scale
from curate.graph.tile import ClassFilter

#: a stored neighbour list that yields too few negatives is searched again with this many
#: neighbours at most (doubling from 4 x num_negatives); bounds the cost of pathological anchors.
DEFAULT_MAX_SEARCH_K = 2048

#: the batch plan's locality order uses at most this many k-means clusters, fitted on at most
#: this many rows (see :func:`plan_batches`).
MAX_KMEANS_CLUSTERS = 64
MAX_KMEANS_FIT_ROWS = 10_000
KMEANS_ITERATIONS = 15


@dataclass
class LabelHints:
    """What the scorers know about each row, aligned with ``Embedded`` rows.

    suggested_label: (N,) int64 probable true label, -1 when unknown
    duplicate_group: (N,) int64 group code, -1 when the row is in no duplicate group
    """

    suggested_label: np.ndarray
    duplicate_group: np.ndarray

    @classmethod
    def from_issues(
        cls, is_label_issue, suggested_label, duplicate_group, labels: np.ndarray, class_names: list[str]
    ) -> LabelHints:
        """From issues.parquet columns (aligned lists/arrays; None where not scored).

        Only flagged rows contribute a suggestion; elsewhere the given label stands.
        """
        index = {name: i for i, name in enumerate(class_names)}
        flagged = np.array([bool(f) for f in is_label_issue], dtype=bool)
        suggested = np.array([index.get(s, -1) if s is not None else -1 for s in suggested_label], dtype=np.int64)
        suggested = np.where(flagged & (suggested >= 0), suggested, labels)
        codes: dict[str, int] = {}
        groups = np.array(
            [-1 if g is None else codes.setdefault(g, len(codes)) for g in duplicate_group], dtype=np.int64
        )
        return cls(suggested_label=suggested, duplicate_group=groups)

    @classmethod
    def from_vote(
        cls, labels: np.ndarray, neighbor_idx: np.ndarray, num_classes: int, *, min_share: float = 0.5
    ) -> LabelHints:
        """Neighbour majority as the suggested label where at least ``min_share`` of voters agree."""
        from curate.graph.vote import knn_vote

        majority, share = knn_vote(labels, neighbor_idx, num_classes)
        suggested = np.where((majority >= 0) & (share >= min_share) & (labels >= 0), majority, labels)
        return cls(suggested_label=suggested, duplicate_group=np.full(len(labels), -1, dtype=np.int64))


def _negative_mask(
    anchors: np.ndarray,
    cand: np.ndarray,
    sims: np.ndarray,
    labels: np.ndarray,
    hints: LabelHints | None,
    scale: SimilarityScale,
) -> np.ndarray:
    """(m, k) bool: which candidates are usable negatives of each anchor row."""
    safe = np.maximum(cand, 0)
    la = labels[anchors][:, None]
    lc = labels[safe]
    ok = (cand >= 0) & (la >= 0) & (lc >= 0) & (lc != la) & ~scale.near_duplicate(sims)
    if hints is not None:
        ga = hints.duplicate_group[anchors][:, None]
        ok &= ~((ga >= 0) & (hints.duplicate_group[safe] == ga))
        sc = hints.suggested_label[safe]
        ok &= sc != la  # its label is probably wrong, toward the anchor's class
        sa = hints.suggested_label[anchors][:, None]
        # The anchor's own label is probably wrong: samples of its probable class are its class-mates.
        ok &= ~((sa != la) & ((lc == sa) | (sc == sa)))
    return ok


def _take_first(mask: np.ndarray, cand: np.ndarray, sims: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` usable candidates of each row, keeping the (most-similar-first) order."""
    order = np.argsort(~mask, axis=1, kind="stable")[:, :n]
    take_ok = np.take_along_axis(mask, order, axis=1)
    idx = np.where(take_ok, np.take_along_axis(cand, order, axis=1), -1)
    sim = np.where(take_ok, np.take_along_axis(sims, order, axis=1), np.nan).astype(np.float32)
    if idx.shape[1] < n:  # fewer candidates than asked for
        pad = n - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        sim = np.pad(sim, ((0, 0), (0, pad)), constant_values=np.nan)
    return idx, sim


def mine_hard_negatives(
    data: Embedded,
    neighbors: tuple[np.ndarray, np.ndarray],
    *,
    num_negatives: int = 10,
    hints: LabelHints | None = None,
    scale: SimilarityScale | None = None,
    max_search_k: int = DEFAULT_MAX_SEARCH_K,
    search_nprobe: int = DEFAULT_SEARCH_NPROBE,
    device: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Hard negatives of every row of ``data``.

    neighbors: ``(idx (N, k) int64, sims (N, k) float32)`` rows into ``data``, most similar
               first (see :func:`curate.graph.stage.load_neighbors`)
    hints:     suggested labels / duplicate groups; None -> a neighbour vote stands in for the
               label-noise scorer (no duplicate groups beyond the near-duplicate decision)
    scale:     the space's near-duplicate decision; None measures it from ``neighbors``
    Returns ``(neg_idx (N, num_negatives) int64, neg_sims (N, num_negatives) float32)``, most
    similar first, padded with -1 / NaN where fewer usable negatives exist (unlabelled anchors
    get none). Anchors whose stored neighbour list yields too few negatives (most of them: a
    sample's nearest neighbours are mostly its class-mates) get one more search that skips, in
    the similarity tiles themselves, every candidate the label rules exclude (see
    :func:`_class_filter`); rows that still come up short search deeper, doubling k up to
    ``max_search_k``. That search is :func:`curate.graph.neighbors.knn` with ``method="auto"``:
    exact for small data or on a GPU, the ivf engine at scale (never N x N on a CPU), visiting
    ``search_nprobe`` lists per anchor.
    """
    if scale is None:
        scale = measure_scale(neighbors[1])
    if data.tags is not None:
        groups = None if hints is None else hints.duplicate_group
        return mine_tag_negatives(
            data.embeddings,
            data.tags,
            neighbors,
            num_negatives=num_negatives,
            scale=scale,
            duplicate_group=groups,
            max_search_k=max_search_k,
            search_nprobe=search_nprobe,
            device=device,
        )
    if hints is None:
        hints = LabelHints.from_vote(data.labels, neighbors[0], data.num_classes)
    return _mine(data, neighbors, num_negatives, hints, scale, max_search_k, search_nprobe, device)


def padded_tags(tags: np.ndarray) -> np.ndarray:
    """(N, K) bool multi-hot -> (N, T) int64 tag indices of each row, -1 padded (T = the most tags
    any row has, at least 1): the row sets :class:`~curate.graph.tile.ClassFilter` compares, so a
    tile skips every candidate sharing a tag with its query (and every untagged one)."""
    hot = np.asarray(tags, dtype=bool)
    width = max(int(hot.sum(axis=1).max()) if hot.size else 0, 1)
    out = np.full((hot.shape[0], width), -1, dtype=np.int64)
    rows, cols = np.nonzero(hot)
    starts = np.cumsum(hot.sum(axis=1)) - hot.sum(axis=1)
    out[rows, np.arange(rows.size) - np.repeat(starts, hot.sum(axis=1))] = cols
    return out


def _shares_tag(query: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """(m, k) bool: candidate tag rows ``cand`` (m, k, T) that share a tag with ``query`` (m, T),
    or have none (untagged rows are no one's negatives)."""
    shared = cand[:, :, 0] < 0
    for a in range(query.shape[1]):
        qa = query[:, a][:, None]
        for b in range(cand.shape[2]):
            shared |= (qa >= 0) & (cand[:, :, b] == qa)
    return shared


def mine_tag_negatives(
    embeddings: np.ndarray,
    tags: np.ndarray,
    neighbors: tuple[np.ndarray, np.ndarray],
    *,
    num_negatives: int,
    scale: SimilarityScale,
    duplicate_group: np.ndarray | None = None,
    max_search_k: int = DEFAULT_MAX_SEARCH_K,
    search_nprobe: int = DEFAULT_SEARCH_NPROBE,
    device: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Hard negatives of multi-label rows: the nearest rows that share NO tag with the anchor
    (nor are its near-duplicates or duplicate-group members). embeddings: (N, D) float32
    L2-normalised; tags: (N, K) bool. The stored neighbour lists go first; anchors left short get
    one search whose tiles skip every tag-sharing candidate (:func:`padded_tags` as a
    :class:`~curate.graph.tile.ClassFilter`), so widening k is not what finds them; rows still
    short search deeper, doubling k up to ``max_search_k``. Untagged anchors get none.
    Returns ``(neg_idx (N, num_negatives) int64, neg_sims (N, num_negatives) float32)``."""
    from curate.device import resolve_device
    from curate.graph.neighbors import knn, resolve_method

    if num_negatives < 1:
        raise ValueError("num_negatives must be at least 1")
    pad = padded_tags(tags)
    n = len(pad)
    groups = duplicate_group if duplicate_group is not None else np.full(n, -1, dtype=np.int64)

    def usable(anchors: np.ndarray, cand: np.ndarray, sims: np.ndarray) -> np.ndarray:
        safe = np.maximum(cand, 0)
        ok = (cand >= 0) & ~scale.near_duplicate(sims) & (pad[anchors, :1] >= 0)
        ga = groups[anchors][:, None]
        ok &= ~((ga >= 0) & (groups[safe] == ga))
        return ok & ~_shares_tag(pad[anchors], pad[safe])

    cand, sims = neighbors
    neg_idx, neg_sims = _take_first(usable(np.arange(n), cand, sims), cand, sims, num_negatives)
    hot = np.asarray(tags, dtype=bool)
    tagged = hot.any(axis=1)
    todo = np.flatnonzero(tagged & ((neg_idx >= 0).sum(axis=1) < num_negatives))
    k = min(4 * num_negatives, max_search_k, n - 1)
    device = resolve_device(device)
    lists = None
    if todo.size and resolve_method(n, "auto", device) == "ivf":
        from curate.graph.ivf import build_lists

        lists = build_lists(embeddings, device=device)
    nprobe = search_nprobe
    num_lists = None if lists is None else len(lists.centroids)
    while todo.size and k >= 1:
        filt = ClassFilter(query_classes=pad[todo], row_classes=pad)
        more_idx, more_sims = knn(
            embeddings, k, rows=todo, class_filter=filt, nprobe=nprobe, device=device, lists=lists
        )
        neg_idx[todo], neg_sims[todo] = _take_first(
            usable(todo, more_idx, more_sims), more_idx, more_sims, num_negatives
        )
        short = (neg_idx[todo] >= 0).sum(axis=1) < num_negatives
        if lists is not None:
            # ivf: the lists an anchor visits are its own neighbourhood, where most rows share its
            # tags; a short row visits twice the lists next time (exact search: nothing more to give)
            todo = todo[short]
            if num_lists is not None and nprobe >= num_lists:
                break  # every list visited
            nprobe *= 2
            continue
        todo = todo[short & (more_idx[:, -1] >= 0)]
        if k >= min(max_search_k, n - 1):
            break
        k = min(2 * k, max_search_k, n - 1)
    return neg_idx, neg_sims


def naive_hard_negatives(
    data: Embedded,
    neighbors: tuple[np.ndarray, np.ndarray],
    *,
    num_negatives: int = 10,
    max_search_k: int = DEFAULT_MAX_SEARCH_K,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours with a different label, no filtering (searching further just the same):
    the baseline the benchmark compares against."""
    no_duplicates = SimilarityScale(duplicate_threshold=np.inf, vote_temperature=1.0)  # naive: nothing is a copy
    return _mine(data, neighbors, num_negatives, None, no_duplicates, max_search_k, DEFAULT_SEARCH_NPROBE, "auto")


def _class_filter(
    rows: np.ndarray, labels: np.ndarray, hints: LabelHints | None, *, anchor_suggestions: bool = True
) -> ClassFilter:
    """The label rules of :func:`_negative_mask` as classes to skip during the search: a
    candidate is no negative of an anchor when its given or suggested label is the anchor's
    given or (with ``anchor_suggestions``) suggested label. Without hints: when its given
    label is the anchor's."""
    if hints is None or np.array_equal(hints.suggested_label, labels):
        return ClassFilter(query_classes=labels[rows][:, None], row_classes=labels[:, None])
    row_classes = np.stack([labels, hints.suggested_label], axis=1)
    if not anchor_suggestions:
        return ClassFilter(query_classes=labels[rows][:, None], row_classes=row_classes)
    return ClassFilter(
        query_classes=np.stack([labels[rows], hints.suggested_label[rows]], axis=1), row_classes=row_classes
    )


def _mine(
    data: Embedded,
    neighbors: tuple[np.ndarray, np.ndarray],
    num_negatives: int,
    hints: LabelHints | None,
    scale: SimilarityScale,
    max_search_k: int,
    search_nprobe: int,
    device: str,
) -> tuple[np.ndarray, np.ndarray]:
    from curate.device import resolve_device
    from curate.graph.neighbors import knn, resolve_method

    if num_negatives < 1:
        raise ValueError("num_negatives must be at least 1")
    n = len(data)
    labels = data.labels
    cand, sims = neighbors
    mask = _negative_mask(np.arange(n), cand, sims, labels, hints, scale)
    neg_idx, neg_sims = _take_first(mask, cand, sims, num_negatives)

    # Anchors that could have more negatives than they got: search again among the samples of
    # other classes only, so the search does not have to dig through the anchor's class-mates.
    labelled = labels >= 0
    other_class = labelled.sum() - np.bincount(labels[labelled], minlength=data.num_classes)
    # unlabelled data (no classes) has no negatives to search for
    possible = (
        np.where(labelled, other_class[np.maximum(labels, 0)], 0) if data.num_classes else np.zeros(n, dtype=np.int64)
    )
    got = (neg_idx >= 0).sum(axis=1)
    todo = np.flatnonzero(got < np.minimum(num_negatives, possible))
    # a margin for what the tiles cannot filter: near-duplicates and duplicate-group members
    k = min(4 * num_negatives, max_search_k, n - 1)
    nprobe = search_nprobe
    first = True
    lists = None
    device = resolve_device(device)
    if todo.size and resolve_method(n, "auto", device) == "ivf":
        from curate.graph.ivf import build_lists

        # every pass searches the same rows: train the k-means lists once (what each pass would)
        lists = build_lists(data.embeddings, device=device)
    while todo.size and k >= 1:
        # The first pass (nearly every anchor: most of the work) skips candidates whose given or
        # suggested class is the anchor's given class; the few anchors it leaves short — mostly
        # those whose own label is probably wrong — apply every label rule.
        filt = _class_filter(todo, labels, hints, anchor_suggestions=not first)
        more_idx, more_sims = knn(
            data.embeddings, k, rows=todo, class_filter=filt, nprobe=nprobe, device=device, lists=lists
        )
        more_mask = _negative_mask(todo, more_idx, more_sims, labels, hints, scale)
        neg_idx[todo], neg_sims[todo] = _take_first(more_mask, more_idx, more_sims, num_negatives)
        got = (neg_idx[todo] >= 0).sum(axis=1)
        short = got < np.minimum(num_negatives, possible[todo])
        if first:
            # the few rows still short also visit twice the lists (ivf: their lists may hold too
            # few candidates of other classes)
            todo, first, nprobe = todo[short], False, 2 * nprobe
            continue
        # a search that returned fewer than k candidates has nothing more to give
        todo = todo[short & (more_idx[:, -1] >= 0)]
        if k >= min(max_search_k, n - 1):
            break
        k = min(2 * k, max_search_k, n - 1)
    return neg_idx, neg_sims


def confusion_pairs(
    labels: np.ndarray, neg_idx: np.ndarray, num_classes: int, *, top: int = 20, min_count: int = 5
) -> list[tuple[int, int, int, float]]:
    """Class pairs whose samples are most often each other's hard negatives.

    ``count`` counts anchor->negative links between classes a and b in both directions; ``lift``
    is that count over what it would be if every anchor drew its negatives from the other classes
    in proportion to their sizes, so big classes do not top the list just by being big (lift 1 =
    no special confusion). Returns up to ``top`` ``(class_a, class_b, count, lift)`` with
    ``class_a < class_b``, highest lift first; pairs with fewer than ``min_count`` links are left
    out (too few to say).
    """
    anchors = np.repeat(np.arange(len(neg_idx)), neg_idx.shape[1])
    negs = neg_idx.ravel()
    keep = negs >= 0
    a, b = labels[anchors[keep]], labels[negs[keep]]
    observed = np.zeros((num_classes, num_classes))
    np.add.at(observed, (a, b), 1)
    sizes = np.bincount(labels[labels >= 0], minlength=num_classes).astype(np.float64)
    others = np.maximum(sizes.sum() - sizes, 1.0)
    expected = observed.sum(axis=1)[:, None] * sizes[None, :] / others[:, None]
    np.fill_diagonal(expected, 0.0)
    both_obs = observed + observed.T
    both_exp = expected + expected.T
    rows, cols = np.triu_indices(num_classes, 1)
    count = both_obs[rows, cols]
    lift = np.where(both_exp[rows, cols] > 0, count / np.maximum(both_exp[rows, cols], 1e-12), 0.0)
    lift[count < min_count] = 0.0
    best = np.argsort(-lift, kind="stable")[:top]
    return [(int(rows[i]), int(cols[i]), int(count[i]), float(lift[i])) for i in best if lift[i] > 0]


def _chain_order(embeddings: np.ndarray, *, num_clusters: int, seed: int) -> np.ndarray:
    """All rows ordered so that nearby rows come together: k-means clusters chained by a greedy
    nearest-centroid walk, each cluster's members ending with those nearest the next cluster."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    # Spherical k-means (cosine) on a sample, with a capped cluster count: the order only seeds
    # the batch growth, so coarse clusters do. (sklearn's KMeans took 17 s for 10k x 512 rows and
    # 64 clusters on a loaded 2-core machine; these few matrix products take well under one.)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(len(x), size=min(len(x), MAX_KMEANS_FIT_ROWS), replace=False)
    sample = x[fit_rows]
    num_clusters = min(num_clusters, MAX_KMEANS_CLUSTERS, len(sample))
    centres = sample[rng.choice(len(sample), size=num_clusters, replace=False)]
    for _ in range(KMEANS_ITERATIONS):
        nearest = (sample @ centres.T).argmax(axis=1)
        one_hot = np.zeros((len(sample), num_clusters), dtype=np.float32)
        one_hot[np.arange(len(sample)), nearest] = 1.0
        sums = one_hot.T @ sample  # per-cluster sums as one matrix product (np.add.at is ~20x slower)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centres)  # an empty cluster keeps its centre
    assign = np.concatenate([(x[i : i + 65536] @ centres.T).argmax(axis=1) for i in range(0, len(x), 65536)])
    centre_sims = centres @ centres.T
    chain = [int(np.bincount(assign, minlength=num_clusters).argmax())]
    remaining = np.ones(num_clusters, dtype=bool)
    remaining[chain[0]] = False
    while remaining.any():
        rest = np.flatnonzero(remaining)
        chain.append(int(rest[np.argmax(centre_sims[chain[-1], rest])]))
        remaining[chain[-1]] = False
    order = []
    for pos, c in enumerate(chain):
        members = np.flatnonzero(assign == c)
        if pos + 1 < len(chain):
            toward_next = x[members] @ centres[chain[pos + 1]] - x[members] @ centres[c]
            members = members[np.argsort(toward_next, kind="stable")]
        order.append(members)
    return np.concatenate(order)


def plan_batches(
    embeddings: np.ndarray, hard_graph: np.ndarray | None = None, *, batch_size: int = 256, seed: int = 0
) -> np.ndarray:
    """Contrastive mini-batches of mutually hard samples.

    Rows are first put in a locality order (spherical k-means with about ``N / batch_size`` clusters, at
    most 64, fitted on a sample of at most 10,000 rows, chained by nearest centroid). Each batch then grows breadth-first over ``hard_graph`` (e.g.
    the hard negatives of each row) from the first unassigned row in that order, so an anchor,
    its hard negatives, their hard negatives (often the anchor's class-mates) and so on land
    together; when the frontier runs dry the next row in locality order seeds it again. Every
    batch has exactly ``batch_size`` rows except the last. Without ``hard_graph`` batches are
    consecutive runs of the locality order.

    embeddings: (N, D) float32, L2-normalised; hard_graph: (N, m) int64 rows, -1 = none.
    Returns (N,) int64 batch index per row.
    """
    n = len(embeddings)
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2")
    if n <= batch_size:
        return np.zeros(n, dtype=np.int64)
    order = _chain_order(embeddings, num_clusters=max(1, int(round(n / batch_size))), seed=seed)
    batch = np.full(n, -1, dtype=np.int64)
    if hard_graph is None:
        batch[order] = np.arange(n) // batch_size
        return batch
    from collections import deque

    current, filled, cursor = 0, 0, 0
    frontier: deque[int] = deque()
    for _ in range(n):
        row = -1
        while frontier and row < 0:
            cand = frontier.popleft()
            row = cand if batch[cand] < 0 else -1
        if row < 0:
            while batch[order[cursor]] >= 0:
                cursor += 1
            row = int(order[cursor])
        batch[row] = current
        filled += 1
        frontier.extend(int(j) for j in hard_graph[row] if j >= 0 and batch[j] < 0)
        if filled == batch_size:
            current, filled = current + 1, 0
            frontier.clear()
    return batch
