"""Caption embeddings: each image-text pair's caption through the same model's text tower.

The embed stage calls :func:`embed_captions` after the image shards: captions are keyed by their
text (:func:`caption_key`), so a caption shared by many images (the same alt-text on thousands
of them) is encoded once, and a re-run or a resumed run encodes only texts it has not seen.
Encoded vectors go into ``embeddings/caption-cache/`` chunk by chunk (the layout of
:mod:`curate.embed.cache`, keyed by the model), so an interrupted run keeps what it finished; the
folder's ``captions.parquet`` (one row per captioned sample) is written at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate import progress
from curate.embed.encoder import autocast_dtype
from curate.embed.model import LoadedModel

#: captions per chunk added to the caption cache: the unit of resumption
CAPTION_CHUNK = 8192


def caption_key(text: str) -> str:
    """blake2b-128 hex of a caption's UTF-8 text: what its vector is cached by."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def caption_params(identity: Mapping[str, Any]) -> dict[str, Any]:
    """What a caption vector depends on: the model (its text tower and tokenizer), and that it is
    a caption, not an image, so the two never share a cache key."""
    return {"model": dict(identity), "text": "caption", "normalize": True, "dtype": "float16"}


class TextEncoder:
    """Runs the text tower. ``encoder(texts: list[str]) -> (n, D) float16``, unit rows; texts
    longer than the model's context are truncated by its tokenizer."""

    def __init__(self, loaded: LoadedModel):
        if not loaded.has_text_tower:
            raise ValueError(f"{loaded.description} has no text tower to embed captions with")
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.dtype = autocast_dtype(self.device)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        precision = (
            torch.autocast(device_type=self.device, dtype=self.dtype)
            if self.dtype is not None
            else contextlib.nullcontext()
        )
        tokens = self.tokenizer(list(texts))
        with torch.inference_mode(), precision:
            features = self.model.encode_text(tokens.to(self.device), normalize=True)
        return features.float().cpu().numpy().astype(np.float16)


def embed_captions(
    loaded: LoadedModel,
    folder: Path,
    sample_ids: Sequence[str],
    captions: Sequence[str],
    *,
    batch_size: int,
    shared_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Write ``folder/captions.parquet``: ``captions[i]`` (str) of ``sample_ids[i]`` embedded with
    ``loaded``'s text tower, (M, D) float16, L2-normalised.

    Texts already in ``folder``'s caption cache (or ``shared_cache``, a ``--cache`` folder) are
    taken from it; the rest are encoded in chunks of :data:`CAPTION_CHUNK` texts, each added to
    the folder's cache (and ``shared_cache``) as it finishes. Returns ``captions``,
    ``caption_texts`` (distinct), ``captions_embedded_now``, ``captions_reused`` (distinct texts
    taken from a cache), ``captions_per_s`` and ``seconds``.
    """
    from curate.embed import cache as vector_cache
    from curate.embed import store

    started = time.perf_counter()
    params = caption_params(loaded.identity)
    local = folder / store.CAPTION_CACHE
    keys = [caption_key(c) for c in captions]
    text_of = dict(zip(keys, captions))
    found: dict[str, np.ndarray] = {}
    for root in (local, shared_cache):
        if root is None:
            continue
        table = vector_cache.lookup(root, params, (k for k in text_of if k not in found))
        if table is not None:
            vectors = store.fixed_list_to_numpy(table.column("embedding"), np.dtype(np.float16))
            found.update(zip(table.column("hash").to_pylist(), vectors))
    reused = len(found)
    todo = [k for k in text_of if k not in found]
    if reused:
        progress.log(f"embed: {reused} caption texts already embedded, {len(todo)} to encode")
    encoder = TextEncoder(loaded)
    t0 = time.perf_counter()
    with progress.bar(total=len(todo), desc="captions", unit="text") as bar:
        for start in range(0, len(todo), CAPTION_CHUNK):
            chunk = todo[start : start + CAPTION_CHUNK]
            parts = []
            for b in range(0, len(chunk), batch_size):
                batch = chunk[b : b + batch_size]
                parts.append(encoder([text_of[k] for k in batch]))
                bar.update(len(batch))
            vectors = np.concatenate(parts)
            vector_cache.add(local, params, chunk, vectors)
            if shared_cache is not None:
                vector_cache.add(shared_cache, params, chunk, vectors)
            found.update(zip(chunk, vectors))
    encode_s = time.perf_counter() - t0
    if keys:
        store.write_caption_embeddings(folder, list(sample_ids), np.stack([found[k] for k in keys]))
    else:
        (folder / store.CAPTIONS).unlink(missing_ok=True)
    return {
        "captions": len(keys),
        "caption_texts": len(text_of),
        "captions_embedded_now": len(todo),
        "captions_reused": reused,
        "captions_per_s": round(len(todo) / encode_s, 2) if todo and encode_s > 0 else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
