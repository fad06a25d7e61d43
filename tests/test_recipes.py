import importlib
import json

import pyarrow.parquet as pq
import pytest

from curate.errors import UsageError
from curate.recipes import RECIPES_DIR, ArrayInput, load_recipe, parse_override, run_recipe
from curate.stages import STAGES
from tests.fixtures.recipes import GOOD, write_recipe

SHIPPED = sorted(RECIPES_DIR.glob("*.toml"))


def test_shipped_recipes_exist():
    assert {p.stem for p in SHIPPED} == {"audit", "clean", "rebalance", "contrastive", "select"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipe_is_valid(path):
    from curate.recipes import tomllib

    stages = tomllib.loads(path.read_text())["recipe"]["stages"]
    for stage in stages:  # every stage a shipped recipe names resolves to a real function
        importlib.import_module(STAGES[stage].module)
    recipe = load_recipe(path.stem)
    assert recipe.name == path.stem and recipe.stages == stages and recipe.description


def test_load_and_validate(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, GOOD))
    assert recipe.stages == ["negatives", "propose", "export"]
    assert recipe.params["propose"] == {"strategy": "inverse"}


@pytest.mark.parametrize(
    "text, match",
    [
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
    ],
)
def test_bad_recipes_name_the_key(tmp_path, text, match):
    with pytest.raises(UsageError, match=match):
        load_recipe(write_recipe(tmp_path, text))


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


def test_run_recipe_on_arrays(tmp_path, arrays_and_workspace):
    emb, labels, ws = arrays_and_workspace
    recipe = load_recipe(write_recipe(tmp_path, GOOD))
    summaries = run_recipe(recipe, ArrayInput(emb, labels), ws, ["propose.strategy=sqrt"])
    assert [s["stage"] for s in summaries] == ["import", "negatives", "propose", "export"]
    assert summaries[0]["num_samples"] == 3000
    assert pq.read_table(ws.path("plan")).schema.metadata
    summary = json.loads(ws.path("summary").read_text())
    assert summary["stages"]["plan"]["params"]["strategy"] == "sqrt"
    assert summary["stages"]["negatives"]["params"]["num_negatives"] == 3
