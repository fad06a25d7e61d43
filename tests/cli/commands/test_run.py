import json

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from tests.fixtures.recipes import GOOD, write_recipe


def test_cli_run(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    recipe = str(write_recipe(tmp_path, GOOD))
    runner = CliRunner()
    base = ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), "--labels", str(labels)]
    res = runner.invoke(main, base)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1].startswith("recipe mini: 4 steps")
    res = runner.invoke(main, base + ["--json"])
    assert res.exit_code == 0 and all(s["skipped"] for s in json.loads(res.stdout)["stages"][1:])
    assert json.loads(res.stdout)["engine"] == "local"  # no embed stage ran: nothing left this process
    res = runner.invoke(main, base + ["--set", "propose.strategy=sqrt"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr
    res = runner.invoke(main, base + ["--set", "propose.strategy=sqrt", "--overwrite"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["check", str(ws.root), "--max-imbalance-ratio", "100"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--set", "propose.nope=1"], "has no parameter 'nope'"),
        (["--set", "propose.cap=many"], "'cap' must be int or none"),
        (["--set", "report.x=1"], "does not run stage 'report'"),
        (["--set", "cap=1"], "stage.key=value"),
        (["--model", "ViT-B-16"], "--model has no effect"),
        (["--engine", "ray"], "--engine has no effect"),  # --embeddings replace the embed stage
    ],
)
def test_cli_run_usage_errors(tmp_path, arrays_and_workspace, extra, match):
    emb, labels, ws = arrays_and_workspace
    recipe = str(write_recipe(tmp_path, GOOD))
    res = CliRunner().invoke(main, ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), *extra])
    assert res.exit_code == 2, res.output
    assert match in res.stderr and res.stderr.count("\n") == 1


def test_cli_run_decisions_need_the_propose_stage(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    (tmp_path / "d.csv").write_text("sample_id,decision\n0,drop\n")
    recipe = str(write_recipe(tmp_path, GOOD.split("[stages.propose]")[0].replace('"propose", ', "")))
    base = ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), "--labels", str(labels)]
    res = CliRunner().invoke(main, [*base, "--decisions", str(tmp_path / "d.csv")])
    assert res.exit_code == 2 and "needs the propose stage" in res.stderr and res.stderr.count("\n") == 1
    assert not (ws.root / "decisions.parquet").exists()
    recipe = str(write_recipe(tmp_path, GOOD))
    base[1] = recipe
    (tmp_path / "bad.csv").write_text("id,what\n0,drop\n")
    res = CliRunner().invoke(main, [*base, "--decisions", str(tmp_path / "bad.csv")])
    assert res.exit_code == 1 and "missing columns sample_id, decision" in res.stderr
    assert not (ws.root / "plan.parquet").exists()  # refused before any stage ran
    res = CliRunner().invoke(main, [*base, "--decisions", str(tmp_path / "d.csv"), "--json"])
    assert res.exit_code == 0, res.output
    stages = json.loads(res.stdout)["stages"]
    assert [s["stage"] for s in stages][-3:] == ["decisions", "propose", "export"]
    assert stages[-3]["recorded"] == 1


def test_cli_run_argument_errors(tmp_path):
    recipe = str(write_recipe(tmp_path, GOOD))
    runner = CliRunner()
    res = runner.invoke(main, ["run", recipe, "data", "-o", str(tmp_path / "ws"), "--embeddings", "e.npy"])
    assert res.exit_code == 2 and "not both" in res.stderr
    res = runner.invoke(main, ["run", str(tmp_path / "missing.toml"), "data", "-o", str(tmp_path / "ws")])
    assert res.exit_code == 2 and "not found" in res.stderr
    bad = write_recipe(tmp_path, GOOD.replace("num_negatives = 3", "num_negatives = true"), "bad.toml")
    res = runner.invoke(main, ["run", str(bad), "-o", str(tmp_path / "ws"), "--embeddings", "e.npy"])
    assert res.exit_code == 2 and "'num_negatives' must be int" in res.stderr
    res = runner.invoke(main, ["run", recipe, "-o", str(tmp_path / "ws"), "--embeddings", str(tmp_path / "no.npy")])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_cli_run_shipped_recipe_by_name_needs_data(tmp_path):
    res = CliRunner().invoke(main, ["run", "audit", "-o", str(tmp_path / "ws")])
    assert res.exit_code == 2 and "give DATA or --embeddings" in res.stderr
    res = CliRunner().invoke(main, ["run", "audit", "-o", str(tmp_path / "ws"), "--labels", "l.npy"])
    assert res.exit_code == 2 and "--labels goes with --embeddings" in res.stderr


def test_clean_recipe_on_images_then_gate_then_train(tmp_path, digits_folder, tiny_clip_dir):
    """The data-prep script from the README: run a recipe, gate on it, train from the manifest."""
    import torch

    from curate.torch import ManifestDataset, weighted_sampler

    ws = tmp_path / "ws"
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "run",
            "clean",
            str(digits_folder.root),
            "-o",
            str(ws),
            "--model",
            f"local-dir:{tiny_clip_dir}",
            "--device",
            "cpu",
            "-q",
            # a random tiny model maps every digit to nearly one point (cos ~0.997)
            "--set",
            "score.duplicate_threshold=0.9995",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (ws / "manifest.parquet").exists() and (ws / "report.html").exists()
    gate = runner.invoke(main, ["check", str(ws), "--max-unreadable", "0.5", "--max-imbalance-ratio", "5"])
    assert gate.exit_code == 0, gate.output
    assert runner.invoke(main, ["check", str(ws), "--max-unreadable", "0"]).exit_code == 1

    def to_tensor(img):
        return torch.from_numpy(np.asarray(img.resize((16, 16)), dtype=np.float32)).permute(2, 0, 1) / 255

    ds = ManifestDataset(ws / "manifest.parquet", transform=to_tensor)
    assert len(ds) > 0 and ds.class_names == digits_folder.class_names
    loader = torch.utils.data.DataLoader(ds, batch_size=8, sampler=weighted_sampler(ds))
    images, labels = next(iter(loader))
    assert images.shape[1:] == (3, 16, 16) and len(images) == min(8, len(ds))
    assert labels.dtype == torch.int64 and bool(((labels >= 0) & (labels < 10)).all())


def test_cli_run_says_the_review_queue_is_held_back_and_how_to_train_on_it(tmp_path, synthetic_small):
    np.save(tmp_path / "e.npy", synthetic_small.embeddings.astype(np.float32))
    np.save(tmp_path / "l.npy", synthetic_small.labels)
    base = ["run", "clean", "--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"), "-q"]
    res = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "ws")])
    assert res.exit_code == 0, res.output
    assert "samples held back for review" in res.stdout
    assert """--set export.include='["keep","relabel","review"]' trains on them""" in res.stdout
    trained = CliRunner().invoke(
        main, [*base, "-o", str(tmp_path / "ws2"), "--set", 'export.include=["keep","relabel","review"]']
    )
    assert trained.exit_code == 0, trained.output
    assert "proposed for review are trained on" in trained.stdout
