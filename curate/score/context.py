"""What every issue type's scorer may use: the data, the neighbour graph, the stage's parameters,
and the shared findings, each computed once on first use (label scoring needs the duplicate
groups; class statistics need both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from curate.data import Embedded
from curate.graph.scale import SimilarityScale, measure_scale


@dataclass
class ScoreContext:
    """Inputs and shared findings of one score run.

    data:        the embedded samples
    neighbors:   ``(idx (N, k) int64, sims (N, k) float32)``, self excluded
    params:      the score stage's parameters (``label_sources``, ``folds``,
                 ``duplicate_threshold``, ``duplicate_radius``, ``outlier_z``, ``seed``)
    device:      resolved torch device for the probe
    image_areas: (N,) width x height to keep the largest copy, None for arrays
    image_stats: what the index measured of each image (:func:`curate.score.defects.load_image_stats`),
                 None for arrays
    derived:     what scorers derived from the data, for issues.parquet's metadata (``image_defects``)
    """

    data: Embedded
    neighbors: tuple[np.ndarray, np.ndarray]
    params: dict[str, Any]
    device: str = "cpu"
    image_areas: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    image_stats: dict[str, np.ndarray] | None = None
    derived: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def scale(self) -> SimilarityScale:
        """The space's near-duplicate cut and vote temperature (curate.graph.scale)."""
        return measure_scale(
            self.neighbors[1],
            duplicate_threshold=self.params.get("duplicate_threshold"),
            duplicate_radius=self.params["duplicate_radius"],
        )

    @cached_property
    def duplicates(self):
        """:class:`curate.score.duplicates.DuplicateResult`."""
        from curate.config import DEFAULT_PHASH_DISTANCE
        from curate.score.duplicates import find_duplicates

        blank = None if self.image_defects is None else self.image_defects["low_information"].flag
        return find_duplicates(
            self.data,
            self.neighbors,
            scale=self.scale,
            sizes=self.image_areas,
            image_stats=self.image_stats,
            hashable=None if blank is None else ~blank,
            phash_distance=self.params.get("phash_distance", DEFAULT_PHASH_DISTANCE),
        )

    @cached_property
    def label_noise(self):
        """:class:`curate.score.noise.LabelNoiseResult` (its duplicate groups keep copies in one fold)."""
        from curate.score.noise import score_label_noise

        return score_label_noise(
            self.data,
            neighbors=self.neighbors,
            sources=tuple(self.params["label_sources"]),
            folds=self.params["folds"],
            seed=self.params["seed"],
            device=self.device,
            scale=self.scale,
            duplicate_groups=self.duplicates.component,
        )

    @cached_property
    def tag_scores(self):
        """:class:`curate.score.multilabel.TagScores` of multi-label data (``data.tags``), over the
        stage's neighbour graph and the tag names' text embeddings when present."""
        from curate.score.multilabel import score_tags

        if self.data.tags is None:
            raise ValueError("tag scores need multi-label data (Embedded.tags)")
        return score_tags(
            self.data.embeddings,
            self.data.tags,
            neighbor_idx=self.neighbors[0],
            neighbor_sims=self.neighbors[1],
            text_embeddings=self.data.text_embeddings,
            folds=self.params["folds"],
            seed=self.params["seed"],
        )

    @cached_property
    def image_defects(self):
        """``{defect: curate.score.defects.Judgement}`` over the image stats with the stage's
        parameters; None when no image was measured (array inputs)."""
        from curate.config import DEFAULT_IMAGE_FENCE, DEFAULT_MAX_DEFECT_SHARE
        from curate.score.defects import judge_images

        if self.image_stats is None:
            return None
        return judge_images(
            self.image_stats,
            fence=self.params.get("image_fence", DEFAULT_IMAGE_FENCE),
            thresholds=self.params.get("image_thresholds"),
            max_share=self.params.get("max_defect_share", DEFAULT_MAX_DEFECT_SHARE),
        )

    @cached_property
    def captions(self):
        """:class:`curate.score.captions.CaptionResult` (image-text pairs; empty without captions)."""
        from curate.score.captions import score_captions

        return score_captions(
            self.data.embeddings, self.data.caption_embeddings, self.data.captions, seed=self.params["seed"]
        )

    @cached_property
    def outliers(self):
        """:class:`curate.score.outliers.OutlierResult`."""
        from curate.score.outliers import score_outliers

        return score_outliers(self.data, self.neighbors, z_threshold=self.params["outlier_z"])
