"""clip-retrieval's output folder as bring-your-own embeddings (``--embeddings FOLDER``).

``clip-retrieval inference`` writes, per batch of its input, numbered parts that line up row by
row::

    FOLDER/img_emb/img_emb_0.npy        (n0, D) image embeddings
    FOLDER/text_emb/text_emb_0.npy      (n0, D) caption embeddings (when it embedded the text)
    FOLDER/metadata/metadata_0.parquet  n0 rows: image_path, caption, url, ... (what it was given)

Parts are joined by their number, in numeric order (``img_emb_10`` after ``img_emb_9``), and
the rows of each part by position; every part present must have the same number of rows in
each of the three folders.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DataError

IMAGE_FOLDER = "img_emb"
TEXT_FOLDER = "text_emb"
METADATA_FOLDER = "metadata"


@dataclass
class ClipRetrievalOutput:
    """One clip-retrieval output folder, joined by row.

    image:    (N, D) image embeddings as stored (float16 or float32)
    text:     (N, D) caption embeddings, or None when the folder has none
    metadata: N rows of its metadata Parquet, or None when the folder has none
    """

    image: np.ndarray
    text: np.ndarray | None
    metadata: pa.Table | None


def is_clip_retrieval_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with clip-retrieval's ``img_emb/`` of ``.npy`` parts."""
    folder = Path(path) / IMAGE_FOLDER
    return folder.is_dir() and any(folder.glob(f"{IMAGE_FOLDER}_*.npy"))


def _parts(folder: Path, prefix: str, suffix: str) -> dict[int, Path]:
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+){re.escape(suffix)}$")
    found = {}
    for entry in folder.glob(f"{prefix}_*{suffix}") if folder.is_dir() else ():
        match = pattern.match(entry.name)
        if match:
            found[int(match.group(1))] = entry
    return dict(sorted(found.items()))


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{path}: not a plain numeric .npy array ({exc})") from None


def read_clip_retrieval(path: str | os.PathLike[str]) -> ClipRetrievalOutput:
    """Read and join a clip-retrieval output folder (see the module docstring); a part missing
    from one folder, or with another row count there, is a :class:`DataError` naming it."""
    root = Path(path)
    images = _parts(root / IMAGE_FOLDER, IMAGE_FOLDER, ".npy")
    texts = _parts(root / TEXT_FOLDER, TEXT_FOLDER, ".npy")
    metas = _parts(root / METADATA_FOLDER, METADATA_FOLDER, ".parquet")
    if not images:
        raise DataError(f"{root} has no {IMAGE_FOLDER}/{IMAGE_FOLDER}_N.npy parts")
    for name, parts in ((TEXT_FOLDER, texts), (METADATA_FOLDER, metas)):
        if parts and set(parts) != set(images):
            missing = sorted(set(images) ^ set(parts))
            raise DataError(f"{root}: {name}/ and {IMAGE_FOLDER}/ have different parts (e.g. part {missing[0]})")
    image_parts, text_parts, meta_parts = [], [], []
    for number, image_path in images.items():
        image = _load_npy(image_path)
        if image.ndim != 2:
            raise DataError(f"{image_path} is not an N x D array (shape {image.shape})")
        image_parts.append(image)
        if texts:
            text = _load_npy(texts[number])
            if text.shape != image.shape:
                raise DataError(f"{texts[number]} has shape {text.shape}, its image part {image.shape}")
            text_parts.append(text)
        if metas:
            try:
                meta = pq.read_table(metas[number])
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"{metas[number]} is not a readable Parquet file: {exc}") from None
            if meta.num_rows != image.shape[0]:
                raise DataError(f"{metas[number]} has {meta.num_rows} rows, its image part {image.shape[0]}")
            meta_parts.append(meta)
    try:
        metadata = pa.concat_tables(meta_parts, promote_options="default") if meta_parts else None
    except pa.ArrowInvalid as exc:
        raise DataError(f"{root}: the metadata parts have different columns ({exc})") from None
    return ClipRetrievalOutput(
        image=np.concatenate(image_parts),
        text=np.concatenate(text_parts) if text_parts else None,
        metadata=metadata,
    )
