"""The embed stage: samples.parquet -> embeddings/ (reader -> encoder -> writer), timed per step.

The three parts only meet here, so another engine (Ray Data: the reader as a read, the encoder
as an actor per GPU, the writer as a sink) can drive the same encoder without a rewrite.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate import progress
from curate.config import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    EMBED_SHARD_ROWS,
    default_workers,
)
from curate.embed import store
from curate.errors import DataError, UsageError
from curate.stages import STAGES
from curate.workspace import Workspace, locked

if TYPE_CHECKING:
    from curate.embed.model import ModelSource
    from curate.embed.reader import SampleRows

#: How images are decoded before open_clip's preprocessing; part of the fingerprint because a
#: JPEG decoded at reduced scale gives (slightly) different pixels than a full decode.
DECODE = "curate.index.images.decode_rgb/jpeg-draft-to-input-size"

#: Samples listed per failure in the summary (the full list is in the shard markers).
MAX_LISTED_FAILURES = 1000


#: the parameters an image's vector depends on: a vector embedded under the same values of these
#: is reused for the same content (:func:`curate.embed.store.reusable_vectors`)
VECTOR_PARAMS = ("model", "decode", "normalize", "dtype")


def embed_params(identity: dict[str, Any], *, shard_size: int) -> dict[str, Any]:
    """What the embeddings depend on (device, batch size and workers change speed, not meaning)."""
    from curate.embed.text import default_templates, template_texts

    return {
        "model": identity,
        "decode": DECODE,
        "normalize": True,
        "dtype": "float16",
        "shard_size": shard_size,
        "text_templates": template_texts(default_templates()),
    }


def _failure_list(failures: dict[str, str]) -> list[dict[str, str]]:
    return [{"sample_id": sid, "error": err} for sid, err in list(failures.items())[:MAX_LISTED_FAILURES]]


@locked
def run_embed(
    ws: Workspace,
    *,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    shard_size: int = EMBED_SHARD_ROWS,
    cache: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Embed every readable sample of ``ws`` with a CLIP model into ``ws/embeddings/``.

    Writes (N, D) float16 L2-normalised image embeddings in shards of ``shard_size`` rows, and
    class-name text embeddings (K, D) when the model has a text tower and the data has labels.
    Same fingerprint and complete -> nothing to do; same fingerprint, incomplete -> resumes,
    skipping finished shards; other samples (the data grew or changed), same parameters -> a new
    folder, reusing the vector of every sample whose content hash the old one embedded with the
    same model and preprocessing (:data:`VECTOR_PARAMS`) and encoding only the rest; other
    parameters -> :class:`StaleWorkspaceError` unless ``overwrite``. Samples that fail to decode
    are left out and reported, not fatal.

    ``batch_size`` defaults to 256 on cuda and 64 elsewhere; ``workers`` (decoding processes) to
    the CPU count, at most 8. Returns a JSON-serialisable summary with images/s, the seconds
    spent in each step, and ``images_reused`` / ``images_embedded_now`` (vectors taken over /
    rows encoded by this run).

    ``cache``: a folder shared by several workspaces (:mod:`curate.embed.cache`): vectors it holds
    for the same content, model and preprocessing are taken from it (``images_from_cache``), and
    what this run encodes is added to it. Where the vectors come from never changes them, so the
    cache is not part of the fingerprint.
    """
    from curate.data import class_names_of
    from curate.embed.model import resolve_source

    if shard_size < 1:
        raise UsageError(f"shard_size must be at least 1, got {shard_size}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise UsageError(f"--workers must be 0 or more, got {workers}")
    started = time.perf_counter()
    source = resolve_source(model, pretrained)
    params = embed_params(source.identity, shard_size=shard_size)
    fp, inputs, up_to_date = ws.plan("embeddings", "embed", params, STAGES["embed"].inputs, overwrite=overwrite)
    folder = ws.path("embeddings")
    summary: dict[str, Any] = {"stage": "embed", "model": source.description, "up_to_date": False, "skipped": False}
    if up_to_date and store.is_complete(folder):
        meta = store.read_run_meta(folder) or {}
        failures = store.read_failures(folder)
        text = store.read_text_embeddings(folder)
        summary.update(
            up_to_date=True,
            skipped=True,
            num_samples=int(meta.get("num_rows", 0)),
            num_embedded=int(meta.get("num_rows", 0)) - len(failures),
            num_failed=len(failures),
            failed=_failure_list(failures),
            dim=meta.get("dim"),
            num_shards=meta.get("num_shards"),
            text_embeddings=0 if text is None else len(text[0]),
            seconds={"total": round(time.perf_counter() - started, 3)},
        )
        return summary

    from curate.embed.reader import readable_rows

    samples_path = ws.path("samples")
    rows = readable_rows(
        ws.read_table("samples", columns=["sample_id", "path", "member", "source", "hash", "readable"])
    )
    if len(rows) == 0:
        raise DataError(f"{samples_path} has no readable samples; nothing to embed")
    class_names = class_names_of(samples_path)
    return _embed(
        ws,
        rows,
        class_names,
        source,
        summary,
        fp=fp,
        inputs=inputs,
        params=params,
        device=device,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        cache=cache,
        started=started,
    )


def _embed(
    ws: Workspace,
    rows: SampleRows,
    class_names: list[str],
    source: ModelSource,
    summary: dict[str, Any],
    *,
    fp: str,
    inputs: dict[str, str],
    params: dict[str, Any],
    device: str,
    batch_size: int | None,
    workers: int | None,
    shard_size: int,
    cache: str | Path | None,
    started: float,
) -> dict[str, Any]:
    """Load the model, then read -> encode -> write every shard not yet finished."""
    import numpy as np
    import pyarrow as pa

    from curate.embed import cache as embedding_cache
    from curate.embed.encoder import ImageEncoder
    from curate.embed.model import load_source
    from curate.embed.reader import ImageDataset, make_loader, shard_batches
    from curate.embed.text import class_text_embeddings
    from curate.embed.writer import ShardWriter

    t0 = time.perf_counter()
    loaded = load_source(source, device=device)
    batch_size = batch_size or (256 if loaded.device == "cuda" else 64)
    workers = default_workers() if workers is None else workers
    encoder = ImageEncoder(loaded)
    dim = encoder.output_dim(loaded.image_size)
    load_s = time.perf_counter() - t0

    folder = ws.path("embeddings")
    n = len(rows)
    hashes = rows.hashes.to_pylist()
    vector_params = {k: params[k] for k in VECTOR_PARAMS}
    carried = store.reusable_vectors(folder, vector_params, hashes)
    from_cache = 0
    if cache is not None:
        have = set() if carried is None else set(carried.column("hash").to_pylist())
        cached = embedding_cache.lookup(cache, vector_params, (h for h in hashes if h not in have))
        if cached is not None:
            from_cache = cached.num_rows
            carried = cached if carried is None else pa.concat_tables([carried, cached]).combine_chunks()
    store.start_run(
        folder,
        fingerprint=fp,
        inputs=inputs,
        params=params,
        dim=dim,
        shard_size=shard_size,
        num_rows=n,
        hashes=pa.table({"sample_id": rows.sample_ids, "hash": rows.hashes}),
        carried=carried,
    )
    reused_at: dict[str, int] = {}
    vectors = np.zeros((0, dim), np.float16)
    if carried is not None:
        reused_at = {key: i for i, key in enumerate(carried.column("hash").to_pylist())}
        vectors = store.fixed_list_to_numpy(carried.column("embedding"), np.dtype(np.float16))
    num_shards = max(1, -(-n // shard_size))
    pending = [i for i in range(num_shards) if not store.shard_done(folder, i)]
    if len(pending) < num_shards:
        progress.log(f"resuming: {num_shards - len(pending)} of {num_shards} shards already done")
    # per pending shard: the rows whose vector is taken over, and the rows to encode
    work = []
    for i in pending:
        shard_rows = range(i * shard_size, min((i + 1) * shard_size, n))
        work.append(
            (
                [r for r in shard_rows if hashes[r] in reused_at],
                [r for r in shard_rows if hashes[r] not in reused_at],
            )
        )
    reused = sum(len(taken) for taken, _ in work)
    todo = sum(len(encode) for _, encode in work)
    if reused:
        progress.log(f"embed: {reused} images already embedded (same content and model), {todo} to encode")

    dataset = ImageDataset(rows, loaded.preprocess, image_size=loaded.image_size)
    loader = make_loader(
        dataset,
        shard_batches([encode for _, encode in work], batch_size),
        workers=workers,
        pin_memory=loaded.device == "cuda",
    )
    writer = ShardWriter(folder, rows, shard_size=shard_size, dim=dim)
    seconds = {"load_model": load_s, "read": 0.0, "decode_cpu": 0.0, "encode": 0.0, "write": 0.0}
    loop_start = time.perf_counter()
    new_hashes: list[str] = []
    new_vectors: list[np.ndarray] = []
    with progress.bar(total=todo, desc="embed", unit="img") as pbar:
        batches = iter(loader)
        for taken, encode in work:
            if taken:
                writer.add(taken, vectors[[reused_at[hashes[r]] for r in taken]], [])
            left = len(encode)
            while left:
                t0 = time.perf_counter()
                batch = next(batches)
                if batch.fatal is not None:  # the store is unreachable: stop, keeping the finished shards
                    raise batch.fatal
                t1 = time.perf_counter()
                seconds["read"] += t1 - t0
                seconds["decode_cpu"] += batch.decode_seconds
                emb = encoder(batch.images) if batch.images is not None else np.zeros((0, dim), np.float16)
                t2 = time.perf_counter()
                seconds["encode"] += t2 - t1
                writer.add(batch.indices.tolist(), emb, batch.failed)
                if cache is not None:
                    keyed = [(i, hashes[r]) for i, r in enumerate(batch.indices.tolist()) if hashes[r] is not None]
                    new_hashes += [h for _, h in keyed]
                    new_vectors.append(np.asarray(emb)[[i for i, _ in keyed]])
                seconds["write"] += time.perf_counter() - t2
                left -= len(batch.indices) + len(batch.failed)
                pbar.update(len(batch.indices) + len(batch.failed))
    loop_s = time.perf_counter() - loop_start

    t0 = time.perf_counter()
    num_text = 0
    if loaded.has_text_tower and class_names:
        store.write_text_embeddings(folder, class_names, class_text_embeddings(loaded, class_names))
        num_text = len(class_names)
    seconds["text"] = time.perf_counter() - t0
    store.finish_run(folder)
    if cache is not None and new_hashes:
        embedding_cache.add(cache, vector_params, new_hashes, np.concatenate(new_vectors))
    seconds["total"] = time.perf_counter() - started

    failures = store.read_failures(folder)
    summary.update(
        device=loaded.device,
        batch_size=batch_size,
        workers=workers,
        num_samples=n,
        num_embedded=n - len(failures),
        num_failed=len(failures),
        failed=_failure_list(failures),
        dim=dim,
        num_shards=num_shards,
        shards_resumed=num_shards - len(pending),
        text_embeddings=num_text,
        images_reused=reused,
        images_from_cache=from_cache,
        images_embedded_now=todo,
        images_per_s=round(todo / loop_s, 2) if loop_s > 0 else None,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    return summary
