"""The report stage: ``report.html``, one self-contained page that explains the dataset.

The page needs no network: CSS and its one script are inline, charts and thumbnails are
``data:`` URIs, and a Content-Security-Policy forbids loading anything else. The script is the
review: a person accepts curate's suggestion, keeps the given label, relabels or drops, tile by
tile or in bulk, and exports the decisions as a CSV or JSON Lines file for ``curate apply``. Only samples.parquet is required; each
other artifact adds its section, and a missing one is named with the command that makes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate import progress
from curate.config import DEFAULT_THRESHOLDS
from curate.errors import StaleWorkspaceError, UsageError
from curate.report import collect
from curate.report.captions import caption_sections
from curate.report.projection import METHODS
from curate.report.thumbnails import Thumbnails
from curate.stages import STAGES
from curate.storage import html_record, params_digest
from curate.timing import timed
from curate.workspace import Workspace, fingerprint, locked, write_text_atomic

DEFAULT_MAX_THUMBNAILS = 48
DEFAULT_MAP_POINTS = 5000

#: artifacts the page is built from (when present)
SOURCES = STAGES["report"].inputs + STAGES["report"].optional_inputs


def resolve_thresholds(thresholds: Mapping[str, float | None] | None) -> dict[str, float]:
    """Defaults from :data:`curate.config.DEFAULT_THRESHOLDS`, overridden by the non-None values
    given; unknown names are a usage error (they are `curate check`'s option names)."""
    from curate.check import check_limit
    from curate.issues import gate

    out = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise UsageError(f"unknown threshold {key!r}; known: {', '.join(DEFAULT_THRESHOLDS)}")
        if value is not None:
            check_limit(gate(key), value)
            out[key] = value
    return out


def _input_fingerprints(ws: Workspace) -> dict[str, str]:
    return {name: fp for name in SOURCES if ws.exists(name) and (fp := ws.fingerprint_of(name))}


@locked
@timed("report")
def run_report(
    ws: Workspace,
    *,
    output: str | Path | None = None,
    max_thumbnails: int = DEFAULT_MAX_THUMBNAILS,
    thresholds: Mapping[str, float | None] | None = None,
    map_method: str = "pca",
    map_points: int = DEFAULT_MAP_POINTS,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the HTML report of a workspace; returns ``{"report": path, "bytes": ..., ...}``.

    output:          where to write (default ``WORKSPACE/report.html``)
    max_thumbnails:  most images in each section (label issues, duplicates, outliers, negatives)
    thresholds:      `curate check` gates by keyword name (``max_label_issues`` ...); None values
                     and absent keys take :data:`curate.config.DEFAULT_THRESHOLDS`
    map_method:      ``pca`` (fast) or ``tsne`` (PCA to 50 then t-SNE on at most 3,000 points)
    map_points:      most embeddings sampled for the map (seeded by ``seed``)

    An existing page made from the same inputs and parameters is kept (``up_to_date``); one made
    from other inputs with the same parameters is redrawn; one made with other parameters is
    replaced only with ``overwrite``.
    """
    if max_thumbnails < 0:
        raise UsageError("max_thumbnails must be 0 or more")
    if map_method not in METHODS:
        raise UsageError(f"map_method must be one of {', '.join(METHODS)}, not {map_method!r}")
    if map_points < 3:
        raise UsageError("map_points must be at least 3")
    limits = resolve_thresholds(thresholds)
    ws.require("samples")
    target = Path(output) if output is not None else ws.path("report")

    params = {
        "max_thumbnails": max_thumbnails,
        "thresholds": limits,
        "map_method": map_method,
        "map_points": map_points,
        "seed": seed,
    }
    # The page names its workspace (heading, the `curate apply` hint, the browser-storage key of its
    # decisions), so a copied or moved workspace gets its page redrawn, not a page naming the old place.
    fp = fingerprint("report", params, {**_input_fingerprints(ws), "workspace": str(ws.root.resolve())})
    if target.exists():
        if target.is_dir():
            raise UsageError(f"{target} is a folder; give a file path for the report")
        existing = html_record(target)
        if existing.get("fingerprint") == fp and not overwrite:
            return _summary(target, up_to_date=True, sections={})
        if not overwrite and existing.get("params_digest") != params_digest(params):
            raise StaleWorkspaceError(f"{target} was made with other parameters; pass --overwrite to replace it")

    inputs = collect.read_inputs(ws)
    lookup = collect.Lookup(inputs.samples)
    thumbs = Thumbnails()
    progress.log("report: collecting sections")
    context: dict[str, Any] = {
        "version": _version(),
        "fingerprint": fp,
        "params_digest": params_digest(params),
        "options_json": json.dumps(params, sort_keys=True),
        "workspace": str(ws.root.resolve()),
        "workspace_name": ws.root.resolve().name,
        "is_array": _is_array(inputs),
        "max_thumbnails": max_thumbnails,
        "overview": collect.overview(inputs, limits),
        "classes": collect.class_section(inputs),
        "selection": collect.selection_section(inputs),
        "tags": collect.tags_section(inputs),
        "labels": collect.label_section(inputs, lookup, thumbs, max_thumbnails),
        "duplicates": collect.duplicate_section(inputs, lookup, thumbs, max_thumbnails),
        "issue_sections": collect.issue_sections(inputs, lookup, thumbs, max_thumbnails)
        + caption_sections(inputs, lookup, thumbs, max_thumbnails),
        "negatives": collect.negatives_section(inputs, lookup, thumbs, max_thumbnails),
        "review": collect.review_section(inputs, lookup, thumbs, max_thumbnails),
        "reviewable": collect.reviewable(inputs),
        "class_names": inputs.class_names,
    }
    collect.attach_review(context, inputs, lookup)
    progress.log(f"report: drawing the embedding map ({map_method})")
    context["embedding_map"] = collect.map_section(
        ws, inputs, lookup, max_points=map_points, method=map_method, seed=seed
    )
    missing = [] if inputs.embeddings_ready else [inputs.note("embeddings")]
    missing += [inputs.note(a) for a in ("issues", "classes", "negatives", "plan") if getattr(inputs, a) is None]
    context["missing_notes"] = missing

    from curate.report.html import render_page

    page = render_page(context)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, page)
    sections = {
        name: "missing" not in context[name]
        for name in ("labels", "duplicates", "negatives", "embedding_map", "review")
    }
    sections.update({s["id"]: "missing" not in s for s in context["issue_sections"]})
    return _summary(
        target, up_to_date=False, sections=sections, thumbnails=thumbs.count, missing=context["missing_notes"]
    )


def _summary(
    target: Path, *, up_to_date: bool, sections: dict[str, bool], thumbnails: int = 0, missing: list[str] | None = None
) -> dict[str, Any]:
    return {
        "report": str(target),
        "bytes": target.stat().st_size,
        "up_to_date": up_to_date,
        "sections": sections,
        "thumbnails": thumbnails,
        "missing": missing or [],
    }


def _is_array(inputs: collect.Inputs) -> bool:
    sources = inputs.samples.column("source")
    return len(sources) > 0 and sources[0].as_py() == "array"


def _version() -> str:
    from curate import __version__

    return __version__
