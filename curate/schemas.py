"""Every Arrow schema curate writes, in one place.

Each workspace table is keyed by ``sample_id`` (string, stable across re-runs of the same data);
tables join on it, never on row order. Nullable columns are nullable because a stage that has
not run (or data without labels) leaves them empty, not because they are optional in meaning.
"""

from __future__ import annotations

import pyarrow as pa

SAMPLE_ID = pa.field("sample_id", pa.string(), nullable=False)

#: size, mtime and ctime (ns) of a file: equal only when it was not written, touched or replaced
FILE_STAT = pa.struct([("size", pa.int64()), ("mtime_ns", pa.int64()), ("ctime_ns", pa.int64())])

#: what the image-defect checks read of a picture, measured from the index's one decode
#: (curate.index.properties.measure); null for unreadable samples and array inputs
IMAGE_STATS = pa.struct(
    [
        ("brightness_p05", pa.float32()),  # percentiles of perceived brightness, 0..1
        ("brightness_p50", pa.float32()),
        ("brightness_p99", pa.float32()),
        ("contrast", pa.float32()),  # standard deviation of the grayscale, 0..1
        ("entropy", pa.float32()),  # bits of the 256-bin grayscale histogram, 0..8
        ("sharpness", pa.float32()),  # RMS Laplacian / RMS gradient of the grayscale thumbnail
        ("colourfulness", pa.float32()),  # mean max - min channel, 0..1 (0 = grayscale)
        ("pixel_digest", pa.string()),  # equal for pixel-identical images in any format
        ("phash", pa.int64()),  # 64-bit DCT perceptual hash
    ]
)

#: samples.parquet — one row per input sample, readable or not.

SAMPLES = pa.schema(
    [
        SAMPLE_ID,
        pa.field("path", pa.string(), nullable=False),  # image file, or the container (tar/parquet)
        pa.field("member", pa.string()),  # tar member name / parquet "row:<i>", null for plain files
        pa.field("source", pa.string(), nullable=False),  # folder | manifest | parquet | webdataset | array
        pa.field("label", pa.string()),  # class name; null when unlabelled
        pa.field("split", pa.string()),  # train / val / test ...; null when not split
        pa.field("caption", pa.string()),  # the image's text (alt-text, caption); null when none
        pa.field("size_bytes", pa.int64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("hash", pa.string()),  # blake2b-128 hex of the encoded bytes (exact duplicates)
        pa.field("readable", pa.bool_(), nullable=False),
        pa.field("error", pa.string()),  # why it is unreadable; null when readable
        pa.field("image_stats", IMAGE_STATS),  # what the image-defect checks read; null if unreadable
        # the file at `path` (image or container) when indexed; a re-index reuses the row of a
        # file whose stat is unchanged without decoding it. Null for array inputs.
        pa.field("file_stat", FILE_STAT),
        # multi-label data: the sample's tags, sorted (an empty list: no tag; `label` is then
        # null); null for single-label data (curate.index.tags)
        pa.field("labels", pa.list_(pa.string())),
    ]
)


#: value types an embedding shard may store: float16 for what an encoder produces (its own
#: precision on a GPU), float32 for imported arrays, whose cosines can differ in the 4th decimal
#: (a metric-learning space puts near-duplicates within 1e-3 of its typical neighbours)
EMBEDDING_PRECISIONS = {"float16": pa.float16(), "float32": pa.float32()}


def embedding_shard_schema(dim: int, precision: str = "float16") -> pa.Schema:
    """embeddings/part-NNNNN.parquet — L2-normalised embeddings, float16 or float32."""
    return pa.schema([SAMPLE_ID, pa.field("embedding", pa.list_(EMBEDDING_PRECISIONS[precision], dim), nullable=False)])


def text_embedding_schema(dim: int) -> pa.Schema:
    """embeddings/text.parquet — one prompt-ensembled, L2-normalised embedding per class name."""
    return pa.schema(
        [
            pa.field("class_name", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


#: embeddings/norms.parquet — the length each imported vector had before it was L2-normalised,
#: written only when the given vectors were not unit length (features, not embeddings: their
#: length is information the label scorer's Euclidean vote uses).
NORMS = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("norm", pa.float32(), nullable=False),
    ]
)


#: neighbors.parquet — k nearest neighbours of every embedded sample (cosine, self excluded).
NEIGHBORS = pa.schema(
    [
        SAMPLE_ID,
        pa.field("neighbor_ids", pa.list_(pa.string()), nullable=False),
        pa.field("neighbor_sims", pa.list_(pa.float32()), nullable=False),
    ]
)

#: `curate noise --pred-probs` output (a contract, docs/architecture.md); also the label part of issues.parquet.
NOISE = pa.schema(
    [
        SAMPLE_ID,
        pa.field("label_quality", pa.float32(), nullable=False),
        pa.field("is_label_issue", pa.bool_(), nullable=False),
        pa.field("suggested_label", pa.int64(), nullable=False),
        pa.field("suggested_confidence", pa.float32(), nullable=False),
    ]
)

#: Arrow types of the issue types' column type names (curate.issues.base.Column).
_ARROW_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "list<string>": pa.list_(pa.string()),
    "list<float32>": pa.list_(pa.float32()),
}


def issues_schema() -> pa.Schema:
    """issues.parquet — per-sample findings of the score stage: ``sample_id``, ``label``, then every
    registered issue type's columns in order (:func:`curate.issues.issue_types`)."""
    from curate.issues import issue_types

    fields = [SAMPLE_ID, pa.field("label", pa.string())]
    for issue_type in issue_types():
        fields += [pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.nullable) for c in issue_type.columns]
    return pa.schema(fields)


ISSUES = issues_schema()

#: classes.parquet — per-class statistics.
CLASSES = pa.schema(
    [
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("share", pa.float64(), nullable=False),
        pa.field("effective_count", pa.float64()),  # effective number of samples (Cui et al. 2019)
        pa.field("dedup_count", pa.int64()),  # count after removing redundant duplicates
        pa.field("spread", pa.float64()),  # mean cosine distance to the class centroid
        pa.field("num_subclusters", pa.int32()),
        pa.field("nearest_class", pa.string()),
        pa.field("separability", pa.float64()),  # 0..1, 1 = well separated from nearest class
        pa.field("noise_rate", pa.float64()),  # estimated share of wrong labels
        pa.field("label_issues", pa.int64()),
        pa.field("confused_with", pa.list_(pa.string())),  # most confused classes, worst first
        pa.field("confused_counts", pa.list_(pa.int64())),
        # how well the out-of-fold evidence recovers this class's given labels (chance-corrected
        # recall; curate.score.noise.evidence), and the confused partner it separates least well
        pa.field("label_evidence", pa.float64()),
        pa.field("least_separable_class", pa.string()),
        pa.field("least_separability", pa.float64()),  # 2 AUC - 1 against that class
        # multi-label data, one row per tag (null for single-label): the tags it most often comes
        # with and how often, and how often it is named missing / spurious (curate.score.tags)
        pa.field("co_occurs_with", pa.list_(pa.string())),
        pa.field("co_occurrence_counts", pa.list_(pa.int64())),
        pa.field("missing_count", pa.int64()),
        pa.field("spurious_count", pa.int64()),
    ]
)

#: negatives.parquet (a contract, docs/architecture.md).
NEGATIVES = pa.schema(
    [
        SAMPLE_ID,
        pa.field("negative_ids", pa.list_(pa.string()), nullable=False),
        pa.field("negative_sims", pa.list_(pa.float32()), nullable=False),
    ]
)

#: batches.parquet — contrastive mini-batch plan: samples that are mutually hard, batch by batch.
BATCHES = pa.schema(
    [
        pa.field("batch", pa.int64(), nullable=False),
        SAMPLE_ID,
    ]
)

ACTIONS = ("keep", "drop", "relabel", "review")

#: a training subset's columns (curate.select), in plan.parquet and manifest.parquet: ``selected``
#: the row is in the budget; ``select_rank`` the order it was chosen in (0 first), -1 when not
#: chosen. Both null when no selection was made.
SELECTION_FIELDS = (pa.field("selected", pa.bool_()), pa.field("select_rank", pa.int64()))

#: plan.parquet — proposed action per sample.
PLAN = pa.schema(
    [
        SAMPLE_ID,
        pa.field("action", pa.string(), nullable=False),  # keep | drop | relabel | review
        pa.field("label", pa.string()),  # final label (the new one for relabel)
        pa.field("original_label", pa.string()),
        pa.field("weight", pa.float64(), nullable=False),  # sampling weight, 0 for dropped
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        # what the rules alone proposed (the action before a person's decision)
        pa.field("proposed_action", pa.string()),
        # what "accept" means to a reviewer: keep / relabel (to suggested_label) / drop; null when
        # the rules leave it to a person with nothing to suggest (e.g. a split leak's keeper)
        pa.field("suggested_action", pa.string()),
        pa.field("suggested_label", pa.string()),
        # null: no decision; "accepted" / "overruled": a person's decision (decisions.parquet)
        # took the suggestion or overruled it
        pa.field("reviewed", pa.string()),
        *SELECTION_FIELDS,
        # multi-label data (null for single-label): the final tags (tags added / removed for a
        # relabel), the given ones, and what "accept" gives the row
        pa.field("labels", pa.list_(pa.string())),
        pa.field("original_labels", pa.list_(pa.string())),
        pa.field("suggested_labels", pa.list_(pa.string())),
    ]
)

#: decisions.parquet — what people decided about proposals, keyed by content (``hash``), so a
#: decision follows its image through re-scans, renames and grown datasets (curate.review).
DECISION_WORDS = ("accept", "keep", "relabel", "drop")
DECISIONS = pa.schema(
    [
        pa.field("hash", pa.string(), nullable=False),  # samples.parquet's content hash
        pa.field("sample_id", pa.string(), nullable=False),  # the id when it was decided
        pa.field("decision", pa.string(), nullable=False),  # accept | keep | relabel | drop, as given
        pa.field("action", pa.string(), nullable=False),  # what it resolves to: keep | relabel | drop
        pa.field("label", pa.string()),  # the final label (keep: the given one); null for drop
        pa.field("accepted", pa.bool_(), nullable=False),  # the outcome is what curate suggested
        pa.field("note", pa.string()),
    ]
)

#: manifest.parquet — the curated training manifest (a contract, docs/architecture.md; every column required).
MANIFEST = pa.schema(
    [
        SAMPLE_ID,
        pa.field("path", pa.string(), nullable=False),
        pa.field("member", pa.string()),
        pa.field("split", pa.string()),
        pa.field("label", pa.string()),
        pa.field("original_label", pa.string()),
        pa.field("weight", pa.float64(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("label_quality", pa.float32()),
        pa.field("is_label_issue", pa.bool_(), nullable=False),
        pa.field("is_duplicate", pa.bool_(), nullable=False),
        pa.field("duplicate_group", pa.string()),
        pa.field("is_outlier", pa.bool_(), nullable=False),
        pa.field("outlier_score", pa.float32(), nullable=False),
        pa.field("caption", pa.string()),  # the pair's caption; null for data without captions
        *SELECTION_FIELDS,
        # multi-label data (null for single-label): the final tags and the given ones; `label` /
        # `original_label` are then the row's rarest final / given tag (null without a tag)
        pa.field("labels", pa.list_(pa.string())),
        pa.field("original_labels", pa.list_(pa.string())),
    ]
)
