"""``curate scan``: the whole audit chain with defaults, on images or on embeddings a user has."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate import progress
from curate.config import DEFAULT_MODEL, DEFAULT_PRETRAINED
from curate.errors import DataError, UsageError
from curate.pipeline import STAGE_ORDER, stage_function, validate_params
from curate.workspace import Workspace

#: stages that run on embeddings, whatever produced them
POST_EMBEDDING_STAGES: tuple[str, ...] = STAGE_ORDER[2:]


def import_embedding_files(
    ws: Workspace,
    embeddings: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    embedding_column: str | None = None,
    label_column: str | None = None,
    class_names: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Load an N x D array (.npy, or Parquet such as clip-retrieval's) and optional labels
    (.npy, or a column of the embeddings' Parquet) into the workspace."""
    from curate.embed.importer import import_arrays, load_array

    emb = load_array(embeddings, column=embedding_column)
    lab = None
    if labels is not None:
        lab = load_array(labels, column=label_column)
    elif label_column is not None:
        lab = load_array(embeddings, column=label_column)
    import_arrays(ws, emb, lab, class_names=class_names, overwrite=overwrite)
    return {"num_samples": int(emb.shape[0]), "dim": int(emb.shape[1]), "labelled": lab is not None}


def run_scan(
    data: str | Path | None,
    ws: Workspace,
    *,
    embeddings: str | Path | None = None,
    labels: str | Path | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    class_names: list[str] | None = None,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    stage_params: Mapping[str, Mapping[str, Any]] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run index -> embed -> neighbors -> score -> negatives -> propose -> export -> report.

    With ``embeddings`` (and optional ``labels``) the index and embed stages are replaced by an
    import of those arrays. ``stage_params`` sets any stage's keyword parameters by stage name.
    Returns the contents of summary.json. Finding problems in the data is not an error (that is
    ``curate check``'s job); data that cannot be used at all raises :class:`DataError`.
    """
    stage_params = {name: dict(p) for name, p in (stage_params or {}).items()}
    for name, params in stage_params.items():
        validate_params(name, params)
    if (data is None) == (embeddings is None):
        raise UsageError("give either DATA (images) or --embeddings, not both" if data is not None
                         else "give DATA (a folder or manifest of images) or --embeddings E.npy")
    if labels is not None and embeddings is None:
        raise UsageError("--labels goes with --embeddings; image labels come from DATA")
    ws.root.mkdir(parents=True, exist_ok=True)

    if embeddings is not None:
        progress.log(f"importing embeddings from {embeddings}")
        import_embedding_files(ws, embeddings, labels, embedding_column=embedding_column,
                               label_column=label_column, class_names=class_names, overwrite=overwrite)
    else:
        progress.log(f"indexing {data}")
        indexed = stage_function("index")(data, ws, **stage_params.get("index", {}), overwrite=overwrite)
        if indexed.get("num_readable", 0) == 0:
            raise DataError(f"none of the {indexed.get('num_samples', 0)} inputs in {data} is a readable image")
        embed_params = {"model": model, "pretrained": pretrained, "device": device,
                        "batch_size": batch_size, "workers": workers, **stage_params.get("embed", {})}
        progress.log(f"embedding with {embed_params['model']}")
        stage_function("embed")(ws, **embed_params, overwrite=overwrite)

    for name in POST_EMBEDDING_STAGES:
        progress.log(f"running {name}")
        params = dict(stage_params.get(name, {}))
        if name == "neighbors":
            params.setdefault("device", device)
        stage_function(name)(ws, **params, overwrite=overwrite)
    return json.loads(ws.path("summary").read_text())
