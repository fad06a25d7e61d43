"""The propose stage: plan.parquet from samples, issues and neighbours."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from curate import progress
from curate.data import align_rows, class_names_of
from curate.errors import UsageError
from curate.graph.stage import load_neighbors
from curate.plan.captions import caption_filter
from curate.plan.propose import is_multi_label_table, propose
from curate.plan.rebalance import STRATEGIES
from curate.plan.rules import NOT_QUEUED, OUTLIER_ACTIONS
from curate.review.decisions import gives_unknown_class, match_decisions
from curate.stages import STAGES
from curate.timing import timed
from curate.workspace import Workspace, locked, write_parquet_atomic


@locked
@timed("propose")
def run_propose(
    ws: Workspace,
    *,
    strategy: Literal["none", "inverse", "sqrt", "effective-number", "cap"] = "none",
    cap: int | None = None,
    relabel_threshold: float = 0.95,
    drop_near_duplicates: bool = False,
    outliers: Literal["review", "drop", "keep"] = "review",
    beta: float = 0.999,
    min_caption_score: float | None = None,
    keep_top_fraction: float | None = None,
    select_budget: int | float | None = None,
    select_strategy: str = "default",
    seed: int = 0,
    tag_confidence: float | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write plan.parquet: an action, final label, sampling weight and reasons for every sample.

    Image-text pairs: ``min_caption_score`` drops pairs whose caption score is below it (LAION's
    filter), ``keep_top_fraction`` keeps only that best-scoring share of the pairs (DataComp's);
    :mod:`curate.plan.captions`. What they came to is in the plan's metadata (``caption_filter``).

    Multi-label data: tags named missing / spurious are added / removed (action relabel, reasons
    ``missing_tag:<t>`` / ``spurious_tag:<t>``) when P(present) clears ``tag_confidence`` (a
    removal: 1 - it), else a bar derived per tag (:func:`curate.plan.propose.tag_bars`); otherwise
    the row goes to review. The plan's metadata counts the tags added and removed (``tags_changed``).

    Reads samples.parquet and, when present, issues.parquet, neighbors.parquet and
    decisions.parquet (see :func:`curate.plan.propose.propose` for the rules and how people's
    decisions win over them).

    A training subset (:mod:`curate.select`): ``select_budget`` (an ``int`` count, or a ``float``
    fraction of the selectable samples) picks that many rows with ``select_strategy``
    (:data:`curate.select.strategies.STRATEGIES`) and ``seed``, from the embeddings (then an
    input of the plan); plan.parquet's ``selected`` / ``select_rank`` say which, the others get
    weight 0, and its metadata keeps the record export copies to summary.json (``selection``).
    Without a budget both columns are null and ``select_strategy`` and ``seed`` are not recorded.

    Returns a summary dict; ``review`` says how many decisions were
    applied and which are for samples no longer in the data (also in the plan's metadata, which
    export copies to summary.json).
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    if strategy == "cap" and cap is None:
        raise UsageError("strategy 'cap' needs --cap (the most samples a class keeps)")
    if cap is not None and cap < 1:
        raise UsageError(f"cap must be at least 1, got {cap}")
    if not 0.0 <= relabel_threshold <= 1.0:
        raise UsageError(f"relabel_threshold must be in [0, 1], got {relabel_threshold}")
    if outliers not in OUTLIER_ACTIONS:
        raise UsageError(f"outliers must be one of: {', '.join(OUTLIER_ACTIONS)}; got {outliers!r}")
    if not 0.0 < beta < 1.0:
        raise UsageError(f"beta must be in (0, 1), got {beta}")
    if keep_top_fraction is not None and not 0.0 < keep_top_fraction <= 1.0:
        raise UsageError(f"--keep-top-fraction must be in (0, 1], got {keep_top_fraction}")
    if tag_confidence is not None and not 0.5 <= tag_confidence <= 1.0:
        raise UsageError(f"--tag-confidence is a probability in [0.5, 1], got {tag_confidence}")
    if min_caption_score is not None and not -1.0 <= min_caption_score <= 1.0:
        raise UsageError(f"--min-caption-score is a cosine, in [-1, 1]; got {min_caption_score}")
    selecting = select_budget is not None
    if selecting:
        check_selection(select_budget, select_strategy)
    ws.require("samples")
    # the embeddings are an input only of a plan that selects, so other plans keep their fingerprint
    inputs = [i for i in STAGES["propose"].inputs_present(ws.exists) if i != "embeddings" or selecting]
    if selecting and "embeddings" not in inputs:
        ws.require("embeddings")
    params: dict[str, Any] = {
        "strategy": strategy,
        "cap": cap,
        "relabel_threshold": relabel_threshold,
        "drop_near_duplicates": drop_near_duplicates,
        "outliers": outliers,
        "beta": beta,
    }
    # recorded only when given, so plans made before the caption filters existed stay valid
    for key, value in (
        ("min_caption_score", min_caption_score),
        ("keep_top_fraction", keep_top_fraction),
        ("tag_confidence", tag_confidence),
    ):
        if value is not None:
            params[key] = value
    if selecting:
        params.update(select_budget=select_budget, select_strategy=select_strategy, seed=seed)
    fp, input_fps, fresh = ws.plan("plan", "propose", params, inputs, overwrite=overwrite)
    summary: dict[str, Any] = {
        "stage": "propose",
        "plan": str(ws.path("plan")),
        "up_to_date": fresh,
        "skipped": fresh,
        "used": inputs,
    }
    if fresh:
        return summary
    wanted = ["sample_id", "label", "readable", "error", "hash"]
    if "labels" in ws.read_table("samples").column_names:
        wanted.append("labels")
    samples = ws.read_table("samples", wanted)
    decisions = ws.read_table("decisions") if "decisions" in inputs else None
    issues = ws.read_table("issues") if "issues" in inputs else None
    neighbors = (
        load_neighbors(ws, samples.column("sample_id").to_pylist(), strict=False) if "neighbors" in inputs else None
    )
    if issues is None:
        progress.log("issues.parquet not found: proposing from class counts only (run `curate score` first)")
    filters = None
    if min_caption_score is not None or keep_top_fraction is not None:
        if (
            issues is None
            or "caption_score" not in issues.column_names
            or issues.column("caption_score").null_count == issues.num_rows
        ):
            raise UsageError(
                "--min-caption-score and --keep-top-fraction filter image-text pairs; this data has no caption scores"
            )
        filters = caption_filter(
            issues.column("sample_id").to_pylist(),
            issues.column("caption_score").to_pylist(),
            min_caption_score=min_caption_score,
            keep_top_fraction=keep_top_fraction,
        )
    plan = propose(
        samples,
        issues,
        neighbors,
        class_names=class_names_of(ws.path("samples")),
        strategy=strategy,
        cap=cap,
        relabel_threshold=relabel_threshold,
        drop_near_duplicates=drop_near_duplicates,
        outliers=outliers,
        beta=beta,
        decisions=decisions,
        label_evidence=ws.record("issues").get("extra", {}).get("label_evidence") if issues is not None else None,
        caption_filter=filters,
        tag_confidence=tag_confidence,
    )
    review = decisions_applied(samples, decisions, class_names_of(ws.path("samples")))
    selection = None
    if selecting:
        assert select_budget is not None
        plan, selection = select_in_plan(
            ws, plan, samples, issues, neighbors, budget=select_budget, strategy=select_strategy, seed=seed
        )
    write_parquet_atomic(
        ws.path("plan"),
        plan,
        fingerprint=fp,
        inputs=input_fps,
        params=params,
        extra={
            "review": review,
            "not_queued": not_queued(plan, issues),
            **({"tags_changed": tags_changed(plan)} if is_multi_label_table(samples) else {}),
            **({"caption_filter": filters.as_dict()} if filters is not None else {}),
            **({"selection": selection} if selection is not None else {}),
        },
    )
    actions = Counter(plan.column("action").to_pylist())
    weights = plan.column("weight")
    summary.update(
        actions={a: actions.get(a, 0) for a in ("keep", "drop", "relabel", "review")},
        max_weight=float(pc.max(weights).as_py() or 0.0),
        strategy=strategy,
        review=review,
        selection=selection,
    )
    return summary


def check_selection(budget: Any, strategy: str) -> None:
    """Refuse a selection budget that is not a positive count or a fraction in (0, 1], and an
    unknown strategy (:class:`UsageError`); whether a count fits the data is known only later."""
    from curate.select.strategies import STRATEGIES as SELECT_STRATEGIES

    if strategy not in SELECT_STRATEGIES:
        raise UsageError(f"unknown selection strategy {strategy!r}; choose one of: {', '.join(SELECT_STRATEGIES)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise UsageError(f"the selection budget must be a fraction in (0, 1] or a count of samples, got {budget!r}")
    if isinstance(budget, float) and not 0.0 < budget <= 1.0:
        raise UsageError(f"the selection budget as a fraction must be in (0, 1], got {budget:g}")
    if isinstance(budget, int) and budget < 1:
        raise UsageError(f"the selection budget as a count must be at least 1, got {budget}")


def select_in_plan(
    ws: Workspace,
    plan: pa.Table,
    samples: pa.Table,
    issues: pa.Table | None,
    neighbors: tuple[Any, Any] | None,
    *,
    budget: int | float,
    strategy: str,
    seed: int,
) -> tuple[pa.Table, dict[str, Any]]:
    """The plan with its training subset chosen (:func:`curate.select.plan.apply_selection`) from
    the workspace's embeddings and, when there is one, the neighbour graph (``(idx, sims)``
    aligned with ``samples``' rows, as plan's rows are), and the selection's record."""
    import numpy as np

    from curate.data import load_embedded
    from curate.select.plan import apply_selection, row_tiers

    embedded = load_embedded(ws)
    row_of = {sid: i for i, sid in enumerate(embedded.sample_ids.tolist())}
    ids = plan.column("sample_id").to_pylist()
    rows = np.array([row_of.get(sid, -1) for sid in ids], dtype=np.int64)
    vectors = np.zeros((len(ids), embedded.embeddings.shape[1]), dtype=np.float32)
    vectors[rows >= 0] = embedded.embeddings[rows[rows >= 0]]
    readable = np.array(align_rows(samples, ids).column("readable").to_pylist(), dtype=bool)
    tiers = row_tiers(plan, readable, rows >= 0, issues)
    try:
        nearest = None if neighbors is None or neighbors[0].shape[1] == 0 else np.asarray(neighbors[0])[:, 0]
        return apply_selection(plan, vectors, tiers, budget=budget, strategy=strategy, seed=seed, nearest=nearest)
    except ValueError as exc:
        raise UsageError(f"budget: {exc}") from None


def tags_changed(plan: pa.Table) -> dict[str, int]:
    """How many tags the plan adds and removes (rows whose final tags differ from the given)."""
    added = removed = 0
    for final, given in zip(plan.column("labels").to_pylist(), plan.column("original_labels").to_pylist()):
        if final is not None and given is not None:
            added += len(set(final) - set(given))
            removed += len(set(given) - set(final))
    return {"added": added, "removed": removed}


def not_queued(plan: pa.Table, issues: pa.Table | None) -> list[dict[str, Any]]:
    """The flagged labels the plan keeps out of the review queue (a reason starting ``not queued``),
    counted per (given, suggested) class pair, largest first: ``[{"given", "suggested", "count"}]``."""
    if issues is None:
        return []
    suggested = dict(zip(issues.column("sample_id").to_pylist(), issues.column("suggested_label").to_pylist()))
    counts: Counter[tuple[str, str | None]] = Counter()
    for sid, given, reasons in zip(
        plan.column("sample_id").to_pylist(),
        plan.column("original_label").to_pylist(),
        plan.column("reasons").to_pylist(),
    ):
        if any(r.startswith(NOT_QUEUED) for r in reasons):
            counts[(given, suggested.get(sid))] += 1
    return [{"given": g, "suggested": s, "count": n} for (g, s), n in counts.most_common()]


#: how many of the decisions no sample matches a summary names
MISSING_EXAMPLES = 20


def decisions_applied(
    samples: pa.Table, decisions: pa.Table | None, class_names: list[str] | None = None
) -> dict[str, Any]:
    """``applied``: recorded decisions that found their sample and were applied; ``missing``: how
    many are for content no longer in the data, and ``missing_examples`` (up to
    :data:`MISSING_EXAMPLES`, each the ``sample_id`` it was decided as, its content ``hash`` and
    ``decision``); ``unknown_class``: decisions that found their sample but give it a class the
    data no longer has (``class_names``), not applied. Both kinds are logged: a decision is never
    dropped silently."""
    if decisions is None:
        return {"recorded": 0, "applied": 0, "missing": 0, "missing_examples": [], "unknown_class": 0}
    matched, missing = match_decisions(
        samples.column("sample_id").to_pylist(), samples.column("hash").to_pylist(), decisions
    )
    unknown_class = 0
    if class_names is not None:
        known = set(class_names)
        records = decisions.select(["action", "label"]).to_pylist()
        stale = [records[m] for m in matched[matched >= 0]]
        unknown_class = sum(gives_unknown_class(r, known) for r in stale)
    if unknown_class:
        progress.log(
            f"propose: {unknown_class} recorded decision{'s give' if unknown_class != 1 else ' gives'} a class the "
            "data no longer has; not applied (the plan's reasons say which), kept in decisions.parquet"
        )
    if missing:
        shown = ", ".join(m["sample_id"] for m in missing[:5])
        progress.log(
            f"propose: {len(missing)} recorded decision{'s are' if len(missing) != 1 else ' is'} for samples no "
            f"longer in the data (e.g. {shown}); kept in decisions.parquet in case they come back"
        )
    return {
        "recorded": decisions.num_rows,
        "applied": int((matched >= 0).sum()) - unknown_class,
        "missing": len(missing),
        "unknown_class": unknown_class,
        "missing_examples": [
            {"sample_id": m["sample_id"], "hash": m["hash"], "decision": m["decision"]}
            for m in missing[:MISSING_EXAMPLES]
        ],
    }
