"""The curated training manifest and the dataset summary that ``curate check`` gates on.

The manifest lists EVERY sample of samples.parquet, dropped ones included (``action = drop``,
``weight = 0``): joins on ``sample_id`` stay complete, a user can see why an image left the
training set, and a trainer filters with ``weight > 0`` (``curate.torch.ManifestDataset`` does so
by default). Actions left out of ``include`` also get weight 0: by default
(:data:`curate.config.TRAINING_ACTIONS`) that is ``review``, so nothing that still awaits a
person's decision is trained on; ``include`` with ``review`` trains on it.

When a stage has not run, its columns take neutral values: no plan -> action keep, weight 1,
label = given label, reasons []; no issues -> label_quality null, flags false, outlier_score 1.0,
duplicate_group null. Unreadable samples are always dropped (nothing can train on them).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from curate.config import DROP_WARNING_FRACTION, TRAINING_ACTIONS
from curate.data import align_rows, imbalance_ratio, largest_and_smallest, sample_captions
from curate.issues import issue_types
from curate.plan.rules import drop_if_unreadable
from curate.schemas import ACTIONS, MANIFEST


def build_manifest(
    samples: pa.Table,
    plan: pa.Table | None = None,
    issues: pa.Table | None = None,
    *,
    include: tuple[str, ...] = TRAINING_ACTIONS,
) -> pa.Table:
    """manifest.parquet rows (schema MANIFEST) in samples.parquet order, joined on sample_id."""
    n = samples.num_rows
    ids = samples.column("sample_id").to_pylist()
    given = samples.column("label").to_pylist()
    readable = samples.column("readable").to_pylist()
    errors = samples.column("error").to_pylist()
    given_tags = samples.column("labels").to_pylist() if "labels" in samples.column_names else [None] * n
    multi = any(t is not None for t in given_tags)
    if multi:  # `label` / `original_label`: the rarest tag (curate.plan.propose.rarest_tags)
        from curate.plan.propose import rarest_tags

        names = sorted({t for tags in given_tags if tags for t in tags})
        given = rarest_tags([None if t is None else tuple(t) for t in given_tags], names)
    final_tags = list(given_tags)
    if plan is not None:
        p = align_rows(plan, ids).to_pydict()
        if multi and "labels" in p:
            final_tags = [f if a is not None else g for f, a, g in zip(p["labels"], p["action"], given_tags)]
        action = [a if a is not None else "keep" for a in p["action"]]
        label = [lab if a is not None else g for lab, a, g in zip(p["label"], p["action"], given)]
        weight = [w if w is not None else 1.0 for w in p["weight"]]
        reasons = [list(r) if r is not None else [] for r in p["reasons"]]
        selected, select_rank = p.get("selected", [None] * n), p.get("select_rank", [None] * n)
    else:
        action, label, weight, reasons = ["keep"] * n, list(given), [1.0] * n, [[] for _ in range(n)]
        selected, select_rank = [None] * n, [None] * n
    for i in range(n):
        unreadable = drop_if_unreadable(readable[i], errors[i])
        if unreadable is not None and action[i] != "drop":  # a plan already dropping it said why
            action[i], weight[i] = unreadable.action, 0.0
            reasons[i].extend(unreadable.reasons)
        if action[i] not in include:
            weight[i] = 0.0
    if issues is not None:
        iss = align_rows(issues, ids).to_pydict()
        quality = iss["label_quality"]
        flags = {c: [bool(v) for v in iss[c]] for c in ("is_label_issue", "is_duplicate", "is_outlier")}
        group = iss["duplicate_group"]
        outlier_score = [1.0 if v is None else v for v in iss["outlier_score"]]
    else:
        quality, group, outlier_score = [None] * n, [None] * n, [1.0] * n
        flags = {c: [False] * n for c in ("is_label_issue", "is_duplicate", "is_outlier")}
    return pa.table(
        {
            "sample_id": ids,
            "path": samples.column("path"),
            "member": samples.column("member"),
            "split": samples.column("split"),
            "label": label,
            "original_label": given,
            "weight": np.asarray(weight, dtype=np.float64),
            "action": action,
            "reasons": reasons,
            "label_quality": quality,
            **flags,
            "duplicate_group": group,
            "outlier_score": outlier_score,
            "caption": sample_captions(samples) or [None] * n,
            # the training subset (curate.select): an unselected row already has weight 0 in the plan
            "selected": selected,
            "select_rank": select_rank,
            "labels": final_tags,
            "original_labels": given_tags,
        },
        schema=MANIFEST,
    )


#: columns of a previous manifest that :func:`since_last_scan` compares
SINCE_COLUMNS = ("sample_id", "label", "action")


def since_last_scan(previous: pa.Table, manifest: pa.Table, *, examples: int = 5) -> dict[str, Any]:
    """What changed between the manifest a scan replaces and the one it writes, by ``sample_id``.

    Counts ``added`` / ``removed`` samples, and among the samples in both, ``action_changed`` and
    ``label_changed`` (the final label); ``transitions`` counts each ``old->new`` action change
    (e.g. ``keep->drop``) and ``examples`` gives up to ``examples`` sample_ids per kind, in
    sample_id order. ``previous`` needs only the :data:`SINCE_COLUMNS`.
    """
    old = {sid: (lab, act) for sid, lab, act in zip(*(previous.column(c).to_pylist() for c in SINCE_COLUMNS))}
    new = {sid: (lab, act) for sid, lab, act in zip(*(manifest.column(c).to_pylist() for c in SINCE_COLUMNS))}
    kinds: dict[str, list[str]] = {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "action_changed": [],
        "label_changed": [],
    }
    transitions: Counter[str] = Counter()
    for sid in sorted(old.keys() & new.keys()):
        (old_label, old_action), (new_label, new_action) = old[sid], new[sid]
        if old_action != new_action:
            kinds["action_changed"].append(sid)
            transitions[f"{old_action}->{new_action}"] += 1
        if old_label != new_label:
            kinds["label_changed"].append(sid)
    return {
        "previous_samples": len(old),
        **{kind: len(ids) for kind, ids in kinds.items()},
        "transitions": dict(sorted(transitions.items())),
        "examples": {kind: ids[:examples] for kind, ids in kinds.items()},
    }


def _rate(count: int, total: int) -> float:
    return float(count) / total if total else 0.0


def class_mass(labels: list[str | None], weights: list[float], tags: list | None = None) -> Counter[str]:
    """Per-class sampling mass of the final labels: what a weighted sampler will see. With
    ``tags`` (multi-label: each row's final tags, None for single-label rows) a row's weight
    counts for each of its tags."""
    mass: Counter[str] = Counter()
    for i, (lab, w) in enumerate(zip(labels, weights)):
        if w <= 0:
            continue
        row_tags = tags[i] if tags is not None else None
        if row_tags is not None:
            for t in row_tags:
                mass[t] += w
        elif lab is not None:
            mass[lab] += w
    return mass


def plan_warnings(
    manifest: pa.Table,
    readable: np.ndarray,
    class_counts: dict[str, int],
    *,
    fraction: float = DROP_WARNING_FRACTION,
) -> list[dict[str, Any]]:
    """What a plan did that nobody should miss: it left more than ``fraction`` of the readable
    samples out of training (weight 0), or it left a class that had samples with no weight.

    ``manifest`` rows are in samples.parquet order, ``readable`` its mask; ``class_counts`` the
    readable labelled samples per class before the plan. Each entry has a ``kind``
    (``most_dropped`` or ``class_emptied``), its numbers, and a ``message`` to show as is.
    """
    m = manifest.to_pydict()
    weights = np.array(m["weight"], dtype=float)
    kept = int((readable & (weights > 0)).sum())
    total = int(readable.sum())
    warnings: list[dict[str, Any]] = []
    if total and (total - kept) > fraction * total:
        warnings.append(
            {
                "kind": "most_dropped",
                "dropped": total - kept,
                "readable": total,
                "fraction": (total - kept) / total,
                "limit": fraction,
                "message": f"the plan leaves {total - kept:,} of {total:,} readable samples out of training "
                f"(weight 0; more than {fraction:.0%})",
            }
        )
    mass = class_mass(m["label"], m["weight"], m.get("labels"))
    for name, count in class_counts.items():
        if count > 0 and mass.get(name, 0) <= 0:
            warnings.append(
                {
                    "kind": "class_emptied",
                    "class_name": name,
                    "samples": count,
                    "message": f"class {name!r} had {count:,} samples and has none left with weight > 0",
                }
            )
    return warnings


def summarise(
    samples: pa.Table,
    manifest: pa.Table,
    *,
    class_names: list[str],
    issues: pa.Table | None,
    classes: pa.Table | None,
    confusion_pairs: list[dict] | None,
    stages: dict[str, Any],
    similarity_scale: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """summary.json: dataset-level numbers (``curate check`` reads them) and where they came from.

    ``similarity_scale``: what the score stage read from the embedding space (the near-duplicate
    cosine and whether it was derived or given, the median nearest-neighbour distance, the vote
    temperature; :meth:`curate.graph.scale.SimilarityScale.as_dict`), recorded as given.

    Rates are over readable samples; ``label_issue_rate`` over readable *labelled* ones. A rate is
    null when the stage that measures it has not run, or (``label_issue_rate``) when it could not
    score any label; ``not_measured`` then says why. ``curate check`` fails a null check.
    """
    s = samples.to_pydict()
    n = samples.num_rows
    readable = np.array(s["readable"], dtype=bool)
    unreadable = [
        {"sample_id": sid, "path": path, "member": member, "reason": err}
        for sid, path, member, err, ok in zip(s["sample_id"], s["path"], s["member"], s["error"], s["readable"])
        if not ok
    ]
    tags = s.get("labels") or [None] * n
    multi = any(t is not None for t in tags)
    if multi:  # per tag: how many readable rows carry it (a row counts for each of its tags)
        labelled = readable & np.array([bool(t) for t in tags])
        counts = Counter(t for row, ok in zip(tags, labelled) if ok for t in row)
    else:
        labelled = readable & np.array([lab is not None for lab in s["label"]])
        counts = Counter(lab for lab, ok in zip(s["label"], labelled) if ok)
    class_counts = {name: counts.get(name, 0) for name in class_names}
    present = [c for c in class_counts.values() if c > 0]
    out: dict[str, Any] = {
        "num_samples": n,
        "num_readable": int(readable.sum()),
        "num_unreadable": len(unreadable),
        "unreadable_rate": _rate(len(unreadable), n),
        "num_labelled": int(labelled.sum()),
        "multi_label": multi,
        "num_classes": len(class_names),
        "class_counts": class_counts,
        "imbalance_ratio": imbalance_ratio(list(class_counts.values())),
        **{t.rate: None for t in issue_types()},
        "leaks": None,
        "leaked_samples": None,
        "similarity_scale": similarity_scale,
    }
    if issues is not None:
        iss = align_rows(issues, s["sample_id"]).to_pydict()

        def flagged(col: str, mask: np.ndarray) -> int:
            return int(sum(bool(v) for v, m in zip(iss[col], mask) if m))

        for issue_type in issue_types():
            # Rows where the type measured nothing (a null in its ``measured_by`` column: e.g. no
            # label scored on unlabelled or one-class data) do not count: with none measured the
            # rate is null, not 0, so a gate on it cannot pass.
            measured = readable.copy()
            if issue_type.measured_by is not None:
                measured &= np.array([v is not None for v in iss[issue_type.measured_by]], dtype=bool)
            if measured.any() or issue_type.measured_by is None:
                out[issue_type.rate] = _rate(flagged(issue_type.flag, measured), int(measured.sum()))
            else:
                out.setdefault("not_measured", {})[issue_type.rate] = issue_type.not_measured
        leaked = [g for g, leak, ok in zip(iss["duplicate_group"], iss["is_leak"], readable) if leak and ok]
        out.update(
            leaks=len({g for g in leaked if g is not None}) + sum(g is None for g in leaked), leaked_samples=len(leaked)
        )
    m = manifest.to_pydict()
    out["actions"] = {a: m["action"].count(a) for a in ACTIONS}
    out["num_training_samples"] = int(sum(1 for w in m["weight"] if w > 0))
    # samples proposed for review that are not trained on until a person decides (the default)
    out["held_back_for_review"] = int(sum(1 for a, w in zip(m["action"], m["weight"]) if a == "review" and w <= 0))
    # What a weighted sampler will see: per-class sampling mass of the final labels. The gate's
    # imbalance_ratio above is the dataset's own; this one shows what rebalancing achieved.
    mass = class_mass(m["label"], m["weight"], m.get("labels"))
    out["weighted_imbalance_ratio"] = imbalance_ratio(list(mass.values()))
    out["unreadable"] = unreadable
    out["warnings"] = plan_warnings(manifest, readable, class_counts)
    highlights: dict[str, Any] = {}
    if present:
        names = list(class_counts)
        largest, smallest = largest_and_smallest(list(class_counts.values()), most=5)
        highlights["largest"] = [{"class_name": names[i], "count": class_counts[names[i]]} for i in largest]
        highlights["smallest"] = [{"class_name": names[i], "count": class_counts[names[i]]} for i in smallest]
    if classes is not None:
        rows = classes.to_pylist()
        noisy = sorted((r for r in rows if r.get("noise_rate") is not None), key=lambda r: -r["noise_rate"])
        highlights["noisiest"] = [{"class_name": r["class_name"], "noise_rate": r["noise_rate"]} for r in noisy[:5]]
        sep = sorted((r for r in rows if r.get("separability") is not None), key=lambda r: r["separability"])
        highlights["least_separable"] = [
            {"class_name": r["class_name"], "nearest_class": r["nearest_class"], "separability": r["separability"]}
            for r in sep[:5]
        ]
    if confusion_pairs:
        highlights["confusion_pairs"] = confusion_pairs[:5]
    out["classes"] = highlights
    out["stages"] = stages
    return out
