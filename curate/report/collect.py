"""Turn the workspace's tables into what the report page shows, one section at a time.

Every artifact except samples.parquet may be missing (or stale): a section whose inputs are
not there carries a ``missing`` note naming the command that makes them instead of content.
Every list is capped, so a 1M-sample workspace gives a page of the same size as a 10k one:
the page shows samples of each finding, never all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.data import align_rows, class_names_of, imbalance_ratio, largest_and_smallest
from curate.errors import DamagedArtifactError, StaleWorkspaceError
from curate.graph.scale import describe_cut
from curate.issues import IssueType, gates, issue_types
from curate.report.thumbnails import Thumbnails
from curate.workspace import ARTIFACTS, PRODUCER, Workspace

#: rows shown in long lists (unreadable files, classes table) and per-section caps
MAX_UNREADABLE_ROWS = 50
MAX_CLASS_ROWS = 100
MAX_NOISE_BARS = 25
MAX_PAIRS = 15
MAX_GROUP_MEMBERS = 6
MAX_ANCHORS = 6
MAX_NEGATIVES_SHOWN = 6

#: what each missing artifact hides, for the "run X to see Y" notes
SHOWS = {
    "embeddings": "the embedding map",
    "issues": "label issues, duplicates and outliers",
    "classes": "per-class statistics",
    "negatives": "hard negatives",
    "plan": "the proposed rebalancing",
    "summary": "the audit summary",
}


def missing_note(artifact: str, problem: str | None = None) -> str:
    """``run `curate score` to see label issues, ...`` (or why an existing file was not used)."""
    if problem:
        return problem
    return f"{ARTIFACTS[artifact]} is not in this workspace: run `{PRODUCER[artifact]}` to see {SHOWS[artifact]}"


@dataclass
class Inputs:
    """The artifacts a report reads; a table is None when absent or stale (see ``problems``)."""

    samples: pa.Table
    class_names: list[str]
    issues: pa.Table | None = None
    classes: pa.Table | None = None
    negatives: pa.Table | None = None
    plan: pa.Table | None = None
    summary: dict[str, Any] | None = None
    #: what the score stage read from the embedding space (SimilarityScale.as_dict), when recorded
    similarity_scale: dict[str, Any] | None = None
    #: the training subset the plan chose (curate.select.plan.selection_record), when it chose one
    selection: dict[str, Any] | None = None
    embeddings_ready: bool = False
    problems: dict[str, str] = field(default_factory=dict)
    #: files of DATA the index did not treat as samples, by extension and reason
    #: (samples.parquet's ``extra.skipped``: [{extension, reason, count, examples}])
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def note(self, artifact: str) -> str:
        return missing_note(artifact, self.problems.get(artifact))


SAMPLE_COLUMNS = ["sample_id", "path", "member", "source", "label", "split", "readable", "error", "hash"]


def read_inputs(ws: Workspace) -> Inputs:
    """Read samples.parquet (required) and whichever other artifacts exist and are fresh."""
    samples = ws.read_table("samples")
    # image-text pairs' captions too (samples.parquet written before captions were read has none)
    samples = samples.select([c for c in (*SAMPLE_COLUMNS, "caption", "labels") if c in samples.column_names])
    names = class_names_of(ws.path("samples"))
    if not names:
        names = sorted(v for v in pc.unique(samples.column("label")).to_pylist() if v is not None)
    inputs = Inputs(samples=samples, class_names=names)
    inputs.skipped = list(ws.record("samples").get("extra", {}).get("skipped_files") or [])
    for artifact in ("issues", "classes", "negatives", "plan"):
        if not ws.exists(artifact):
            continue
        try:
            setattr(inputs, artifact, ws.read_table(artifact))
            if artifact == "issues":
                inputs.similarity_scale = ws.record("issues").get("extra", {}).get("similarity_scale")
            if artifact == "plan":
                inputs.selection = ws.record("plan").get("extra", {}).get("selection")
        except StaleWorkspaceError as exc:
            inputs.problems[artifact] = f"{exc} (its findings are left out of this report)"
    if ws.exists("embeddings"):
        try:
            ws.check_fresh("embeddings")
            inputs.embeddings_ready = True
        except StaleWorkspaceError as exc:
            inputs.problems["embeddings"] = str(exc)
    if ws.exists("summary"):
        try:
            inputs.summary = ws.read_json("summary")
        except DamagedArtifactError as exc:
            inputs.problems["summary"] = str(exc)
    return inputs


class Lookup:
    """sample_id -> label / split / location, vectorised over samples.parquet (fast at 1M rows)."""

    def __init__(self, samples: pa.Table):
        self.samples = samples
        self.ids = samples.column("sample_id")

    def rows(self, ids: list[str]) -> np.ndarray:
        """Row positions of ``ids`` in samples.parquet; -1 where an id is unknown."""
        pos = pc.index_in(pa.array(ids, type=pa.string()), value_set=self.ids)
        return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def records(self, ids: list[str]) -> list[dict[str, Any]]:
        rows = self.rows(ids)
        known = self.samples.take(pa.array(np.where(rows >= 0, rows, 0)))
        cols = {name: known.column(name).to_pylist() for name in SAMPLE_COLUMNS}
        out = []
        for i, sid in enumerate(ids):
            rec = {name: cols[name][i] for name in SAMPLE_COLUMNS} if rows[i] >= 0 else {"sample_id": sid}
            rec["sample_id"] = sid
            out.append(rec)
        return out

    def thumbnails(self, ids: list[str], thumbs: Thumbnails) -> None:
        """Register the locations of ``ids`` with the thumbnail cache."""
        for rec in self.records(ids):
            if rec.get("path") is not None:
                thumbs.locations[rec["sample_id"]] = (rec["path"], rec.get("member"), rec.get("source") or "folder")


def tile(
    rec: Mapping[str, Any], thumbs: Thumbnails, *, caption: str = "", detail: str = "", badge: str | None = None
) -> dict[str, Any]:
    """One thumbnail (or, without an image, a text tile) with its captions."""
    return {
        "id": rec["sample_id"],
        "uri": thumbs.get(rec["sample_id"]),
        "label": rec.get("label"),
        "split": rec.get("split"),
        "caption": caption,
        "detail": detail,
        "badge": badge,
    }


# --------------------------------------------------------------------------- overview


def _rate(col: pa.ChunkedArray, mask: pa.ChunkedArray | None = None) -> float | None:
    if mask is not None:
        col = col.filter(mask)
    n = len(col)
    return None if n == 0 else float(pc.sum(col.cast(pa.int64())).as_py() or 0) / n


def class_counts(inputs: Inputs) -> np.ndarray:
    """(K,) labelled readable samples per class, in class-list order."""
    s = inputs.samples
    if "labels" in s.column_names and s.column("labels").null_count < s.num_rows:  # multi-label: per tag
        labels = pc.list_flatten(s.column("labels").filter(s.column("readable")))
    else:
        labels = s.column("label").filter(s.column("readable"))
    counts = pc.value_counts(labels.drop_null())
    by_name = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
    return np.array([by_name.get(n, 0) for n in inputs.class_names], dtype=np.int64)


def _status(value: float | None, limit: float | None, kind: str = "", at_least: bool = False) -> str:
    """ok / warn (within a quarter of the limit) / fail against a gate's limit (``at_least``: the
    value must reach it); ``info`` when there is no limit or one nothing can exceed (a share's limit
    of 100%, e.g. ``--max-unreviewed``'s default): amber there would warn about a gate that cannot fail."""
    if value is None:
        return "na"
    if limit is None or (kind == "pct" and limit >= 1.0):
        return "info"
    if at_least:
        return "fail" if value < limit else "ok"
    if value > limit:
        return "fail"
    return "warn" if limit > 0 and value > 0.75 * limit else "ok"


def overview(inputs: Inputs, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Headline numbers, each with its check threshold and a status ok / warn / fail / na."""
    s = inputs.samples
    n = s.num_rows
    readable = s.column("readable")
    summary = inputs.summary or {}
    issues = inputs.issues
    counts = class_counts(inputs)

    if summary.get("unreadable") is not None:
        # written by another stage: take what is there, whatever keys it has
        unreadable = [
            {
                "path": str(u.get("path", u.get("sample_id", ""))) if isinstance(u, dict) else str(u),
                "reason": str(u.get("reason") or u.get("error") or "") if isinstance(u, dict) else "",
            }
            for u in summary["unreadable"][:MAX_UNREADABLE_ROWS]
        ]
        unreadable_total = len(summary["unreadable"])
    else:
        bad = s.filter(pc.invert(readable)).select(["sample_id", "path", "member", "error"])
        unreadable = [
            {
                "sample_id": r["sample_id"],
                "path": r["path"] + (f" :: {r['member']}" if r["member"] else ""),
                "reason": r["error"] or "unreadable",
            }
            for r in bad.slice(0, MAX_UNREADABLE_ROWS).to_pylist()
        ]
        unreadable_total = bad.num_rows

    leaks = None
    if issues is not None:
        leaks = len(pc.unique(issues.filter(issues.column("is_leak")).column("duplicate_group").drop_null()))
    need_issues = (
        missing_note("issues") if issues is None and "issues" not in inputs.problems else inputs.note("issues")
    )
    # What a gate's number is when summary.json lacks it (a workspace not yet exported): measured
    # here from the tables, with the hint shown when even that is impossible.
    fallbacks: dict[str, tuple[Any, str]] = {
        "imbalance_ratio": (imbalance_ratio(counts), "no labelled samples"),
        "unreadable_rate": (unreadable_total / n if n else None, ""),
        "leaks": (leaks, need_issues),
    }
    for issue_type in issue_types():
        if issues is None:
            fallbacks[issue_type.rate] = (None, need_issues)
            continue
        measured = None if issue_type.measured_by is None else pc.is_valid(issues.column(issue_type.measured_by))
        fallbacks[issue_type.rate] = (_rate(issues.column(issue_type.flag), measured), need_issues)
    kinds = {"fraction": "pct", "ratio": "ratio", "count": "count"}
    cards = []
    for g in gates():
        fallback, hint = fallbacks.get(g.summary_key, (None, ""))
        value = summary.get(g.summary_key)
        if value is None:
            value = fallback
        if isinstance(value, list):  # a summary written by another tool may list what it counts
            value = len(value)
        title, key, kind = g.title, g.keyword, kinds[g.kind]
        limit = thresholds.get(key)
        cards.append(
            {
                "title": title,
                "value": _fmt(value, kind),
                "threshold": None if limit is None else f"{'≥' if g.at_least else '≤'} {_fmt(limit, kind)}",
                "option": "--" + key.replace("_", "-"),
                "status": _status(None if value is None else float(value), limit, kind, g.at_least),
                "hint": hint if value is None else "",
            }
        )
        if g.summary_key == "label_issue_rate" and (summary.get("label_evidence") or {}).get("weak"):
            # flags from evidence near chance are not findings: no red card for them
            cards[-1].update(status="info", hint="label evidence near chance: not judged")
    splits = pc.value_counts(s.column("split").drop_null()).to_pylist() if s.column("split").null_count < n else []
    return {
        "num_samples": n,
        "num_readable": int(pc.sum(readable.cast(pa.int64())).as_py() or 0),
        "num_labelled": int(counts.sum()),
        "num_classes": len(inputs.class_names),
        "splits": sorted(((d["values"], d["counts"]) for d in splits), key=lambda t: -t[1]),
        "cards": cards,
        "unreadable": unreadable[:MAX_UNREADABLE_ROWS],
        "unreadable_total": unreadable_total,
        "warnings": [
            str(w.get("message", w)) if isinstance(w, dict) else str(w) for w in summary.get("warnings") or []
        ],
        # what changed since the manifest this export replaced; absent on a first scan
        "since_last_scan": summary.get("since_last_scan"),
        # how far people reviewed the proposals (curate.review.coverage); None without a plan
        "review": summary.get("review"),
        "skipped": inputs.skipped,
        "skipped_total": sum(int(g["count"]) for g in inputs.skipped),
    }


def _fmt(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{100 * float(value):.1f}%"
    if kind == "ratio":
        return f"{float(value):,.1f}×"
    return f"{int(value):,}"


# --------------------------------------------------------------------------- classes


def class_section(inputs: Inputs) -> dict[str, Any]:
    """Class distribution before/after the plan's rebalancing, and the per-class table."""
    from curate.report import charts  # matplotlib: only when a report is drawn

    names = inputs.class_names
    if not names:
        return {"empty": "this dataset has no labels"}
    before = class_counts(inputs)
    after = None
    if inputs.plan is not None:
        p = inputs.plan.filter(pc.is_valid(inputs.plan.column("label")))
        sums = p.group_by("label").aggregate([("weight", "sum")])
        by_name = dict(zip(sums.column("label").to_pylist(), sums.column("weight_sum").to_pylist()))
        after = np.array([by_name.get(n, 0.0) for n in names], dtype=np.float64)
    head, tail = largest_and_smallest(before, most=MAX_NAMED_CLASSES)
    rows = []
    if inputs.classes is not None:
        table = inputs.classes.sort_by([("count", "descending")])
        rows = table.slice(0, MAX_CLASS_ROWS).to_pylist()
    return {
        "chart": charts.class_distribution(names, before, after),
        "log_scale": charts.needs_log_scale(before, after),
        "before": before.tolist(),
        "after": None if after is None else after.tolist(),
        "has_plan": after is not None,
        "plan_note": None if after is not None else inputs.note("plan"),
        "rows": rows,
        "rows_total": 0 if inputs.classes is None else inputs.classes.num_rows,
        "classes_note": None if inputs.classes is not None else inputs.note("classes"),
        "head": [(names[i], int(before[i])) for i in head],
        "tail": [(names[i], int(before[i])) for i in tail],
    }


def selection_section(inputs: Inputs) -> dict[str, Any] | None:
    """The training subset (``curate select``): how many of how many, what was left out and why,
    and every class's selectable samples before and chosen after, largest first; None without one."""
    s = inputs.selection
    if not s:
        return None
    rows = sorted(s["per_class"].items(), key=lambda kv: (-kv[1]["before"], kv[0]))
    return {
        "budget": s["budget"],
        "count": s["num_selected"],
        "selectable": s["num_selectable"],
        "strategy": s["strategy"],
        "seed": s["seed"],
        "left_out": [(tier.replace("_", " "), n) for tier, n in s["left_out"].items() if n],
        "rows": [
            {"class_name": name, "before": c["before"], "after": c["after"], "share": c["after"] / c["before"]}
            for name, c in rows[:MAX_CLASS_ROWS]
            if c["before"]
        ],
        "rows_total": len(rows),
    }


#: example rows the multi-label section lists, lowest label quality first
MAX_TAG_EXAMPLES = 20


def tags_section(inputs: Inputs) -> dict[str, Any] | None:
    """Multi-label data: the tags by frequency (with the tags each co-occurs with and how often
    it is named missing / spurious), the tags most often swapped for one another, and example
    rows with missing or spurious tags, worst first. None for single-label data."""
    s = inputs.samples
    if "labels" not in s.column_names or s.column("labels").null_count == s.num_rows:
        return None
    rows = []
    if inputs.classes is not None and "missing_count" in inputs.classes.column_names:
        rows = inputs.classes.sort_by([("count", "descending")]).slice(0, MAX_CLASS_ROWS).to_pylist()
    confused = sorted(
        (
            (r["class_name"], other, n)
            for r in rows
            for other, n in zip(r.get("confused_with") or [], r.get("confused_counts") or [])
            if r["class_name"] < other
        ),
        key=lambda x: -x[2],
    )[:10]
    examples: list[dict[str, Any]] = []
    issues = inputs.issues
    if issues is not None and "missing_labels" in issues.column_names:
        flagged = issues.filter(pc.fill_null(issues.column("is_label_issue"), False))
        flagged = flagged.sort_by([("label_quality", "ascending")]).slice(0, MAX_TAG_EXAMPLES)
        given = dict(zip(s.column("sample_id").to_pylist(), s.column("labels").to_pylist()))
        for r in flagged.select(["sample_id", "label_quality", "missing_labels", "spurious_labels"]).to_pylist():
            examples.append({**r, "given": given.get(r["sample_id"]) or []})
    return {"rows": rows, "confused": confused, "examples": examples, "num_tags": len(inputs.class_names)}


#: classes the distribution's caption names as largest, and as smallest
MAX_NAMED_CLASSES = 3


# --------------------------------------------------------------------------- label issues


def label_section(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> dict[str, Any]:
    from curate.report import charts  # matplotlib: only when a report is drawn

    issues = inputs.issues
    if issues is None:
        return {"missing": inputs.note("issues")}
    from curate.score.noise.evidence import describe_evidence

    record = (inputs.summary or {}).get("label_evidence")
    weak = bool(record and record.get("weak"))
    flagged = issues.filter(issues.column("is_label_issue"))
    worst = flagged.sort_by([("label_quality", "ascending")]).slice(0, max_thumbnails).to_pylist()
    lookup.thumbnails([r["sample_id"] for r in worst], thumbs)
    records = {r["sample_id"]: r for r in lookup.records([r["sample_id"] for r in worst])}
    tiles = []
    for r in worst:
        rec = {**records[r["sample_id"]], "label": r["label"]}
        # the calibrated probability that the suggestion is right, where the score stage measured it
        conf = r.get("suggestion_probability", r["suggested_confidence"])
        if conf is None:
            conf = r["suggested_confidence"]
        tiles.append(
            tile(
                rec,
                thumbs,
                caption=f"{r['label']} → {r['suggested_label']}",
                detail="evidence near chance: not judged"
                if weak
                else f"{100 * conf:.0f}% likely right · quality {r['label_quality']:.2f}"
                if conf is not None and r["label_quality"] is not None
                else "",
            )
        )

    # noise per class: the score stage's estimate when classes.parquet exists, else the flag rate
    if inputs.classes is not None and inputs.classes.column("noise_rate").null_count < inputs.classes.num_rows:
        c = inputs.classes.filter(pc.is_valid(inputs.classes.column("noise_rate")))
        names, rates = c.column("class_name").to_pylist(), c.column("noise_rate").to_numpy()
        noise_source = "estimated share of wrong labels per class (classes.parquet)"
    else:
        names, rates = _flag_rate_by_label(issues.filter(pc.is_valid(issues.column("label"))))
        noise_source = "share of samples flagged per class"
    order = np.argsort(-np.asarray(rates, dtype=np.float64), kind="stable")[:MAX_NOISE_BARS]
    order = [i for i in order if rates[i] > 0]
    chart = (
        charts.rate_bars([names[i] for i in order], np.asarray(rates)[order], xlabel="label noise (%)")
        if order
        else None
    )
    return {
        "total": flagged.num_rows,
        "tiles": tiles,
        "noise_chart": chart,
        "noise_source": noise_source,
        "pairs": confused_pairs(inputs),
        "evidence": describe_evidence(record),
        "weak": weak,
    }


def _flag_rate_by_label(labelled: pa.Table) -> tuple[list[str], np.ndarray]:
    t = pa.table({"label": labelled.column("label"), "flag": pc.cast(labelled.column("is_label_issue"), pa.float64())})
    g = t.group_by("label").aggregate([("flag", "mean")])
    return g.column("label").to_pylist(), g.column("flag_mean").to_numpy()


def confused_pairs(inputs: Inputs) -> list[dict[str, Any]]:
    """Most confused class pairs (order-free), worst first: from classes.parquet, else from the
    given -> suggested labels of flagged samples.

    classes.parquet's ``confused_counts`` are already both directions of a pair (``cj[a, b] +
    cj[b, a]``), listed under each of the two classes: a pair takes that count once, not summed."""
    pairs: dict[tuple[str, str], int] = {}
    if inputs.classes is not None and inputs.classes.column("confused_with").null_count < inputs.classes.num_rows:
        for r in inputs.classes.select(["class_name", "confused_with", "confused_counts"]).to_pylist():
            for other, n in zip(r["confused_with"] or [], r["confused_counts"] or []):
                if other is None or other == r["class_name"]:
                    continue
                key = tuple(sorted((r["class_name"], other)))
                pairs[key] = max(pairs.get(key, 0), int(n or 0))
    elif inputs.issues is not None:
        f = inputs.issues.filter(inputs.issues.column("is_label_issue"))
        f = f.filter(pc.and_(pc.is_valid(f.column("label")), pc.is_valid(f.column("suggested_label"))))
        g = f.group_by(["label", "suggested_label"]).aggregate([("sample_id", "count")])
        for a, b, n in zip(
            g.column("label").to_pylist(),
            g.column("suggested_label").to_pylist(),
            g.column("sample_id_count").to_pylist(),
        ):
            if a != b:
                key = tuple(sorted((a, b)))
                pairs[key] = pairs.get(key, 0) + n
    top = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PAIRS]
    return [{"a": a, "b": b, "count": n} for (a, b), n in top if n > 0]


# --------------------------------------------------------------------------- duplicates, outliers


def duplicate_section(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> dict[str, Any]:
    issues = inputs.issues
    if issues is None:
        return {"missing": inputs.note("issues")}
    members = issues.filter(pc.is_valid(issues.column("duplicate_group")))
    if members.num_rows == 0:
        return {
            "total_groups": 0,
            "leak_groups": 0,
            "redundant": 0,
            "groups": [],
            "cut": duplicate_cut(inputs.similarity_scale),
        }
    g = members.group_by("duplicate_group").aggregate([("sample_id", "count"), ("is_leak", "max")])
    g = g.sort_by([("is_leak_max", "descending"), ("sample_id_count", "descending"), ("duplicate_group", "ascending")])
    chosen, shown = [], 0
    for r in g.to_pylist():
        if shown >= max_thumbnails:
            break
        chosen.append(r)
        shown += min(r["sample_id_count"], MAX_GROUP_MEMBERS)
    wanted = pa.array([r["duplicate_group"] for r in chosen], type=pa.string())
    rows = members.filter(pc.is_in(members.column("duplicate_group"), value_set=wanted))
    rows = rows.select(
        ["sample_id", "duplicate_group", "duplicate_kind", "duplicate_keep", "is_leak", "label"]
    ).to_pylist()
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        by_group.setdefault(r["duplicate_group"], []).append(r)
    # One list per group, in display order (keeper first, then by id), decides both which records
    # are looked up and which tiles are shown, so every member shown has its record.
    shown_members = {
        gid: sorted(grp, key=lambda m: (not m["duplicate_keep"], m["sample_id"]))[:MAX_GROUP_MEMBERS]
        for gid, grp in by_group.items()
    }
    ids = [m["sample_id"] for mem in shown_members.values() for m in mem]
    lookup.thumbnails(ids, thumbs)
    records = {r["sample_id"]: r for r in lookup.records(ids)}
    groups = []
    for r in chosen:
        mem = shown_members[r["duplicate_group"]]
        kinds = {m["duplicate_kind"] for m in by_group[r["duplicate_group"]] if m["duplicate_kind"]}
        groups.append(
            {
                "id": r["duplicate_group"],
                "size": r["sample_id_count"],
                "leak": bool(r["is_leak_max"]),
                "kind": "/".join(sorted(kinds)) or "duplicate",
                "tiles": [
                    tile(
                        records[m["sample_id"]],
                        thumbs,
                        caption=records[m["sample_id"]].get("label") or m["label"] or "",
                        detail=f"split {records[m['sample_id']].get('split')}"
                        if records[m["sample_id"]].get("split")
                        else "",
                        badge="keep" if m["duplicate_keep"] else None,
                    )
                    for m in mem
                ],
            }
        )
    return {
        "total_groups": g.num_rows,
        "leak_groups": int(pc.sum(pc.cast(g.column("is_leak_max"), pa.int64())).as_py() or 0),
        "redundant": int(pc.sum(pc.cast(issues.column("is_duplicate"), pa.int64())).as_py() or 0),
        "groups": groups,
        "cut": duplicate_cut(inputs.similarity_scale),
    }


def duplicate_cut(scale: Mapping[str, Any] | None) -> str | None:
    """One sentence: the near-duplicate cut and where it came from; None when not recorded."""
    return f"Near duplicates: {describe_cut(scale)}." if scale else None


def issue_sections(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> list[dict[str, Any]]:
    """One section per issue type that asks for the generic one (``IssueType.section``): its
    flagged samples, least clean first by the type's score."""
    sections = [(t, flagged_section(t, inputs, lookup, thumbs, max_thumbnails)) for t in issue_types() if t.section]
    return [s for t, s in sections if s.get("total") or not (t.section and t.section.only_when_flagged)]


def flagged_section(
    issue_type: IssueType, inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int
) -> dict[str, Any]:
    """The flagged samples of one issue type as tiles, the lowest score first."""
    section = issue_type.section
    assert section is not None
    head = {"id": section.anchor, "title": section.title}
    issues = inputs.issues
    if issues is None:
        return {**head, "missing": inputs.note("issues")}
    flagged = issues.filter(pc.fill_null(issues.column(issue_type.flag), False))
    if issue_type.score is not None:
        flagged = flagged.sort_by([(issue_type.score, "ascending"), ("sample_id", "ascending")])
    worst = flagged.slice(0, max_thumbnails).to_pylist()
    ids = [r["sample_id"] for r in worst]
    lookup.thumbnails(ids, thumbs)
    records = {r["sample_id"]: r for r in lookup.records(ids)}
    return {
        **head,
        "lead": section.lead.format(total=f"{flagged.num_rows:,}", shown=len(worst)),
        "total": flagged.num_rows,
        "tiles": [
            tile(records[r["sample_id"]], thumbs, caption=r["label"] or "unlabelled", detail=section.detail.format(**r))
            for r in worst
        ],
    }


# --------------------------------------------------------------------------- review


#: the plan's columns a review control needs (plans written before review have none of them)
REVIEW_COLUMNS = ("proposed_action", "suggested_action", "suggested_label", "reviewed")


def reviewable(inputs: Inputs) -> bool:
    """Whether the page can offer review controls: a plan that says what ``accept`` means."""
    return inputs.plan is not None and all(c in inputs.plan.column_names for c in REVIEW_COLUMNS)


def _outcome(action: str | None, label: str | None) -> str:
    if action == "relabel":
        return f"relabel → {label}"
    return action or ""


def review_severity(issues: pa.Table | None, sample_ids: list[str]) -> np.ndarray:
    """(N,) float64 severity of each sample, 0..1, lower = worse: the lowest score (1 = clean)
    among the issue types that flag it; 1.0 when none flags it or there is no issues table."""
    severity = np.ones(len(sample_ids), dtype=np.float64)
    if issues is None or not sample_ids:
        return severity
    rows = align_rows(issues, sample_ids)
    for issue_type in issue_types():
        if issue_type.score is None or issue_type.score not in rows.column_names:
            continue
        flagged = np.array([bool(v) for v in rows.column(issue_type.flag).to_pylist()])
        scores = np.array([1.0 if v is None else float(v) for v in rows.column(issue_type.score).to_pylist()])
        severity = np.where(flagged, np.minimum(severity, scores), severity)
    return severity


def review_section(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> dict[str, Any]:
    """The review queue: every sample the rules sent to review (``proposed_action`` review), the
    undecided ones first, then the worst first (:func:`review_severity`), with why it is there;
    ``trained_on``: whether the manifest trains on them meanwhile (``--train-on-review``)."""
    if inputs.plan is None:
        return {"missing": inputs.note("plan")}
    if not reviewable(inputs):
        return {"missing": "plan.parquet predates review; re-run `curate propose` to review its proposals here"}
    plan = inputs.plan
    queue = plan.filter(pc.equal(plan.column("proposed_action"), "review"))
    undecided = pc.cast(pc.is_null(queue.column("reviewed")), pa.int8())
    severity = review_severity(inputs.issues, queue.column("sample_id").to_pylist())
    queue = (
        queue.append_column("undecided", undecided)
        .append_column("severity", pa.array(severity))
        .sort_by([("undecided", "descending"), ("severity", "ascending"), ("sample_id", "ascending")])
    )
    shown = queue.slice(0, max_thumbnails).to_pylist()
    ids = [r["sample_id"] for r in shown]
    lookup.thumbnails(ids, thumbs)
    records = {r["sample_id"]: r for r in lookup.records(ids)}
    open_count = int(pc.sum(undecided).as_py() or 0)
    return {
        "total": queue.num_rows,
        "undecided": open_count,
        "trained_on": open_count > 0 and (inputs.summary or {}).get("held_back_for_review") == 0,
        "tiles": [
            tile(
                records[r["sample_id"]],
                thumbs,
                caption=r["original_label"] or "unlabelled",
                detail=(r["reasons"] or [""])[0],
            )
            for r in shown
        ],
    }


def attach_review(context: Mapping[str, Any], inputs: Inputs, lookup: Lookup) -> None:
    """Give every tile of the sections a person reviews (label issues, duplicates, the issue
    types' sections, the review queue) what its review controls need: content hash, given label,
    curate's suggestion (what ``accept`` takes) and any decision already recorded."""
    if not reviewable(inputs):
        return
    tiles = list(context["labels"].get("tiles", []))
    tiles += [t for g in context["duplicates"].get("groups", []) for t in g["tiles"]]
    tiles += [t for sec in context["issue_sections"] for t in sec.get("tiles", [])]
    tiles += list(context["review"].get("tiles", []))
    ids = sorted({t["id"] for t in tiles})
    if not ids:
        return
    plan = inputs.plan
    assert plan is not None
    rows = plan.filter(pc.is_in(plan.column("sample_id"), value_set=pa.array(ids, type=pa.string())))
    by_id = {r["sample_id"]: r for r in rows.to_pylist()}
    hashes = {r["sample_id"]: r.get("hash") for r in lookup.records(ids)}
    for t in tiles:
        r = by_id.get(t["id"])
        if r is None:
            continue
        suggested = r["suggested_action"]
        t["review"] = {
            "hash": hashes.get(t["id"]) or "",
            "given": r["original_label"] or "",
            "suggested_action": suggested or "",
            "suggested_label": (r["suggested_label"] or "") if suggested != "drop" else "",
            "says": f"suggests {_outcome(suggested, r['suggested_label'])}" if suggested else "no suggestion",
            "reviewed": r["reviewed"],
            "now": _outcome(r["action"], r["label"]),
        }


# --------------------------------------------------------------------------- hard negatives


def negatives_section(inputs: Inputs, lookup: Lookup, thumbs: Thumbnails, max_thumbnails: int) -> dict[str, Any]:
    """A few anchors (the hardest, at most one per class) with their nearest other-class samples."""
    neg = inputs.negatives
    if neg is None:
        return {"missing": inputs.note("negatives")}
    neg = neg.filter(pc.greater(pc.list_value_length(neg.column("negative_ids")), 0))
    if neg.num_rows == 0:
        return {"total": 0, "anchors": []}
    hardest = pc.list_element(neg.column("negative_sims"), 0)
    order = pc.sort_indices(pa.table({"h": hardest}), sort_keys=[("h", "descending")])
    per_anchor = max(1, min(MAX_NEGATIVES_SHOWN, max_thumbnails // MAX_ANCHORS - 1))
    candidates = neg.take(order.slice(0, 50 * MAX_ANCHORS)).to_pylist() if max_thumbnails else []
    candidate_labels = [r.get("label") for r in lookup.records([c["sample_id"] for c in candidates])]
    anchors, seen = [], set()
    for c, label in zip(candidates, candidate_labels):
        if label in seen:
            continue
        seen.add(label)
        anchors.append(c)
        if len(anchors) == MAX_ANCHORS or len(anchors) * (per_anchor + 1) >= max_thumbnails:
            break
    ids = [a["sample_id"] for a in anchors] + [n for a in anchors for n in a["negative_ids"][:per_anchor]]
    lookup.thumbnails(ids, thumbs)
    records = {r["sample_id"]: r for r in lookup.records(ids)}
    decimals = cosine_decimals([s for a in anchors for s in a["negative_sims"][:per_anchor]])
    out = []
    for a in anchors:
        out.append(
            {
                "anchor": tile(
                    records[a["sample_id"]], thumbs, caption=records[a["sample_id"]].get("label") or "", badge="anchor"
                ),
                "negatives": [
                    tile(
                        records[nid], thumbs, caption=records[nid].get("label") or "", detail=f"cos {sim:.{decimals}f}"
                    )
                    for nid, sim in zip(a["negative_ids"][:per_anchor], a["negative_sims"][:per_anchor])
                ],
            }
        )
    return {"total": neg.num_rows, "anchors": out}


def cosine_decimals(sims: list[float], *, fewest: int = 2, most: int = 6) -> int:
    """Decimals that show a list of cosines apart from 1: 2 usually, more in a tight space (a
    metric-learning model's negatives at 0.9987 would all read "1.00")."""
    closest = max((abs(float(s)) for s in sims), default=0.0)
    if closest >= 1.0:
        return fewest
    return int(min(most, max(fewest, np.ceil(-np.log10(1.0 - closest)) + 1)))


# --------------------------------------------------------------------------- embedding map


def map_section(
    ws: Workspace, inputs: Inputs, lookup: Lookup, *, max_points: int, method: str, seed: int
) -> dict[str, Any]:
    from curate.report import charts  # matplotlib: only when a report is drawn
    from curate.report.projection import TSNE_MAX_POINTS, project_2d, sample_embeddings

    if not inputs.embeddings_ready:
        return {"missing": inputs.note("embeddings")}
    limit = min(max_points, TSNE_MAX_POINTS) if method == "tsne" else max_points
    ids, emb = sample_embeddings(ws.path("embeddings"), limit, seed=seed)
    if len(ids) < 3:
        return {"missing": "too few embedded samples to draw a map"}
    xy = project_2d(emb, method=method, seed=seed)
    index = {n: i for i, n in enumerate(inputs.class_names)}
    labels = np.array([index.get(r.get("label"), -1) for r in lookup.records(ids)], dtype=np.int64)
    issue_flag = outlier_flag = None
    if inputs.issues is not None:
        pos = pc.index_in(pa.array(ids, type=pa.string()), value_set=inputs.issues.column("sample_id"))
        pos = pos.fill_null(-1).to_numpy(zero_copy_only=False)
        ok = pos >= 0
        issue_flag = np.zeros(len(ids), dtype=bool)
        outlier_flag = np.zeros(len(ids), dtype=bool)
        issue_flag[ok] = inputs.issues.column("is_label_issue").to_numpy(zero_copy_only=False)[pos[ok]]
        outlier_flag[ok] = inputs.issues.column("is_outlier").to_numpy(zero_copy_only=False)[pos[ok]]
    return {
        "chart": charts.embedding_map(
            xy, labels, inputs.class_names, is_label_issue=issue_flag, is_outlier=outlier_flag
        ),
        "points": len(ids),
        "method": "PCA (first two components)" if method == "pca" else "PCA to 50 dimensions, then t-SNE",
    }
