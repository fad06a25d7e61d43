"""The embed stage's decode and encode steps on a Ray cluster, as Ray Data operators.

The runner (:func:`curate.embed.runner.run_embed`) plans the work exactly as for the local
engine: which shards are still to do, and the rows of each to encode, cut into the same batches
(:func:`curate.embed.reader.shard_batches`). Here each batch becomes one Ray Data block, and:

1. a CPU task per block reads the images and decodes them (on a cluster without GPUs Ray Data
   fuses this step into the CPU encoder actors, one per CPU) (``--decode cpu``: libjpeg + open_clip's
   PIL resize and crop, shipped as uint8 pixels, a quarter of the float32 bytes; ``--decode gpu``:
   the encoded bytes, for the actor to decode with nvJPEG);
2. an actor pool encodes the blocks: one actor per GPU (``num_gpus=1``), or CPU actors on a
   cluster without GPUs; Ray Data restarts an actor that dies and retries its block;
3. the blocks come back to this process in order, where the runner's :class:`ShardWriter` writes
   each shard and its marker as it completes, so a killed run resumes by shard, and the local
   engine reads the result as its own.

Since the blocks are the local engine's batches and the arithmetic is the same (the PIL steps in
the task, ``to_tensor`` + normalise in the actor), a CPU run writes the same vectors as the local
engine's.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.engine.cluster import ClusterInfo, ray_module

if TYPE_CHECKING:
    from curate.embed.model import ModelSource
    from curate.embed.reader import SampleRows

#: An encoded block as the runner consumes it: rows embedded, their (b, D) float16 vectors, and
#: (row, reason) for the rows that failed to decode.
Encoded = tuple[list[int], np.ndarray, list[tuple[int, str]]]


def cpu_actors(cluster: ClusterInfo) -> int:
    """Encoder actors on a cluster without GPUs: one per CPU. Ray Data fuses the decode step into
    CPU actors (same resources), so each of them decodes its block and encodes it, like a
    DataLoader worker that also ran the model; on GPU actors it cannot, and CPU tasks decode."""
    return max(1, int(cluster.cpus))


def decode_block(
    batch: dict[str, np.ndarray], *, decode: str, pil_transform: Any, draft_size: tuple[int, int] | None
) -> dict[str, Any]:
    """One block of rows (``row``, ``path``, ``member``, ``source``) -> ``row``, ``error`` ("" when
    decoded), ``fatal`` (the message of a remote read that failed for good, "" otherwise) and either ``pixels`` (b, H, W, 3) uint8 (``decode="cpu"``: the PIL part of the
    model's transform applied) or ``data`` (the encoded bytes, ``decode="gpu"``)."""
    from curate.index.images import UnreadableImage, decode_rgb, read_bytes
    from curate.index.remote import RemoteReadError

    rows = batch["row"]
    n = len(rows)
    errors = [""] * n
    fatal = [""] * n
    encoded: list[bytes] = [b""] * n
    pixels: list[np.ndarray | None] = [None] * n
    for i in range(n):
        member = batch["member"][i]
        try:
            data = read_bytes(str(batch["path"][i]), None if member is None else str(member), str(batch["source"][i]))
        except RemoteReadError as exc:  # the store is down, not the file bad: the driver ends the run
            errors[i] = fatal[i] = str(exc)
            continue
        except (OSError, KeyError) as exc:
            errors[i] = f"cannot read: {exc}"
            continue
        if decode == "gpu":
            encoded[i] = data
            continue
        try:
            pixels[i] = np.asarray(pil_transform(decode_rgb(data, draft_size=draft_size)), dtype=np.uint8)
        except UnreadableImage as exc:
            errors[i] = str(exc)
        except Exception as exc:  # noqa: BLE001 - any odd image is one failure, not a dead run
            errors[i] = f"preprocessing failed: {type(exc).__name__}: {exc}"
    out: dict[str, Any] = {"row": rows, "error": np.array(errors, dtype=object), "fatal": np.array(fatal, dtype=object)}
    if decode == "gpu":
        out["data"] = np.array(encoded, dtype=object)
    else:
        shape = next((p.shape for p in pixels if p is not None), (1, 1, 3))
        out["pixels"] = np.stack([p if p is not None else np.zeros(shape, np.uint8) for p in pixels])
    return out


class EncodeActor:
    """Holds the model on its device; a decoded block -> ``row``, ``embedding`` (b, D) float16
    (zeros where the row failed) and ``error``."""

    def __init__(self, source: ModelSource, *, device: str, decode: str):
        from curate.embed.decode import TensorPreprocess, split_preprocess
        from curate.embed.encoder import ImageEncoder
        from curate.embed.model import load_source

        loaded = load_source(source, device=device)
        self.encoder = ImageEncoder(loaded)
        self.dim = self.encoder.output_dim(loaded.image_size)
        self.decode = decode
        self.tensor_part = split_preprocess(loaded.preprocess)[1]
        self.prep = TensorPreprocess.for_model(loaded.model, device=loaded.device) if decode == "gpu" else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from curate.embed.decode import RawItem, pixels_to_tensor, preprocess_raw, read_raw

        rows = np.asarray(batch["row"])
        errors = [str(e) for e in batch["error"]]
        out = np.zeros((len(rows), self.dim), np.float16)
        if self.decode == "gpu":
            assert self.prep is not None
            items = [
                read_raw(bytes(data), i) if not errors[i] else RawItem(i, error=errors[i])
                for i, data in enumerate(batch["data"])
            ]
            done, images, failed = preprocess_raw(items, self.prep)
            if images is not None:
                out[done] = self.encoder(images)
            for i, reason in failed:
                errors[i] = reason
        else:
            ok = np.flatnonzero([not e for e in errors])
            if len(ok):
                out[ok] = self.encoder(self.tensor_part(pixels_to_tensor(np.asarray(batch["pixels"])[ok])))
        return {"row": rows, "embedding": out, "error": np.array(errors, dtype=object), "fatal": batch["fatal"]}


@contextlib.contextmanager
def _ordered_quiet_context() -> Iterator[Any]:
    """Ray Data's context for this run: blocks delivered in order (shards complete one after
    another, as the writer needs), no progress bars of its own on stderr."""
    ray = ray_module()
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not even "progress bars disabled"
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    try:
        with warnings.catch_warnings():
            # e.g. "the operator only received 1 input(s)": true of a small dataset, and not the user's to act on
            warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data")
            yield ctx
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved


def encode_on_ray(
    rows: SampleRows,
    batches: Sequence[Sequence[int]],
    *,
    cluster: ClusterInfo,
    source: ModelSource,
    preprocess: Any,
    image_size: tuple[int, int],
    device: str,
    decode: str,
    decode_tasks: int | None = None,
) -> Generator[Encoded, None, None]:
    """Encode ``batches`` (row numbers into ``rows``, the local engine's batches) on the cluster,
    yielding one :data:`Encoded` per batch, in order.

    ``device``: the actors' torch device (``cuda``: one actor per GPU; ``cpu``: :func:`cpu_actors`);
    ``decode``: ``cpu`` or ``gpu`` (resolved); ``decode_tasks``: most decode tasks at a time
    (default: as many as Ray schedules).
    """
    import pyarrow as pa

    from curate.embed.decode import split_preprocess
    from curate.index.remote import RemoteReadError

    ray = ray_module()
    if not batches:
        return
    pil_transform = split_preprocess(preprocess)[0]
    blocks = []
    for batch in batches:
        take = pa.array(batch, pa.int64())
        blocks.append(
            pa.table(
                {
                    "row": take,
                    "path": rows.paths.take(take),
                    "member": rows.members.take(take),
                    "source": rows.sources.take(take),
                }
            )
        )
    gpu = device == "cuda"
    actors = int(cluster.gpus) if gpu else cpu_actors(cluster)
    with _ordered_quiet_context():
        ds = ray.data.from_arrow(blocks)
        ds = ds.map_batches(
            decode_block,
            batch_size=None,  # one block = one of the local engine's batches
            batch_format="numpy",
            fn_kwargs={
                "decode": decode,
                "pil_transform": pil_transform,
                "draft_size": (image_size[1], image_size[0]),
            },
            num_cpus=1,
            **({"concurrency": decode_tasks} if decode_tasks else {}),
        )
        ds = ds.map_batches(
            EncodeActor,
            batch_size=None,
            batch_format="numpy",
            fn_constructor_args=(source,),
            fn_constructor_kwargs={"device": device, "decode": decode},
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=1 if gpu else 0,
            num_cpus=1,
        )
        for block in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            fatal = next((str(f) for f in block["fatal"] if f), None)
            if fatal is not None:  # the store is unreachable: stop, keeping the finished shards
                raise RemoteReadError(fatal)
            block_rows = [int(r) for r in block["row"]]
            errors = [str(e) for e in block["error"]]
            ok = [i for i, e in enumerate(errors) if not e]
            yield (
                [block_rows[i] for i in ok],
                np.asarray(block["embedding"], dtype=np.float16)[ok],
                [(block_rows[i], e) for i, e in enumerate(errors) if e],
            )
