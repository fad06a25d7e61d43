"""The export stage: manifest.parquet (the curated training manifest) and summary.json."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from curate import progress
from curate.config import TRAINING_ACTIONS
from curate.data import class_names_of
from curate.errors import DamagedArtifactError, UsageError
from curate.export.manifest import SINCE_COLUMNS, build_manifest, since_last_scan, summarise
from curate.review.coverage import NOT_MEASURED, review_summary
from curate.schemas import ACTIONS
from curate.stages import ARTIFACTS_WITH_PARAMS, STAGE_ORDER, STAGES
from curate.storage import read_parquet
from curate.timing import read_timings, timed
from curate.workspace import Workspace, locked, write_parquet_atomic, write_text_atomic

#: artifacts whose fingerprints and parameters summary.json records, in chain order.
RECORDED = ARTIFACTS_WITH_PARAMS


def _stage_record(ws: Workspace) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for artifact in RECORDED:
        if ws.exists(artifact):
            meta = ws.record(artifact)
            record[artifact] = {"fingerprint": meta.get("fingerprint"), "params": meta.get("params", {})}
    return record


def label_evidence_summary(measured: dict[str, Any] | None, not_queued: list[dict] | None) -> dict[str, Any] | None:
    """summary.json's ``label_evidence``: what the score stage measured of how well the embedding
    supports the label checks (:meth:`curate.score.noise.evidence.LabelEvidence.as_dict`), and the
    flagged labels the plan left out of the review queue, per class pair (``not_queued``, with
    their total ``num_not_queued``). None when no label was scored."""
    if measured is None:
        return None
    pairs = list(not_queued or [])
    return {**measured, "num_not_queued": sum(int(p["count"]) for p in pairs), "not_queued": pairs}


def _previous_manifest(ws: Workspace) -> pa.Table | None:
    """The manifest this export replaces (its :data:`SINCE_COLUMNS`), read before it is
    overwritten; None when there is none or it is damaged (there is nothing to compare with).
    It is read as is: built from older inputs is what a previous manifest is."""
    if not ws.exists("manifest"):
        return None
    try:
        return read_parquet(ws.path("manifest"), columns=list(SINCE_COLUMNS))
    except DamagedArtifactError as exc:
        progress.log(f"{exc.path} is damaged ({exc.reason}); summary.json will not say what changed since it")
        return None


def timings_before_export(ws: Workspace) -> dict[str, Any]:
    """What the stages before export last cost (:mod:`curate.timing`), in chain order: the
    ``timings`` block of summary.json (export and report run after it is written; ``curate scan
    --json`` has theirs too)."""
    recorded = read_timings(ws)
    order = ["import", *STAGE_ORDER[: STAGE_ORDER.index("export")]]
    return {stage: recorded[stage] for stage in order if stage in recorded}


@locked
@timed("export")
def run_export(
    ws: Workspace,
    *,
    include: tuple[str, ...] | list[str] = TRAINING_ACTIONS,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write manifest.parquet and summary.json (see :mod:`curate.export.manifest`).

    Uses plan.parquet, issues.parquet, classes.parquet and negatives.parquet when present (neutral
    values otherwise); samples.parquet is required. ``include``: actions that keep their weight
    (default keep and relabel: samples awaiting review are held back); the others get weight 0
    but stay listed. Returns the summary dict.
    """
    include = tuple(include)
    bad = [a for a in include if a not in ACTIONS]
    if bad or not include:
        raise UsageError(f"include must name actions among {', '.join(ACTIONS)}; got {', '.join(include) or 'none'}")
    ws.require("samples")
    inputs = STAGES["export"].inputs_present(ws.exists)
    params = {"include": sorted(include)}
    fp, input_fps, fresh = ws.plan("manifest", "export", params, inputs, overwrite=overwrite)
    summary_path = ws.path("summary")
    if fresh and ws.exists("summary"):
        try:
            summary = ws.read_json("summary")
        except DamagedArtifactError as exc:
            progress.log(f"{exc.path} is damaged ({exc.reason}); rebuilding it")
        else:
            summary["up_to_date"] = summary["skipped"] = True
            summary["manifest"] = str(ws.path("manifest"))  # where this workspace is now, even if copied
            return summary
    samples = ws.read_table("samples")
    plan = ws.read_table("plan") if "plan" in inputs else None
    issues = ws.read_table("issues") if "issues" in inputs else None
    classes = ws.read_table("classes") if "classes" in inputs else None
    pairs = ws.record("negatives").get("extra", {}).get("confusion_pairs") if "negatives" in inputs else None
    missing = [a for a in ("plan", "issues") if a not in inputs]
    if missing:
        progress.log(f"export without {' and '.join(missing)}: neutral values in those columns")
    class_names = class_names_of(ws.path("samples"))
    manifest = build_manifest(samples, plan, issues, include=include)
    previous = _previous_manifest(ws)
    write_parquet_atomic(
        ws.path("manifest"),
        manifest,
        fingerprint=fp,
        inputs=input_fps,
        params=params,
        extra={"class_names": class_names},
    )
    scale = ws.record("issues").get("extra", {}).get("similarity_scale") if issues is not None else None
    summary = summarise(
        samples,
        manifest,
        class_names=class_names,
        issues=issues,
        classes=classes,
        confusion_pairs=pairs,
        stages=_stage_record(ws),
        similarity_scale=scale,
    )
    summary["label_evidence"] = label_evidence_summary(
        ws.record("issues").get("extra", {}).get("label_evidence") if issues is not None else None,
        ws.record("plan").get("extra", {}).get("not_queued") if plan is not None else None,
    )
    # the one number `curate check --min-label-evidence` gates on
    summary["label_evidence_strength"] = (summary["label_evidence"] or {}).get("strength")
    if summary["label_evidence_strength"] is None:
        summary.setdefault("not_measured", {})["label_evidence_strength"] = "no label was scored"
    # what the image-defect checks derived from this dataset (curate.score.defects)
    if issues is not None and "image_defects" in ws.record("issues").get("extra", {}):
        summary["image_defects"] = ws.record("issues")["extra"]["image_defects"]
    # the training subset the plan selected (curate.select), null when it selected none
    summary["selection"] = ws.record("plan").get("extra", {}).get("selection") if plan is not None else None
    # how far people have reviewed the proposals (`curate check --max-unreviewed` gates on it)
    summary.update(
        review_summary(samples, plan, ws.record("plan").get("extra", {}).get("review") if plan is not None else None)
    )
    if summary["unreviewed_rate"] is None:
        summary.setdefault("not_measured", {})["unreviewed_rate"] = NOT_MEASURED
    # image-text pairs: what the caption mismatch rule derived, and the caption filters applied
    derived = ws.record("issues").get("extra", {}).get("captions") if issues is not None else None
    if derived and derived.get("num_pairs"):
        filters = ws.record("plan").get("extra", {}).get("caption_filter") if plan is not None else None
        summary["captions"] = {**derived, **({"filter": filters} if filters else {})}
    indexed = ws.record("samples").get("extra", {})
    if indexed.get("changes") is not None:  # what the index that made these samples found changed in DATA
        summary["changes"] = indexed["changes"]
    # every file of DATA the index did not treat as a sample, by extension and reason
    skipped = indexed.get("skipped_files") or []
    summary["num_skipped_files"] = sum(int(group["count"]) for group in skipped)
    summary["skipped_files"] = skipped
    if previous is not None:
        summary["since_last_scan"] = since_last_scan(previous, manifest)
    # relative to the workspace, so a copied or moved workspace does not point at its old place
    summary["manifest"] = ws.path("manifest").name
    summary["timings"] = timings_before_export(ws)
    write_text_atomic(summary_path, json.dumps(summary, indent=2, default=str) + "\n")
    summary["manifest"] = str(ws.path("manifest"))
    summary["up_to_date"] = summary["skipped"] = False
    return summary
