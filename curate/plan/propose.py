"""Per-sample proposals: keep / drop / relabel / review, a sampling weight, and the reasons.

Two steps:

1. the rules (:mod:`curate.plan.rules`) look at each sample's findings (readable, issues.parquet
   row, duplicate keeper, neighbour vote) and decide its action, final label and reasons; the
   module documents each rule and which one wins when several fire;
2. the weighting step (:func:`curate.plan.rebalance.sampling_weights`) downweights near-duplicate
   groups kept whole, undersamples classes above ``cap`` (redundant samples first) and gives the
   kept samples their class's rebalancing weight (``strategy``); dropped samples weigh 0 and
   unlabelled kept ones 1.

People's decisions (decisions.parquet, :mod:`curate.review.decisions`) come between the two:
a sample a person decided gets that action and label whatever the rules said, its reasons end
with ``reviewed: ...``, and undersampling never removes it. The plan keeps what the rules alone
proposed (``proposed_action``) and what a reviewer's ``accept`` means (``suggested_action``,
``suggested_label``: :func:`suggest`), so review progress can be counted.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from curate.data import align_rows, encode_labels
from curate.graph.vote import knn_vote
from curate.plan.captions import CaptionFilter
from curate.plan.rebalance import STRATEGIES, neighbour_density, sampling_weights
from curate.plan.rules import (
    OUTLIER_ACTIONS,
    RULES,
    Decision,
    RuleOptions,
    SampleFindings,
    decide,
    declared_rules,
    duplicate_kind,
)
from curate.review.decisions import gives_unknown_class, match_decisions
from curate.schemas import PLAN


def propose(
    samples: pa.Table,
    issues: pa.Table | None = None,
    neighbors: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    class_names: list[str],
    strategy: str = "none",
    cap: int | None = None,
    relabel_threshold: float = 0.95,
    drop_near_duplicates: bool = False,
    outliers: str = "review",
    beta: float = 0.999,
    decisions: pa.Table | None = None,
    label_evidence: dict | None = None,
    caption_filter: CaptionFilter | None = None,
    tag_confidence: float | None = None,
) -> pa.Table:
    """The plan for every row of ``samples`` (schema PLAN, same row order).

    samples:   samples.parquet (sample_id, label, readable, error)
    issues:    issues.parquet or None (no label/duplicate/outlier rules then); joined on sample_id
    neighbors: ``(idx (N, k) int64, sims (N, k) float32)`` aligned with ``samples`` rows, or None.
               Used for the relabel agreement vote and the density that orders undersampling;
               without it nothing is relabelled (review instead) and undersampling goes by row order.
    decisions: decisions.parquet (schema DECISIONS) or None; matched to samples by content
               (:func:`curate.review.decisions.match_decisions`, which needs samples' ``hash``)
    label_evidence: the score stage's record (:meth:`curate.score.noise.evidence.LabelEvidence.as_dict`,
               issues.parquet's metadata) or None: a weak space or pair is never relabelled
    caption_filter: the image-text pairs' CLIP-score filters (:func:`curate.plan.captions.caption_filter`)
    tag_confidence: multi-label data (samples' ``labels``): the P(present) at which a missing tag is
               added (a spurious one removed at 1 - it); None derives a bar per tag (:func:`tag_bars`).
               A row's weighting class is its rarest final tag (:func:`rarest_tags`).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "cap" and cap is None:
        raise ValueError("strategy 'cap' needs a cap (samples per class)")
    if outliers not in OUTLIER_ACTIONS:
        raise ValueError(f"outliers must be one of {', '.join(OUTLIER_ACTIONS)}, got {outliers!r}")
    has_neighbours = neighbors is not None and neighbors[0].shape[1] > 0
    multi = is_multi_label_table(samples)
    findings = sample_findings(samples, issues, neighbors if has_neighbours else None, class_names=class_names)
    options = RuleOptions(
        frozenset(class_names),
        relabel_threshold=relabel_threshold,
        drop_near_duplicates=drop_near_duplicates,
        outliers=outliers,
        weak_evidence=bool((label_evidence or {}).get("weak")),
        weak_pairs=frozenset(frozenset(p["classes"]) for p in (label_evidence or {}).get("weak_pairs", [])),
        weak_classes=frozenset(c["class_name"] for c in (label_evidence or {}).get("weak_classes", [])),
        min_relabel_typicality=relabel_typicality(findings, relabel_threshold),
        caption_filter=caption_filter,
        tag_bars=tag_bars(findings, relabel_threshold, tag_confidence) if multi else {},
    )
    rules = RULES.ordered() + declared_rules()
    decided = [decide(f, options, rules) for f in findings]
    proposed = [d.action for d in decided]
    suggestions = [suggest(d, f, options) for d, f in zip(decided, findings)]
    action = list(proposed)
    reasons = [d.reasons for d in decided]
    labels = [d.label for d in decided]
    reviewed: list[str | None] = [None] * len(findings)
    if decisions is not None and decisions.num_rows:
        ids = [f.sample_id for f in findings]
        hashes = samples.column("hash").to_pylist() if "hash" in samples.column_names else [None] * len(ids)
        matched, _ = match_decisions(ids, hashes, decisions)
        records = decisions.to_pylist()
        known = set(class_names)
        for i in np.flatnonzero(matched >= 0):
            rec = records[matched[i]]
            given_label = findings[i].label
            if gives_unknown_class(rec, known):
                # decided before a re-scan that no longer has this class: never a label-less row
                reasons[i].append(f"review decision not applied: class {rec['label']!r} is no longer in the data")
                continue
            if rec["action"] == "drop":
                action[i], labels[i] = "drop", given_label
            elif multi and findings[i].tags is not None:  # a tag set (curate.review.decisions.tag_key)
                new_tags = tuple(json.loads(rec["label"]))
                decided[i] = Decision(decided[i].action, decided[i].reasons, given_label, new_tags)
                action[i] = "keep" if set(new_tags) == set(findings[i].tags) else "relabel"
            else:
                labels[i] = rec["label"]
                action[i] = "keep" if rec["label"] == given_label else "relabel"
            reasons[i].append(review_reason(rec))
            reviewed[i] = "accepted" if rec["accepted"] else "overruled"
    protected = np.array([r is not None for r in reviewed], dtype=bool)
    final_tags = [d.tags for d in decided]
    if multi:  # a row weighs as its rarest final tag (the given ones for `original_label`)
        labels = rarest_tags(final_tags, class_names)
        given = encode_labels(rarest_tags([f.tags for f in findings], class_names), class_names)
    else:
        given = encode_labels(samples.column("label"), class_names)
    final = encode_labels(labels, class_names)

    near_groups = [f.issues.get("duplicate_group") if duplicate_kind(f) == "near" else None for f in findings]
    near_copies = np.array(
        [g is not None and bool(f.issues.get("is_duplicate")) for f, g in zip(findings, near_groups)], dtype=bool
    )
    weight = sampling_weights(
        action,
        reasons,
        final,
        near_duplicate_groups=near_groups,
        near_duplicate_copies=near_copies,
        density=neighbour_density(*neighbors) if has_neighbours else None,
        class_names=class_names,
        strategy=strategy,
        cap=cap,
        beta=beta,
        protected=protected,
    )
    names = np.array(class_names + [None], dtype=object)
    return pa.table(
        {
            "sample_id": [f.sample_id for f in findings],
            "action": action,
            "label": names[final].tolist(),
            "original_label": names[given].tolist(),
            "weight": weight.astype(np.float64),
            "reasons": reasons,
            "proposed_action": proposed,
            "suggested_action": [s[0] for s in suggestions],
            "suggested_label": [s[1] for s in suggestions],
            "reviewed": reviewed,
            # filled by a selection (curate.select.plan.apply_selection); null: none was made
            "selected": pa.nulls(len(findings), pa.bool_()),
            "select_rank": pa.nulls(len(findings), pa.int64()),
            "labels": [None if t is None else list(t) for t in final_tags] if multi else [None] * len(findings),
            "original_labels": [None if f.tags is None else list(f.tags) for f in findings],
            "suggested_labels": [suggest_tags(d, f) for d, f in zip(decided, findings)],
        },
        schema=PLAN,
    )


def is_multi_label_table(samples: pa.Table) -> bool:
    """Whether a samples table holds multi-label rows (a ``labels`` column with a list in it)."""
    return "labels" in samples.column_names and samples.column("labels").null_count < samples.num_rows


def rarest_tags(tag_sets: list[tuple[str, ...] | None], class_names: list[str]) -> list[str | None]:
    """Each row's rarest tag (fewest rows carry it over ``tag_sets``; ties by tag order), None for
    a row without one: the class a multi-label row is weighted as, and its ``label``."""
    from collections import Counter

    counts = Counter(t for tags in tag_sets if tags for t in tags)
    order = {name: i for i, name in enumerate(class_names)}
    return [min(tags, key=lambda t: (counts[t], order.get(t, 0))) if tags else None for tags in tag_sets]


def tag_bars(
    findings: list[SampleFindings], relabel_threshold: float, tag_confidence: float | None
) -> dict[str, float]:
    """Per tag, the P(present) at which a missing tag is added (and at 1 - which a spurious one is
    removed): ``tag_confidence`` for every tag when given; else the ``1 - relabel_threshold``
    quantile of P(present) over the rows whose given tag the scorer confirms (given, not named
    spurious, ``given_label_probs``): an added tag must look as present as all but that share of
    the tag's confirmed rows. A tag with no confirmed row takes the quantile over every confirmed
    tag. Empty when no probabilities were scored."""
    names = {t for f in findings if f.tags for t in f.tags} | {
        t for f in findings for t in (f.issues.get("missing_labels") or [])
    }
    if tag_confidence is not None:
        return dict.fromkeys(names, float(tag_confidence))
    confirmed: dict[str, list[float]] = {}
    for f in findings:
        probs = f.issues.get("given_label_probs")
        if not f.tags or probs is None or len(probs) != len(f.tags):
            continue
        spurious = set(f.issues.get("spurious_labels") or [])
        for tag, p in zip(f.tags, probs):
            if tag not in spurious and p is not None:
                confirmed.setdefault(tag, []).append(float(p))
    if not confirmed:
        return {}
    level = 1.0 - relabel_threshold
    overall = float(np.quantile(np.concatenate([np.asarray(v) for v in confirmed.values()]), level))
    return {t: float(np.quantile(np.asarray(confirmed[t]), level)) if t in confirmed else overall for t in names}


def suggest_tags(decision: Decision, sample: SampleFindings) -> list[str] | None:
    """What ``accept`` gives a multi-label row: the rules' tags for a relabel, the scorer's
    suggested set for a flagged row sent to review; None for single-label rows and the rest."""
    if sample.tags is None:
        return None
    if decision.action == "relabel" and decision.tags is not None:
        return list(decision.tags)
    suggested = sample.issues.get("suggested_labels")
    if decision.action == "review" and sample.issues.get("is_label_issue") and suggested is not None:
        return list(suggested)
    return None


def relabel_typicality(findings: list[SampleFindings], relabel_threshold: float) -> dict[str, float]:
    """Per class, the least typicality (``outlier_score``) a row relabelled to it may have: the
    ``1 - relabel_threshold`` quantile of the scores of the rows whose labels the evidence
    confirms as that class (labelled so, not a label issue, not an outlier); a class with no
    such row gets the quantile over every confirmed row. A relabel says the row is a member of
    the suggested class, and the calibrated probability behind it was checked against rows like
    those; a row less typical than all but 5 % of them sits where the sources extrapolate (a
    linear probe's logits grow without bound away from the data). On the wine table of
    tests/bench/bench_geometries.py most wrong relabels were planted rows of no class that no
    outlier check flags, called right with probability 1.000. Empty when no row has an outlier
    score."""
    by_class: dict[str, list[float]] = {}
    for f in findings:
        score = f.issues.get("outlier_score")
        if f.label is None or score is None or f.issues.get("is_label_issue") or f.issues.get("is_outlier"):
            continue
        by_class.setdefault(f.label, []).append(float(score))
    if not by_class:
        return {}
    level = 1.0 - relabel_threshold
    overall = float(np.quantile(np.concatenate([np.asarray(v) for v in by_class.values()]), level))
    labels = {f.label for f in findings if f.label is not None}
    return {c: float(np.quantile(np.asarray(by_class[c]), level)) if c in by_class else overall for c in labels}


def suggest(decision: Decision, sample: SampleFindings, options: RuleOptions) -> tuple[str | None, str | None]:
    """What a reviewer's ``accept`` means for one sample: ``(action, label)``.

    The rules' own outcome when it is keep, relabel or drop (``(drop, None)``). For ``review``,
    the concrete change the findings point to: a label issue with another known class suggested
    -> relabel to it; a sample any issue type flags -> drop; otherwise ``(None, None)``: there is
    nothing to accept (a split leak's keeper), a person decides keep, relabel or drop.
    """
    from curate.issues import issue_types

    if decision.action != "review":
        return decision.action, None if decision.action == "drop" else decision.label
    if sample.tags is not None and sample.issues.get("is_label_issue") and sample.issues.get("suggested_labels"):
        return "relabel", decision.label  # the new tag set is suggest_tags'
    suggested = sample.issues.get("suggested_label")
    if (
        sample.issues.get("is_label_issue")
        and suggested is not None
        and suggested != sample.label
        and suggested in options.class_names
    ):
        return "relabel", suggested
    if any(sample.issues.get(t.flag) for t in issue_types()):
        return "drop", None
    return None, None


def review_reason(decision: dict) -> str:
    """The reason a reviewed sample's plan row ends with: ``reviewed: <decision>`` and what it
    came to, and the reviewer's note."""
    outcome = {"drop": "drop", "keep": f"keep {decision['label']}", "relabel": f"relabel to {decision['label']}"}[
        decision["action"]
    ]
    said = outcome if decision["decision"] != "accept" else f"accept ({outcome})"
    return f"reviewed: {said}" + (f" — {decision['note']}" if decision.get("note") else "")


def sample_findings(
    samples: pa.Table,
    issues: pa.Table | None,
    neighbors: tuple[np.ndarray, np.ndarray] | None,
    *,
    class_names: list[str],
) -> list[SampleFindings]:
    """What the rules see of every row of ``samples``, in row order.

    A duplicate group's keeper is its first member flagged ``duplicate_keep``, or its first
    member when none is; the neighbour vote is the kNN majority of the given labels.
    """
    ids = samples.column("sample_id").to_pylist()
    given = samples.column("label").to_pylist()
    readable = samples.column("readable").to_pylist()
    errors = samples.column("error").to_pylist()
    n = len(ids)
    multi = is_multi_label_table(samples)
    tags = [None if t is None else tuple(t) for t in samples.column("labels").to_pylist()] if multi else [None] * n

    if issues is not None:
        columns = align_rows(issues, ids).to_pydict()
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    else:
        rows = [{} for _ in range(n)]
    keeper: dict[str, str] = {}
    for i, row in enumerate(rows):
        if row.get("duplicate_group") is not None and row.get("duplicate_keep"):
            keeper.setdefault(row["duplicate_group"], ids[i])
    for i, row in enumerate(rows):
        if row.get("duplicate_group") is not None:
            keeper.setdefault(row["duplicate_group"], ids[i])

    if neighbors is not None and not multi:
        majority, _ = knn_vote(encode_labels(given, class_names), neighbors[0], len(class_names))
        votes: list[str | None] = [class_names[m] if m >= 0 else None for m in majority.tolist()]
    else:
        votes = [None] * n
    return [
        SampleFindings(
            sample_id=ids[i],
            label=given[i],
            readable=readable[i],
            error=errors[i],
            issues=rows[i],
            duplicate_keeper=keeper.get(rows[i].get("duplicate_group")),
            has_neighbours=neighbors is not None,
            neighbour_vote=votes[i],
            tags=tags[i],
        )
        for i in range(n)
    ]
