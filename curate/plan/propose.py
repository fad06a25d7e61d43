"""Per-sample proposals: keep / drop / relabel / review, a sampling weight, and the reasons.

Rules (each adds a short reason string; the strongest action wins: drop > review > relabel > keep):

* unreadable input                      -> drop ("unreadable: <error>")
* exact duplicate (not the group keeper) -> drop ("exact duplicate of <id>")
* near duplicate (not the keeper)       -> drop when ``drop_near_duplicates``; otherwise kept, and
  every kept member of a near-duplicate group is downweighted by the group size, so the group is
  sampled like one image ("near duplicate of <id>", "near-duplicate group of 3: weight / 3")
* duplicate spanning splits (leak)       -> review
* label issue                            -> relabel when the scorer's suggestion is confident
  (``suggested_confidence >= relabel_threshold``) *and* the neighbour majority agrees with it;
  otherwise review ("label issue: given cat, suggested dog (0.93)")
* outlier                                -> ``outliers``: review (default), drop, or keep
  ("outlier (score 0.03)")
* class above ``cap``                    -> redundant samples dropped first (see rebalance)
* unlabelled samples                     -> keep, weight 1 (no class to balance)

Weights follow the rebalancing ``strategy`` (:mod:`curate.plan.rebalance`) over the final labels
of the samples that are not dropped; dropped samples have weight 0.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from curate.data import align_rows, encode_labels
from curate.graph.vote import knn_vote
from curate.issues import issue_types
from curate.plan.rebalance import STRATEGIES, class_weights, undersample
from curate.schemas import PLAN

OUTLIER_ACTIONS = ("review", "drop", "keep")
_RANK = {"keep": 0, "relabel": 1, "review": 2, "drop": 3}


def propose(
    samples: pa.Table,
    issues: pa.Table | None = None,
    neighbors: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    class_names: list[str],
    strategy: str = "none",
    cap: int | None = None,
    relabel_threshold: float = 0.9,
    drop_near_duplicates: bool = False,
    outliers: str = "review",
    beta: float = 0.999,
) -> pa.Table:
    """The plan for every row of ``samples`` (schema PLAN, same row order).

    samples:   samples.parquet (sample_id, label, readable, error)
    issues:    issues.parquet or None (no label/duplicate/outlier rules then); joined on sample_id
    neighbors: ``(idx (N, k) int64, sims (N, k) float32)`` aligned with ``samples`` rows, or None.
               Used for the relabel agreement vote and the density that orders undersampling;
               without it nothing is relabelled (review instead) and undersampling goes by row order.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "cap" and cap is None:
        raise ValueError("strategy 'cap' needs a cap (samples per class)")
    if outliers not in OUTLIER_ACTIONS:
        raise ValueError(f"outliers must be one of {', '.join(OUTLIER_ACTIONS)}, got {outliers!r}")
    n = samples.num_rows
    ids = samples.column("sample_id").to_pylist()
    labels = encode_labels(samples.column("label"), class_names)
    action = ["keep"] * n
    reasons: list[list[str]] = [[] for _ in range(n)]
    final = labels.copy()
    divisor = np.ones(n)
    redundancy = np.zeros(n)

    def escalate(i: int, new: str) -> None:
        if _RANK[new] > _RANK[action[i]]:
            action[i] = new

    for i, (ok, err) in enumerate(zip(samples.column("readable").to_pylist(), samples.column("error").to_pylist())):
        if not ok:
            escalate(i, "drop")
            reasons[i].append(f"unreadable: {err or 'unknown error'}")

    if neighbors is not None and neighbors[0].shape[1]:
        idx, sims = neighbors
        valid = idx >= 0
        density = np.where(valid, sims, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
        redundancy += density
        majority, _ = knn_vote(labels, idx, len(class_names))
    else:
        majority = None

    if issues is not None:
        iss = align_rows(issues, ids).to_pydict()
        declared_rules = [t for t in issue_types() if t.rule is not None and t.flag in iss]
        groups = iss["duplicate_group"]
        keeper: dict[str, str] = {}
        members: Counter[str] = Counter()
        for i, g in enumerate(groups):
            if g is not None:
                members[g] += 1
                if iss["duplicate_keep"][i]:
                    keeper.setdefault(g, ids[i])
        for i, g in enumerate(groups):
            if g is not None:
                keeper.setdefault(g, ids[i])
        name_index = {c: k for k, c in enumerate(class_names)}
        for i in range(n):
            g = groups[i]
            if iss["is_duplicate"][i] and g is not None:
                kind = iss["duplicate_kind"][i] or "near"
                if kind == "exact":
                    escalate(i, "drop")
                    reasons[i].append(f"exact duplicate of {keeper[g]}")
                else:
                    reasons[i].append(f"near duplicate of {keeper[g]}")
                    redundancy[i] += 2.0  # undersampling removes copies before unique samples
                    if drop_near_duplicates:
                        escalate(i, "drop")
            if iss["is_leak"][i]:
                escalate(i, "review")
                reasons[i].append(f"duplicate across splits (leak, group {g})")
            if iss["is_label_issue"][i] and labels[i] >= 0:
                given = class_names[labels[i]]
                suggested = iss["suggested_label"][i]
                conf = iss["suggested_confidence"][i]
                if suggested is None or suggested == given or suggested not in name_index:
                    escalate(i, "review")
                    reasons[i].append(f"label issue: given {given}")
                else:
                    reasons[i].append(f"label issue: given {given}, suggested {suggested} ({(conf or 0.0):.2f})")
                    target = name_index[suggested]
                    if conf is None or conf < relabel_threshold:
                        escalate(i, "review")
                        reasons[i].append(f"not relabelled: confidence below {relabel_threshold:.2f}")
                    elif majority is None:
                        escalate(i, "review")
                        reasons[i].append("not relabelled: no neighbours to confirm")
                    elif majority[i] != target:
                        escalate(i, "review")
                        vote = class_names[majority[i]] if majority[i] >= 0 else "nothing"
                        reasons[i].append(f"not relabelled: neighbours vote {vote}")
                    else:
                        escalate(i, "relabel")
                        final[i] = target
            if iss["is_outlier"][i]:
                reasons[i].append(f"outlier (score {iss['outlier_score'][i]:.2f})")
                if outliers != "keep":
                    escalate(i, outliers)
            for issue_type in declared_rules:  # issue types that bring their own plan rule
                if iss[issue_type.flag][i]:
                    rule = issue_type.rule
                    reasons[i].append(rule.reason.format(**{c.name: iss[c.name][i] for c in issue_type.columns}))
                    escalate(i, rule.action)
        # Near-duplicate groups kept whole are sampled like one image.
        kept_members: Counter[str] = Counter(
            g for i, g in enumerate(groups) if g is not None and action[i] != "drop"
            and (iss["duplicate_kind"][i] or "near") == "near"
        )
        for i, g in enumerate(groups):
            if g is not None and action[i] != "drop" and kept_members.get(g, 0) > 1:
                divisor[i] = kept_members[g]
                reasons[i].append(f"near-duplicate group of {kept_members[g]}: weight / {kept_members[g]}")

    final = np.where(np.array([a == "relabel" for a in action]), final, labels)
    alive = np.array([a != "drop" for a in action])
    if cap is not None:
        candidates = np.where(alive & (final >= 0), final, -1)
        dropped = undersample(candidates, redundancy, cap)
        counts = np.bincount(final[candidates >= 0], minlength=len(class_names))
        for i in np.flatnonzero(dropped):
            action[i] = "drop"
            reasons[i].append(f"undersampled: {class_names[final[i]]} has {counts[final[i]]} samples, cap {cap}")
        alive &= ~dropped

    labelled = alive & (final >= 0)
    counts = np.bincount(final[labelled], minlength=len(class_names))
    per_class = class_weights(counts, strategy, beta=beta)
    # the appended 1.0 is what unlabelled rows (final -1) look up, also when there are no classes
    class_weight = np.append(per_class, 1.0)[np.where(final >= 0, final, -1)]
    weight = np.where(labelled, class_weight, np.where(alive, 1.0, 0.0)) / divisor
    names = np.array(class_names + [None], dtype=object)
    return pa.table(
        {
            "sample_id": ids,
            "action": action,
            "label": names[np.where(final >= 0, final, len(class_names))].tolist(),
            "original_label": names[np.where(labels >= 0, labels, len(class_names))].tolist(),
            "weight": weight.astype(np.float64),
            "reasons": reasons,
        },
        schema=PLAN,
    )
