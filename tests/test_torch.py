import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from curate.errors import UsageError
from curate.export.stage import run_export
from curate.schemas import SAMPLES
from curate.torch import ManifestDataset, weighted_sampler
from curate.workspace import Workspace, write_parquet_atomic


@pytest.fixture
def image_workspace(tmp_path):
    """Five PNGs in two classes plus one unreadable file, indexed by hand (as `curate index` would)."""
    paths, labels, readable, errors = [], [], [], []
    for i, (label, colour) in enumerate([("cat", 10), ("cat", 20), ("dog", 200), ("dog", 210), (None, 90)]):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((8, 6, 3), colour, dtype=np.uint8)).save(p)
        paths.append(str(p)), labels.append(label), readable.append(True), errors.append(None)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    paths.append(str(bad)), labels.append("dog"), readable.append(False), errors.append("corrupt")
    n = len(paths)
    ws = Workspace(tmp_path / "ws")
    table = pa.table(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "path": paths,
            "member": [None] * n,
            "source": ["folder"] * n,
            "label": labels,
            "split": [None] * n,
            "caption": [None] * n,
            "size_bytes": [1] * n,
            "width": [6] * n,
            "height": [8] * n,
            "hash": [None] * n,
            "readable": readable,
            "error": errors,
            "image_stats": [None] * n,
            "file_stat": [None] * n,
            "labels": [None] * n,
        },
        schema=SAMPLES,
    )
    fp, _, _ = ws.plan("samples", "index", {"test": 1}, [])
    write_parquet_atomic(
        ws.path("samples"), table, fingerprint=fp, inputs={}, params={}, extra={"class_names": ["cat", "dog"]}
    )
    run_export(ws)
    return ws


def test_dataset_reads_images_and_labels(image_workspace):
    ds = ManifestDataset(image_workspace.path("manifest"))
    assert ds.class_names == ["cat", "dog"]
    assert len(ds) == 5  # the unreadable file is dropped with weight 0
    image, label = ds[2]
    assert image.size == (6, 8) and image.mode == "RGB" and label == 1
    assert ds[4][1] == -1
    tensor_ds = ManifestDataset(
        image_workspace.path("manifest"), transform=lambda im: torch.from_numpy(np.array(im)).permute(2, 0, 1)
    )
    x, y = tensor_ds[0]
    assert x.shape == (3, 8, 6) and int(x[0, 0, 0]) == 10 and y == 0
    assert len(ManifestDataset(image_workspace.path("manifest"), include_dropped=True)) == 6


def test_weighted_sampler_uses_weights(image_workspace):
    ds = ManifestDataset(image_workspace.path("manifest"))
    ds.weights[:] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    sampler = weighted_sampler(ds, num_samples=20, generator=torch.Generator().manual_seed(0))
    assert set(iter(sampler)) == {2}
    assert len(weighted_sampler(image_workspace.path("manifest"))) == 5


def test_samples_proposed_for_review_are_not_yielded_by_default(image_workspace):
    """A plan that sends cat img1 to review: the manifest holds it back, so the dataset skips it;
    exported with review included, it is there."""
    import pyarrow.parquet as pq

    from curate.schemas import PLAN

    ids = [f"s{i}" for i in range(6)]
    actions = ["keep", "review", "keep", "keep", "keep", "drop"]
    labels = ["cat", "cat", "dog", "dog", None, "dog"]
    plan = pa.table(
        {
            "sample_id": ids,
            "action": actions,
            "label": labels,
            "original_label": labels,
            "weight": [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
            "reasons": [[], ["uncertain label"], [], [], [], ["unreadable"]],
            "proposed_action": actions,
            "suggested_action": [None] * 6,
            "suggested_label": [None] * 6,
            "reviewed": [None] * 6,
            "selected": [None] * 6,
            "select_rank": [None] * 6,
            **dict.fromkeys(("labels", "original_labels", "suggested_labels"), [None] * 6),
        },
        schema=PLAN,
    )
    ws = image_workspace
    fp, inputs, _ = ws.plan("plan", "propose", {"test": 1}, ["samples"])
    write_parquet_atomic(ws.path("plan"), plan, fingerprint=fp, inputs=inputs, params={})
    run_export(ws, overwrite=True)
    ds = ManifestDataset(ws.path("manifest"))
    assert "s1" not in ds.sample_ids and len(ds) == 4
    run_export(ws, include=("keep", "relabel", "review"), overwrite=True)
    assert "s1" in ManifestDataset(ws.path("manifest")).sample_ids
    assert pq.read_table(ws.path("manifest")).column("weight").to_pylist()[1] == 1.0


def test_missing_manifest(tmp_path):
    with pytest.raises(UsageError, match="curate export"):
        ManifestDataset(tmp_path / "manifest.parquet")


def test_readme_training_loop(image_workspace):
    """The README example, verbatim apart from the tiny model: one epoch over the curated manifest."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import functional as F

    ds = ManifestDataset(image_workspace.path("manifest"), transform=lambda im: F.to_tensor(F.resize(im, [8, 8])))
    loader = DataLoader(ds, batch_size=4, sampler=weighted_sampler(ds, generator=torch.Generator().manual_seed(1)))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, len(ds.class_names)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = 0
    for images, labels in loader:
        loss = torch.nn.functional.cross_entropy(model(images), labels, ignore_index=-1)  # -1: unlabelled
        opt.zero_grad(), loss.backward(), opt.step()
        steps += 1
    assert steps == 2 and torch.isfinite(loss)


def test_multi_label_manifest_yields_multi_hot_targets(image_workspace):
    ws = image_workspace
    samples = ws.read_table("samples")
    tags = [["cat"], ["cat", "sofa"], ["dog"], [], ["sofa"], ["dog"]]
    samples = samples.set_column(
        samples.schema.get_field_index("labels"), "labels", pa.array(tags, type=pa.list_(pa.string()))
    )
    samples = samples.set_column(samples.schema.get_field_index("label"), "label", pa.nulls(6, pa.string()))
    fp, _, _ = ws.plan("samples", "index", {"test": 2}, [], overwrite=True)
    extra = {"class_names": ["cat", "dog", "sofa"], "multi_label": True}
    write_parquet_atomic(ws.path("samples"), samples, fingerprint=fp, inputs={}, params={}, extra=extra)
    run_export(ws, overwrite=True)
    ds = ManifestDataset(ws.path("manifest"))
    assert ds.multi_label and ds.class_names == ["cat", "dog", "sofa"]
    assert ds[1][1].tolist() == [1.0, 0.0, 1.0] and ds[3][1].tolist() == [0.0, 0.0, 0.0]
    manifest = pq.read_table(ws.path("manifest")).to_pydict()
    assert manifest["labels"][1] == ["cat", "sofa"] and manifest["original_labels"][1] == ["cat", "sofa"]
