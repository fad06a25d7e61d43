"""The in-memory view every stage after embedding works on.

:func:`load_embedded` joins ``samples.parquet`` and ``embeddings/`` on ``sample_id`` and
returns aligned arrays. Stages take arrays (data positional, options keyword-only) so tests and
library users can call them without a workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.errors import DamagedArtifactError, DataError
from curate.workspace import Workspace, read_meta

UNLABELLED = -1


@dataclass
class Embedded:
    """Readable, embedded samples, row-aligned.

    sample_ids:       (N,) object array of str
    embeddings:       (N, D) float32, L2-normalised
    labels:           (N,) int64 index into ``class_names``; -1 where unlabelled
    class_names:      list of K class names
    splits:           (N,) object array of str or None; None when the data has no splits
    hashes:           (N,) object array of content hashes (str) or None (array inputs)
    text_embeddings:  (K, D) float32 class-name embeddings aligned with ``class_names``, or None
    norms:            (N,) float32 length of each imported vector before normalisation, when the
                      imported features were not unit length (``embeddings * norms[:, None]`` are
                      the features as given); None for CLIP embeddings and unit-length imports
    captions:         (N,) object array of each image's caption (str) or None; None when no sample
                      has one (image-text pairs only)
    caption_embeddings: (N, D) float32, row i the L2-normalised embedding of sample i's caption in
                      the image embeddings' space (its text, or an imported text embedding), zeros
                      where a sample has none; None when no caption was embedded
    tags:             (N, K) bool multi-hot over ``class_names`` (the tags) for multi-label data
                      (``labels`` is then all -1); None for single-label data
    """

    sample_ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    splits: np.ndarray | None = None
    hashes: np.ndarray | None = None
    text_embeddings: np.ndarray | None = None
    norms: np.ndarray | None = None
    captions: np.ndarray | None = None
    caption_embeddings: np.ndarray | None = None
    tags: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_labels(self) -> bool:
        return bool((self.labels >= 0).any())

    @property
    def multi_label(self) -> bool:
        return self.tags is not None


def is_multi_label(samples_path) -> bool:
    """Whether samples.parquet holds multi-label data (its rows' tags in ``labels``)."""
    return bool(read_meta(samples_path).get("extra", {}).get("multi_label"))


def encode_tags(tag_lists: pa.ChunkedArray | list, class_names: list[str]) -> np.ndarray:
    """Per-row tag lists (None or [] for no tag) -> (N, K) bool multi-hot over ``class_names``."""
    index = {name: i for i, name in enumerate(class_names)}
    values = tag_lists.to_pylist() if hasattr(tag_lists, "to_pylist") else list(tag_lists)
    hot = np.zeros((len(values), len(class_names)), dtype=bool)
    for row, tags in enumerate(values):
        for tag in tags or ():
            try:
                hot[row, index[tag]] = True
            except KeyError:
                raise DataError(f"tag {tag!r} is not in the recorded tag list") from None
    return hot


def tag_lists(hot: np.ndarray, class_names: list[str]) -> list[list[str]]:
    """(N, K) bool multi-hot -> each row's tags in ``class_names`` order."""
    names = np.array(class_names, dtype=object)
    return [names[row].tolist() for row in np.asarray(hot, dtype=bool)]


def class_names_of(samples_path) -> list[str]:
    """Class list recorded in samples.parquet metadata (order = label index)."""
    return list(read_meta(samples_path).get("extra", {}).get("class_names", []))


def sample_captions(samples: pa.Table) -> list[str | None] | None:
    """The ``caption`` of every row of a samples table, or None when no row has one (data
    without captions, or a samples.parquet written before captions were read)."""
    if "caption" not in samples.column_names or samples.column("caption").null_count == samples.num_rows:
        return None
    return samples.column("caption").to_pylist()


def imbalance_ratio(counts) -> float | None:
    """Largest / smallest class size over the classes that have a sample (1.0 for one class).

    counts: per-class sizes (or sampling masses), any sequence of numbers. None when no class has
    a sample: there is no ratio to report, and ``curate check`` fails a gate on a missing number
    rather than passing an imbalance it could not measure.
    """
    values = np.asarray(counts, dtype=np.float64)
    present = values[values > 0]
    return float(present.max() / present.min()) if present.size else None


def largest_and_smallest(counts, *, most: int) -> tuple[list[int], list[int]]:
    """Indices of the largest classes (largest first) and of the smallest (smallest first), at most
    ``most`` each, and never one class in both: of K classes with samples each list names at most
    K // 2 (with 3 classes, one each; with one class, neither). counts: (K,) sizes."""
    values = np.asarray(counts, dtype=np.float64)
    present = [int(i) for i in np.argsort(-values, kind="stable") if values[i] > 0]
    k = min(most, len(present) // 2)
    return present[:k], present[::-1][:k]


def encode_labels(labels: pa.ChunkedArray | list, class_names: list[str]) -> np.ndarray:
    """Label strings (None for unlabelled) -> (N,) int64 indices into ``class_names``, -1 for None."""
    index = {name: i for i, name in enumerate(class_names)}
    values = labels.to_pylist() if hasattr(labels, "to_pylist") else list(labels)
    try:
        return np.array([UNLABELLED if v is None else index[v] for v in values], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"label {exc.args[0]!r} is not in the recorded class list") from None


def load_embedded(ws: Workspace) -> Embedded:
    """Load every readable, embedded sample of a workspace (checks both artifacts are fresh)."""
    from curate.embed.store import read_caption_embeddings, read_embeddings, read_norms, read_text_embeddings

    samples = ws.read_table("samples")
    ws.check_fresh("embeddings")
    with ws.reading("embeddings"):
        ids, emb = read_embeddings(ws.path("embeddings"))
        text = read_text_embeddings(ws.path("embeddings"))
        stored_norms = read_norms(ws.path("embeddings"))
        stored_captions = read_caption_embeddings(ws.path("embeddings"))
    class_names = class_names_of(ws.path("samples"))

    row_of = {sid: i for i, sid in enumerate(samples.column("sample_id").to_pylist())}
    try:
        rows = np.fromiter((row_of[s] for s in ids), dtype=np.int64, count=len(ids))
    except KeyError as exc:
        raise DataError(
            f"embeddings/ holds sample {exc.args[0]!r} that samples.parquet does not; re-run `curate embed --overwrite`"
        ) from None
    taken = samples.take(pa.array(rows))
    labels = encode_labels(taken.column("label"), class_names)
    tags = None
    if is_multi_label(ws.path("samples")) and "labels" in taken.column_names:
        tags = encode_tags(taken.column("labels"), class_names)
    splits_col = taken.column("split")
    splits = None if splits_col.null_count == len(taken) else np.array(splits_col.to_pylist(), dtype=object)
    hash_col = taken.column("hash")
    hashes = None if hash_col.null_count == len(taken) else np.array(hash_col.to_pylist(), dtype=object)

    text_emb = None
    if text is not None and class_names:
        names, vectors = text
        pos = {n: i for i, n in enumerate(names)}
        if all(n in pos for n in class_names):
            text_emb = vectors[[pos[n] for n in class_names]]
    norms = None
    if stored_norms is not None:
        norm_ids, norm_values = stored_norms
        if norm_ids != ids:  # written in row order by the import; join by id otherwise
            norm_of = dict(zip(norm_ids, norm_values.tolist()))
            missing = [s for s in ids if s not in norm_of]
            if missing:
                raise DamagedArtifactError(
                    ws.path("embeddings") / "norms.parquet",
                    f"no length for sample {missing[0]!r}",
                    "re-run the import with --overwrite",
                )
            norm_values = np.array([norm_of[s] for s in ids], dtype=np.float32)
        norms = norm_values
    captions = sample_captions(taken)
    caption_emb = None
    if stored_captions is not None:
        caption_ids, caption_vectors = stored_captions
        row_in = {sid: i for i, sid in enumerate(ids)}
        at = [(row_in[sid], j) for j, sid in enumerate(caption_ids) if sid in row_in]
        if at and caption_vectors.shape[1] == emb.shape[1]:
            rows_at, from_at = (np.array(x, dtype=np.int64) for x in zip(*at))
            caption_emb = np.zeros(emb.shape, dtype=np.float32)
            caption_emb[rows_at] = caption_vectors[from_at]
    return Embedded(
        sample_ids=np.array(ids, dtype=object),
        embeddings=emb,
        labels=labels,
        class_names=class_names,
        splits=splits,
        hashes=hashes,
        text_embeddings=text_emb,
        norms=norms,
        captions=None if captions is None else np.array(captions, dtype=object),
        caption_embeddings=caption_emb,
        tags=tags,
    )


def align_rows(table: pa.Table, sample_ids) -> pa.Table:
    """Rows of ``table`` (keyed by ``sample_id``) in the order of ``sample_ids``.

    Ids missing from ``table`` give all-null rows, so callers decide what "not scored" means.
    Tables join on ``sample_id``, never on row order (docs/architecture.md).
    """
    import pyarrow.compute as pc

    wanted = pa.array(list(sample_ids), type=pa.string())
    rows = pc.index_in(wanted, value_set=table.column("sample_id").combine_chunks())
    return table.take(rows)


def list_columns_to_arrays(
    table: pa.Table, sample_ids, ids_column: str, sims_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """A table of per-sample id lists (neighbours, negatives) as padded arrays aligned with ``sample_ids``.

    Returns ``(idx (N, k) int64, sims (N, k) float32)``: ``idx`` are row positions into
    ``sample_ids`` in the stored order; -1 / -inf pad short rows and ids not among ``sample_ids``.
    """
    import pyarrow.compute as pc

    table = align_rows(table, sample_ids)
    n = len(sample_ids)
    ids_col = table.column(ids_column).combine_chunks()
    sims_col = table.column(sims_column).combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(ids_col), 0).to_numpy()
    k = int(lengths.max()) if n else 0
    idx = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    if k == 0:
        return idx, sims
    flat_pos = pc.index_in(pc.list_flatten(ids_col), value_set=pa.array(list(sample_ids), type=pa.string()))
    flat_pos = pc.fill_null(flat_pos, -1).to_numpy().astype(np.int64)
    flat_sims = pc.list_flatten(sims_col).to_numpy(zero_copy_only=False).astype(np.float32)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx[rows, cols] = flat_pos
    sims[rows, cols] = np.where(flat_pos >= 0, flat_sims, -np.inf)
    return idx, sims
