"""Training on a curated manifest with PyTorch: ``import curate.torch``.

    from curate.torch import ManifestDataset, weighted_sampler
    ds = ManifestDataset("ws/manifest.parquet", transform=preprocess)
    loader = DataLoader(ds, batch_size=64, sampler=weighted_sampler(ds), num_workers=8)

Rows with weight 0 (dropped, held back for review until a person decides, or other actions
left out at export) are skipped unless ``include_dropped``; to train on the review queue, export
with it (``curate scan --train-on-review``, ``curate export --train-on-review``); labels are indices into ``class_names`` (the class list recorded at
export), -1 for unlabelled samples. A multi-label manifest (its ``labels`` column holds tag lists)
yields multi-hot targets instead: a (K,) float32 tensor over ``class_names`` (the tags), for
``BCEWithLogitsLoss``. A manifest built from ``curate scan --embeddings`` lists
no images, so it is refused at construction (:class:`curate.errors.DataError`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from curate.errors import DataError, UsageError
from curate.index.images import decode_rgb, read_bytes
from curate.workspace import read_meta


def _source_of(path: str, member: str | None) -> str:
    """Where a sample's bytes live, from its manifest path/member (the manifest has no source column)."""
    if member is None:
        return "folder"
    if member.startswith("row:") and path.endswith(".parquet"):
        return "parquet"
    return "webdataset"


class ManifestDataset(Dataset):
    """A map-style dataset over manifest.parquet.

    ``ds[i]`` is ``(image, label)``: the RGB PIL image passed through ``transform`` (a tensor
    with the usual torchvision transforms) and the int label index (-1 when unlabelled).
    ``weights`` is the (len,) float64 tensor of sampling weights, ``class_names`` the class list.
    Multi-label manifests (``multi_label`` True): the target is the (K,) float32 multi-hot
    tensor of the row's final tags over ``class_names``.
    """

    def __init__(
        self,
        manifest_path: str | os.PathLike[str],
        transform: Callable[[Any], Any] | None = None,
        *,
        include_dropped: bool = False,
    ):
        if not os.path.exists(manifest_path):
            raise UsageError(f"{manifest_path} does not exist; run `curate export` first")
        columns = ["sample_id", "path", "member", "label", "weight", "action"]
        if "labels" in pq.read_schema(manifest_path).names:
            columns.append("labels")
        table = pq.read_table(manifest_path, columns=columns)
        recorded = read_meta(manifest_path).get("extra", {}).get("class_names")
        labels = table.column("label").to_pylist()
        self.class_names: list[str] = list(recorded) if recorded else sorted({v for v in labels if v is not None})
        index = {name: i for i, name in enumerate(self.class_names)}
        weights = table.column("weight").to_pylist()
        keep = [i for i, w in enumerate(weights) if include_dropped or w > 0]
        if not keep:
            raise DataError(f"{manifest_path} has no sample with weight > 0")
        col = {c: table.column(c).to_pylist() for c in ("sample_id", "path", "member")}
        if all(not col["path"][i] for i in keep):
            # Built from `curate scan --embeddings`: the rows are array rows, not images. Serving the
            # embeddings instead would change what ds[i] is (no image for `transform`), so refuse.
            raise DataError(
                f"{manifest_path} has no image paths: it was built from --embeddings, so there are no "
                "images to load (its embeddings are in the workspace's embeddings/ folder)"
            )
        self.sample_ids = [col["sample_id"][i] for i in keep]
        self._paths = [col["path"][i] for i in keep]
        self._members = [col["member"][i] for i in keep]
        tag_lists = table.column("labels").to_pylist() if "labels" in table.column_names else [None] * len(labels)
        self.multi_label = any(t is not None for t in tag_lists)
        try:
            if self.multi_label:
                self.targets: list[Any] = []
                for i in keep:
                    hot = torch.zeros(len(self.class_names), dtype=torch.float32)
                    hot[[index[t] for t in tag_lists[i] or []]] = 1.0
                    self.targets.append(hot)
            else:
                self.targets = [index[labels[i]] if labels[i] is not None else -1 for i in keep]
        except KeyError as exc:
            raise DataError(f"label {exc.args[0]!r} in {manifest_path} is not in its class list") from None
        self.weights = torch.tensor([weights[i] for i in keep], dtype=torch.float64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        path, member = self._paths[i], self._members[i]
        image = decode_rgb(read_bytes(path, member, _source_of(path, member)))
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[i]


def weighted_sampler(
    manifest: ManifestDataset | str | os.PathLike[str],
    *,
    num_samples: int | None = None,
    replacement: bool = True,
    generator: torch.Generator | None = None,
) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` over a :class:`ManifestDataset` (or a manifest path, read with the
    same defaults) drawing rows in proportion to the manifest's ``weight`` column.

    ``num_samples`` defaults to the dataset length (one "epoch").
    """
    dataset = manifest if isinstance(manifest, ManifestDataset) else ManifestDataset(manifest)
    weights = dataset.weights
    if not bool((weights > 0).any()):
        raise DataError("every sample has weight 0; nothing to sample")
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=replacement, generator=generator)
