import importlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.embed.importer import import_arrays
from curate.errors import UsageError
from curate.pipeline import STAGES
from curate.recipes import RECIPES_DIR, ArrayInput, load_recipe, parse_override, run_recipe
from curate.workspace import Workspace
from tests.fixtures.scored import write_neighbors

SHIPPED = sorted(RECIPES_DIR.glob("*.toml"))


def test_shipped_recipes_exist():
    assert {p.stem for p in SHIPPED} == {"audit", "clean", "rebalance", "contrastive"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipe_is_valid(path):
    from curate.recipes import tomllib

    stages = tomllib.loads(path.read_text())["recipe"]["stages"]
    for stage in stages:  # every stage a shipped recipe names resolves to a real function
        importlib.import_module(STAGES[stage].split(":")[0])
    recipe = load_recipe(path.stem)
    assert recipe.name == path.stem and recipe.stages == stages and recipe.description


def _write(tmp_path, text, name="r.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
[recipe]
name = "mini"
description = "test"
stages = ["negatives", "propose", "export"]

[stages.negatives]
num_negatives = 3
batch_size = 400

[stages.propose]
strategy = "inverse"
"""


def test_load_and_validate(tmp_path):
    recipe = load_recipe(_write(tmp_path, GOOD))
    assert recipe.stages == ["negatives", "propose", "export"]
    assert recipe.params["propose"] == {"strategy": "inverse"}


@pytest.mark.parametrize("text, match", [
    (GOOD + "\n[extra]\nx = 1\n", "unknown top-level key 'extra'"),
    (GOOD.replace('description = "test"', 'descripton = "test"'), "unknown key 'descripton' in \\[recipe\\]"),
    (GOOD.replace('"negatives", "propose"', '"negatives", "bogus"'), "unknown stage 'bogus'"),
    (GOOD.replace('["negatives", "propose", "export"]', '["export", "propose"]'), "chain order"),
    (GOOD.replace("num_negatives = 3", "num_negativs = 3"), "'negatives' has no parameter 'num_negativs'"),
    (GOOD.replace("num_negatives = 3", 'num_negatives = "three"'), "'num_negatives' must be int"),
    (GOOD.replace("batch_size = 400", "batch_size = 4.5"), "'batch_size' must be int"),
    (GOOD.replace('strategy = "inverse"', 'strategy = "fair"'), "'strategy' must be one of"),
    (GOOD + "\n[stages.report]\nx = 1\n", "does not run"),
    (GOOD.replace("[recipe]", "[recipe"), "not valid TOML"),
    ("[stages.propose]\ncap = 3\n", "missing \\[recipe\\]"),
])
def test_bad_recipes_name_the_key(tmp_path, text, match):
    with pytest.raises(UsageError, match=match):
        load_recipe(_write(tmp_path, text))


def test_missing_recipe():
    with pytest.raises(UsageError, match="not found"):
        load_recipe("no-such-recipe")


def test_parse_override():
    assert parse_override("propose.cap=500") == ("propose", "cap", 500)
    assert parse_override("propose.strategy=sqrt") == ("propose", "strategy", "sqrt")
    assert parse_override('export.include=["keep"]') == ("export", "include", ["keep"])
    assert parse_override("propose.drop_near_duplicates=true") == ("propose", "drop_near_duplicates", True)
    with pytest.raises(UsageError):
        parse_override("cap=5")


@pytest.fixture
def arrays_and_workspace(tmp_path, synthetic_small):
    """.npy inputs, and a workspace holding their import plus neighbors.parquet (the stages a recipe
    would run before negatives/propose/export)."""
    emb, labels = tmp_path / "e.npy", tmp_path / "l.npy"
    np.save(emb, synthetic_small.embeddings)
    np.save(labels, synthetic_small.labels)
    ws = Workspace(tmp_path / "ws")
    import_arrays(ws, synthetic_small.embeddings, synthetic_small.labels)
    write_neighbors(ws, synthetic_small.embeddings)
    return emb, labels, ws


def test_run_recipe_on_arrays(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    recipe = load_recipe(_write(tmp_path, GOOD))
    summaries = run_recipe(recipe, ArrayInput(emb, labels), ws, ["propose.strategy=sqrt"])
    assert [s["stage"] for s in summaries] == ["import", "negatives", "propose", "export"]
    assert summaries[0]["num_samples"] == 3000
    assert pq.read_table(ws.path("plan")).schema.metadata
    summary = json.loads(ws.path("summary").read_text())
    assert summary["stages"]["plan"]["params"]["strategy"] == "sqrt"
    assert summary["stages"]["negatives"]["params"]["num_negatives"] == 3


def test_cli_run(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    recipe = str(_write(tmp_path, GOOD))
    runner = CliRunner()
    base = ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), "--labels", str(labels)]
    res = runner.invoke(main, base)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1].startswith("recipe mini: 4 steps")
    res = runner.invoke(main, base + ["--json"])
    assert res.exit_code == 0 and all(s["skipped"] for s in json.loads(res.stdout)["stages"][1:])
    res = runner.invoke(main, base + ["--set", "propose.strategy=sqrt"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr
    res = runner.invoke(main, base + ["--set", "propose.strategy=sqrt", "--overwrite"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["check", str(ws.root), "--max-imbalance-ratio", "100"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("extra, match", [
    (["--set", "propose.nope=1"], "has no parameter 'nope'"),
    (["--set", "propose.cap=many"], "'cap' must be int or none"),
    (["--set", "report.x=1"], "does not run stage 'report'"),
    (["--set", "cap=1"], "stage.key=value"),
    (["--model", "ViT-B-16"], "--model has no effect"),
])
def test_cli_run_usage_errors(tmp_path, arrays_and_workspace, extra, match):
    emb, labels, ws = arrays_and_workspace
    recipe = str(_write(tmp_path, GOOD))
    res = CliRunner().invoke(main, ["run", recipe, "-o", str(ws.root), "--embeddings", str(emb), *extra])
    assert res.exit_code == 2, res.output
    assert match in res.stderr and res.stderr.count("\n") == 1


def test_cli_run_argument_errors(tmp_path):
    recipe = str(_write(tmp_path, GOOD))
    runner = CliRunner()
    res = runner.invoke(main, ["run", recipe, "data", "-o", str(tmp_path / "ws"), "--embeddings", "e.npy"])
    assert res.exit_code == 2 and "not both" in res.stderr
    res = runner.invoke(main, ["run", str(tmp_path / "missing.toml"), "data", "-o", str(tmp_path / "ws")])
    assert res.exit_code == 2 and "not found" in res.stderr
    bad = _write(tmp_path, GOOD.replace("num_negatives = 3", "num_negatives = true"), "bad.toml")
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
    res = runner.invoke(main, ["run", "clean", str(digits_folder.root), "-o", str(ws),
                               "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "-q",
                               # a random tiny model maps every digit to nearly one point (cos ~0.997)
                               "--set", "score.duplicate_threshold=0.9995"])
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
