"""The embed stage: samples.parquet -> embeddings/ (reader -> encoder -> writer), timed per step.

The three parts only meet here. The runner plans the work (shards still to do, rows to encode,
the batches) and writes every shard; the encoding itself runs on an engine: this process
(``engine="local"``: DataLoader workers decode, the model encodes here) or a Ray cluster
(``engine="ray"``, :mod:`curate.engine.ray_embed`: the same batches as Ray Data blocks, decoded
by CPU tasks and encoded by an actor per GPU), which yield the same vectors to the same writer.
Where images are decoded (``decode``: CPU workers, or nvJPEG on the GPU) is
:mod:`curate.embed.decode`.
"""

from __future__ import annotations

import contextlib
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
from curate.embed.decode import DECODE_PARAMS, resolve_decode
from curate.engine import ENGINES
from curate.errors import DataError, UsageError
from curate.stages import STAGES
from curate.workspace import Workspace, locked

if TYPE_CHECKING:
    from collections.abc import Generator

    import numpy as np

    from curate.embed.model import LoadedModel, ModelSource
    from curate.embed.reader import SampleRows
    from curate.engine.cluster import ClusterInfo

#: How images are decoded before open_clip's preprocessing on the CPU path (the fingerprint's
#: ``decode`` for ``--decode cpu``; :data:`curate.embed.decode.DECODE_PARAMS` has every mode's).
DECODE = DECODE_PARAMS["cpu"]

#: Samples listed per failure in the summary (the full list is in the shard markers).
MAX_LISTED_FAILURES = 1000


#: the parameters an image's vector depends on: a vector embedded under the same values of these
#: is reused for the same content (:func:`curate.embed.store.reusable_vectors`)
VECTOR_PARAMS = ("model", "decode", "normalize", "dtype")


def embed_params(identity: dict[str, Any], *, shard_size: int, decode: str = "cpu") -> dict[str, Any]:
    """What the embeddings depend on (device, engine, batch size and workers change speed, not
    meaning; ``decode``, ``cpu`` or ``gpu``, changes the pixels)."""
    from curate.embed.text import default_templates, template_texts

    return {
        "model": identity,
        "decode": DECODE_PARAMS[decode],
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
    decode: str = "auto",
    engine: str = "local",
    address: str | None = None,
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

    ``decode``: ``cpu`` (DataLoader workers, libjpeg + PIL), ``gpu`` (JPEGs decoded with nvJPEG
    and resized on the GPU, :mod:`curate.embed.decode`; a :class:`UsageError` without CUDA) or
    ``auto`` (gpu on a CUDA device, else cpu; cpu for a folder embedded with cpu, so its re-runs
    stay incremental). It is part of the fingerprint.

    ``engine``: ``local`` (this process) or ``ray`` (a Ray cluster, :mod:`curate.engine`: at
    ``address`` ``HOST:PORT``, else the ambient cluster or a local one; ``workers`` then caps
    the decode tasks at a time). Both write the same folder; the summary names the engine.
    """
    from curate.embed.model import resolve_source

    if shard_size < 1:
        raise UsageError(f"shard_size must be at least 1, got {shard_size}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise UsageError(f"--workers must be 0 or more, got {workers}")
    if engine not in ENGINES:
        raise UsageError(f"unknown --engine {engine!r}; use one of: {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise UsageError("--address is the Ray cluster's; give it with --engine ray")
    started = time.perf_counter()
    source = resolve_source(model, pretrained)
    options: dict[str, Any] = {
        "decode": decode,
        "batch_size": batch_size,
        "workers": workers,
        "shard_size": shard_size,
        "cache": cache,
        "overwrite": overwrite,
    }
    if engine == "ray":
        from curate.engine.cluster import ray_cluster

        with ray_cluster(address) as cluster:
            return _plan_and_embed(ws, source, cluster.actor_device(device), cluster, started, **options)
    from curate.device import resolve_device

    return _plan_and_embed(ws, source, resolve_device(device), None, started, **options)


def _plan_and_embed(
    ws: Workspace,
    source: ModelSource,
    device: str,
    cluster: ClusterInfo | None,
    started: float,
    *,
    decode: str,
    batch_size: int | None,
    workers: int | None,
    shard_size: int,
    cache: str | Path | None,
    overwrite: bool,
) -> dict[str, Any]:
    """Plan the embeddings folder; embed unless it is up to date. ``device``: resolved (the
    actors' device on a cluster); ``cluster``: None for the local engine."""
    from curate.data import class_names_of

    decode_mode = resolve_decode(decode, device, made_with=_decode_of(ws.path("embeddings")))
    params = embed_params(source.identity, shard_size=shard_size, decode=decode_mode)
    fp, inputs, up_to_date = ws.plan("embeddings", "embed", params, STAGES["embed"].inputs, overwrite=overwrite)
    folder = ws.path("embeddings")
    summary: dict[str, Any] = {
        "stage": "embed",
        "model": source.description,
        "engine": "local" if cluster is None else "ray",
        "decode": decode_mode,
        "up_to_date": False,
        "skipped": False,
    }
    if cluster is not None:
        summary["cluster"] = {
            "address": cluster.address,
            "nodes": cluster.nodes,
            "cpus": cluster.cpus,
            "gpus": cluster.gpus,
        }
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
    samples = ws.read_table("samples")
    rows = readable_rows(samples.select(["sample_id", "path", "member", "source", "hash", "readable"]))
    if len(rows) == 0:
        raise DataError(f"{samples_path} has no readable samples; nothing to embed")
    class_names = class_names_of(samples_path)
    return _embed(
        ws,
        rows,
        class_names,
        _readable_captions(samples),
        source,
        summary,
        fp=fp,
        inputs=inputs,
        params=params,
        device=device,
        cluster=cluster,
        decode=decode_mode,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        cache=cache,
        started=started,
    )


def _readable_captions(samples: Any) -> tuple[list[str], list[str]]:
    """(sample_ids, captions) of the readable samples that have a caption, in file order."""
    from curate.data import sample_captions

    captions = sample_captions(samples)
    if captions is None:
        return [], []
    ids = samples.column("sample_id").to_pylist()
    readable = samples.column("readable").to_pylist()
    pairs = [(sid, c) for sid, c, ok in zip(ids, captions, readable) if ok and c is not None]
    return [sid for sid, _ in pairs], [c for _, c in pairs]


def _decode_of(folder: Path) -> str | None:
    """The decode mode (``cpu``/``gpu``) an existing embeddings folder was made with, if any."""
    from curate.errors import DamagedArtifactError

    try:
        meta = store.read_run_meta(folder)
    except DamagedArtifactError:
        return None
    made_with = (meta or {}).get("params", {}).get("decode")
    return next((mode for mode, value in DECODE_PARAMS.items() if value == made_with), None)


def _encode_local(
    loaded: LoadedModel,
    rows: SampleRows,
    batches: list[list[int]],
    *,
    decode: str,
    workers: int,
    dim: int,
    seconds: dict[str, float],
) -> Generator[tuple[list[int], np.ndarray, list[tuple[int, str]]], None, None]:
    """This process's engine: ``batches`` (row numbers) decoded by DataLoader workers (and, with
    ``decode="gpu"``, on the device one batch ahead) and encoded here, in order, as ``(rows
    embedded, (b, D) float16, failed (row, reason))``; adds decode and encode times to ``seconds``."""
    import numpy as np

    from curate.embed.decode import DevicePrefetcher, TensorPreprocess
    from curate.embed.encoder import ImageEncoder
    from curate.embed.reader import ImageDataset, RawImageDataset, make_loader

    encoder = ImageEncoder(loaded)
    if decode == "gpu":
        raw = make_loader(RawImageDataset(rows), batches, workers=workers, pin_memory=False)
        prefetcher = DevicePrefetcher(raw, TensorPreprocess.for_model(loaded.model, device=loaded.device))
        loader: Any = prefetcher
    else:
        loader = make_loader(
            ImageDataset(rows, loaded.preprocess, image_size=loaded.image_size),
            batches,
            workers=workers,
            pin_memory=loaded.device == "cuda",
        )
        prefetcher = None
    try:
        batches_in = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(batches_in, None)
            if batch is None:
                return
            if batch.fatal is not None:  # the store is unreachable: stop, keeping the finished shards
                raise batch.fatal
            t1 = time.perf_counter()
            seconds["read"] += t1 - t0
            seconds["decode_cpu" if decode == "cpu" else "decode_device"] += batch.decode_seconds
            emb = encoder(batch.images) if batch.images is not None else np.zeros((0, dim), np.float16)
            seconds["encode"] += time.perf_counter() - t1
            yield batch.indices.tolist(), emb, batch.failed
    finally:
        if prefetcher is not None:
            prefetcher.close()


def _embed(
    ws: Workspace,
    rows: SampleRows,
    class_names: list[str],
    captions: tuple[list[str], list[str]],
    source: ModelSource,
    summary: dict[str, Any],
    *,
    fp: str,
    inputs: dict[str, str],
    params: dict[str, Any],
    device: str,
    cluster: ClusterInfo | None,
    decode: str,
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
    from curate.embed.reader import shard_batches
    from curate.embed.text import class_text_embeddings
    from curate.embed.writer import ShardWriter

    t0 = time.perf_counter()
    # on a cluster the actors hold the model on their devices; here it gives the width and the
    # class-name text embeddings, on the CPU
    loaded = load_source(source, device=device if cluster is None else "cpu")
    batch_size = batch_size or (256 if device == "cuda" else 64)
    workers = default_workers() if workers is None and cluster is None else workers
    dim = ImageEncoder(loaded).output_dim(loaded.image_size)
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

    batches = shard_batches([encode for _, encode in work], batch_size)
    # local: waiting for the reader, worker decode time, forward passes; ray: waiting for the
    # cluster's encoded blocks (decode and encode run there)
    seconds = {"load_model": load_s, "write": 0.0}
    if cluster is None:
        seconds.update(read=0.0, decode_cpu=0.0, encode=0.0, **({"decode_device": 0.0} if decode == "gpu" else {}))
    else:
        seconds["cluster"] = 0.0
    encoded: Generator[tuple[list[int], np.ndarray, list[tuple[int, str]]], None, None]
    if cluster is None:
        assert workers is not None
        encoded = _encode_local(loaded, rows, batches, decode=decode, workers=workers, dim=dim, seconds=seconds)
    else:
        from curate.engine.ray_embed import encode_on_ray

        encoded = encode_on_ray(
            rows,
            batches,
            cluster=cluster,
            source=source,
            preprocess=loaded.preprocess,
            image_size=loaded.image_size,
            device=device,
            decode=decode,
            decode_tasks=workers,
        )
    writer = ShardWriter(folder, rows, shard_size=shard_size, dim=dim)
    loop_start = time.perf_counter()
    new_hashes: list[str] = []
    new_vectors: list[np.ndarray] = []
    with progress.bar(total=todo, desc="embed", unit="img") as pbar, contextlib.closing(encoded):
        for taken, encode in work:
            if taken:
                writer.add(taken, vectors[[reused_at[hashes[r]] for r in taken]], [])
            left = len(encode)
            while left:
                t0 = time.perf_counter()
                indices, emb, failed = next(encoded)
                t1 = time.perf_counter()
                if cluster is not None:  # the local engine times its own steps
                    seconds["cluster"] += t1 - t0
                writer.add(indices, emb, failed)
                if cache is not None:
                    keyed = [(i, hashes[r]) for i, r in enumerate(indices) if hashes[r] is not None]
                    new_hashes += [h for _, h in keyed]
                    new_vectors.append(np.asarray(emb)[[i for i, _ in keyed]])
                seconds["write"] += time.perf_counter() - t1
                left -= len(indices) + len(failed)
                pbar.update(len(indices) + len(failed))
    loop_s = time.perf_counter() - loop_start

    t0 = time.perf_counter()
    num_text = 0
    if loaded.has_text_tower and class_names:
        store.write_text_embeddings(folder, class_names, class_text_embeddings(loaded, class_names))
        num_text = len(class_names)
    seconds["text"] = time.perf_counter() - t0
    caption_summary: dict[str, Any] = {}
    if captions[0] and loaded.has_text_tower:
        from curate.embed.captions import embed_captions

        caption_summary = embed_captions(
            loaded, folder, captions[0], captions[1], batch_size=max(batch_size, 256), shared_cache=cache
        )
        seconds["captions"] = caption_summary.pop("seconds")
    elif captions[0]:
        progress.log(f"embed: {loaded.description} has no text tower; the {len(captions[0])} captions are not embedded")
    store.finish_run(folder)
    if cache is not None and new_hashes:
        embedding_cache.add(cache, vector_params, new_hashes, np.concatenate(new_vectors))
    seconds["total"] = time.perf_counter() - started

    failures = store.read_failures(folder)
    summary.update(
        device=device,
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
        **caption_summary,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    return summary
