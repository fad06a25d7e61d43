"""Defaults and constants shared across stages (one place, so the CLI and library agree)."""

from __future__ import annotations

import os

from curate.issues import gates

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"

#: Rows per embeddings/ shard that ``curate embed`` writes: the unit of resumption (a few minutes
#: of GPU work, ~16 MiB at D=512 in float16). Recorded in the fingerprint, so changing it makes
#: existing embeddings stale.
EMBED_SHARD_ROWS = 16384

#: Rows per embeddings/ shard when importing arrays (``curate scan --embeddings``). An import has
#: nothing to resume, so its shards only bound file size (128 MiB at D=512 in float32); fewer
#: files than EMBED_SHARD_ROWS would give. Also in the fingerprint: changing it rewrites every
#: imported workspace's embeddings and makes its later stages stale.
IMPORT_SHARD_ROWS = 65536

#: neighbours stored per sample in neighbors.parquet
DEFAULT_K = 20

#: inverted lists the hard-negative search visits per anchor when it runs on the ivf engine (large
#: data on a CPU). Half the neighbour graph's: measured at 200k x 1000 classes, the negatives found
#: are as hard (mean cosine 0.5850 vs 0.5890 with 8 lists, exact 0.6003) for 0.6x the time
#: (tests/bench/bench_negatives.py --search-nprobe, docs/benchmarks.md).
DEFAULT_SEARCH_NPROBE = 4

#: A pair is a near-duplicate when its cosine distance is below this share of the median
#: nearest-neighbour distance: cleanlab's near_duplicate rule and default. A ratio, not a cosine,
#: so it means the same in every embedding space (curate/graph/scale.py).
DEFAULT_DUPLICATE_RADIUS = 0.13

#: The second near-duplicate rule, local: a pair of mutual nearest neighbours whose distance, as a
#: share of each one's typical neighbour spacing, lies this many robust standard deviations below
#: the dataset's usual share (the modified z-score cut-off of Iglewicz & Hoaglin, as for outliers).
#: Catches copies in spaces whose density varies, where one global radius misses them.
DEFAULT_LOCAL_DUPLICATE_Z = 3.5

#: A plan that leaves more than this share of the readable samples out of training (weight 0) is
#: flagged loudly: a ``warnings`` entry in summary.json, a line in the ``scan`` / ``run`` headline
#: and an alert atop the report (:func:`curate.export.manifest.plan_warnings`). So is a plan that
#: leaves any class that had samples with no weight at all, whatever this share.
DROP_WARNING_FRACTION = 0.5

#: Actions whose samples keep their sampling weight in manifest.parquet unless told otherwise: a
#: sample proposed for review is held back (weight 0) until a person decides, because training on
#: it is what the review is there to prevent. ``--train-on-review`` (``scan``, ``export``) adds
#: ``review``; :data:`TRAINING_ACTIONS_WITH_REVIEW` is that choice.
TRAINING_ACTIONS: tuple[str, ...] = ("keep", "relabel")
TRAINING_ACTIONS_WITH_REVIEW: tuple[str, ...] = (*TRAINING_ACTIONS, "review")

#: most decoding processes used by default (index and embed; decoding scales well up to about this many)
MAX_DEFAULT_WORKERS = 8


def available_cpus() -> int:
    """The CPUs this process may use: the affinity mask, not the machine's CPU count, because a
    container or ``taskset`` often grants fewer CPUs than the host has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """Decoding processes when ``--workers`` is not given: :func:`available_cpus`, at most
    :data:`MAX_DEFAULT_WORKERS`."""
    return max(1, min(available_cpus(), MAX_DEFAULT_WORKERS))


#: Attempts per remote read (``s3://``, ``gs://``, ``https://``; curate.index.remote) before it
#: gives up: a transient failure (5xx, 429, a dropped connection) is retried with exponential
#: backoff from REMOTE_BACKOFF_SECONDS (0.5 + 1 + 2 + 4 s: a store that is away for longer is
#: down, not busy). The environment variable CURATE_REMOTE_ATTEMPTS overrides it.
REMOTE_ATTEMPTS = 5
REMOTE_BACKOFF_SECONDS = 0.5

#: Bytes a remote file object fetches per request when a shard or a Parquet file is streamed:
#: what one stream holds in memory. 8 MiB amortises a request's latency over dozens of images
#: while 8 decoding processes hold 64 MiB (s3fs's own default is 50 MiB per open file).
REMOTE_BLOCK_BYTES = 8 * 1024 * 1024

#: Default gates of `curate check`, by the option's keyword name (``--max-label-issues`` ->
#: ``max_label_issues``), as each issue type (and the dataset) declares them
#: (:func:`curate.issues.gates`). The report colours its headline numbers against the same
#: values, so a red number on the page is one that the default check would fail. Rates are
#: fractions of samples; ``max_unreadable`` is a fraction of inputs; ``max_leaks`` is a number of
#: duplicate groups that span more than one split.
DEFAULT_THRESHOLDS: dict[str, float] = {g.keyword: g.default for g in gates()}

#: Label evidence (:mod:`curate.score.noise.evidence`) below this is *weak*: the overall kappa of
#: the out-of-sample prediction against the given labels, a class's chance-corrected recall, a
#: confused pair's separability (2 AUC - 1). Halfway between chance (0) and evidence that
#: reproduces every label (1); a weak space, class or pair is named in summary.json's
#: ``label_evidence``, the report and the ``scan`` headline. ``curate check --min-label-evidence``
#: gates on the overall strength with the user's own bar; the report colours its card against this.
WEAK_LABEL_EVIDENCE = DEFAULT_THRESHOLDS["min_label_evidence"]

#: A label issue goes to the review queue when the evidence says its given label is more likely
#: wrong than right (``mislabel_probability`` at least this); the other flagged rows are counted
#: per class pair in summary.json's ``label_evidence`` instead of listed one by one.
REVIEW_MISLABEL_PROBABILITY = 0.5

#: the image defects, one issue type each (curate/issues/<name>.py, judged by curate.score.defects)
IMAGE_DEFECTS = ("dark", "light", "blurry", "low_information", "odd_aspect_ratio", "odd_size", "grayscale")
#: Tukey's fence for image measures: more than this many interquartile ranges below the dataset's
#: lower quartile is a defect (curate.score.defects). 2.5 lies between Tukey's "outside" (1.5)
#: and "far out" (3): four standard deviations below the median of normal data (1 in 40,000),
#: and wider where the data's tail is heavier.
DEFAULT_IMAGE_FENCE = 2.5
#: the largest share of a dataset an image defect may flag; above it the "defect" is the dataset's norm
DEFAULT_MAX_DEFECT_SHARE = 0.5
#: bits of 64 within which two perceptual hashes are near copies (curate.score.copies)
DEFAULT_PHASH_DISTANCE = 2
