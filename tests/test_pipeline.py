"""The stage table holds together, and the runner gives every stage its options the same way for
`curate scan` and recipes."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.pipeline import ArrayInput, plan_stages, stage_parameters, stages_for
from curate.recipes import Recipe, apply_overrides
from curate.scan import audit_plan, run_scan
from curate.stages import ARTIFACT_TABLE, PRODUCING_STAGE, RECORDED_ARTIFACTS, STAGE_ORDER, STAGES
from curate.synth import make_dataset
from curate.workspace import Workspace


@pytest.mark.parametrize("name", STAGE_ORDER)
def test_every_stage_row_names_its_real_function_and_command(name):
    stage = STAGES[name]
    function = stage.function()
    assert (function.__module__, function.__name__) == (stage.module, stage.function_name)
    positional = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert positional == (["data", "ws"] if stage.takes_data else ["ws"])
    assert "overwrite" in inspect.signature(function).parameters
    assert stage.command.removeprefix("curate ") in main.commands


def test_artifacts_are_made_by_one_stage_and_read_only_after_it():
    made = [artifact for stage in STAGES.values() for artifact in stage.outputs]
    # each artifact has exactly one producer: a stage, or the command people record it with
    assert sorted(made + list(RECORDED_ARTIFACTS)) == sorted(ARTIFACT_TABLE)
    for name in RECORDED_ARTIFACTS:
        assert str(ARTIFACT_TABLE[name].recorded_by).removeprefix("curate ") in main.commands
    for position, name in enumerate(STAGE_ORDER):
        stage = STAGES[name]
        for artifact in stage.inputs + stage.optional_inputs:
            if artifact in RECORDED_ARTIFACTS:  # from outside the chain, like DATA
                continue
            assert STAGE_ORDER.index(PRODUCING_STAGE[artifact].name) < position, (name, artifact)


@pytest.mark.parametrize("embeddings", [False, True], ids=["images", "embeddings"])
def test_scan_device_reaches_every_stage_that_takes_one(embeddings):
    source, plan = audit_plan(
        None if embeddings else "DATA",
        embeddings="E.npy" if embeddings else None,
        device="cpu",
        batch_size=8,
        workers=0,
    )
    takers = {call.stage for call in plan if "device" in stage_parameters(call.stage)}
    assert takers == ({"neighbors", "score"} if embeddings else {"embed", "neighbors", "score"})
    assert all(call.kwargs["device"] == "cpu" for call in plan if call.stage in takers)
    by_stage = {call.stage: call.kwargs for call in plan}
    assert isinstance(source, ArrayInput) == embeddings
    assert "batch_size" not in by_stage["negatives"]  # images per forward pass, not a contrastive batch
    if not embeddings:
        assert by_stage["embed"]["batch_size"] == 8 and by_stage["index"]["workers"] == 0


def test_stage_params_win_over_common_options():
    (call,) = plan_stages(["score"], params={"score": {"device": "cuda"}}, common={"device": "cpu", "seed": 3})
    assert call.kwargs == {"device": "cuda", "seed": 3}


def test_recipe_set_beats_command_line_beats_file():
    recipe = Recipe("r", "", ["neighbors", "score"], params={"neighbors": {"device": "cuda", "k": 5}})
    common = {"device": "cpu", "model": None}
    params = apply_overrides(recipe, ["score.device=auto"], common=common)
    plan = {c.stage: c.kwargs for c in plan_stages(recipe.stages, params=params, common={"device": "cpu"})}
    assert plan == {"neighbors": {"device": "cpu", "k": 5}, "score": {"device": "auto"}}


def test_arrays_replace_the_stages_an_import_writes():
    assert stages_for(ArrayInput("E.npy"), STAGE_ORDER) == list(STAGE_ORDER[2:])
    assert stages_for("DATA", STAGE_ORDER) == list(STAGE_ORDER)


def test_scan_reports_done_then_up_to_date(tmp_path):
    ds = make_dataset(240, 4, dim=16, imbalance_ratio=2.0, seed=0)
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    ws = Workspace(tmp_path / "ws")
    first = run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy", device="cpu")
    assert [s["stage"] for s in first["steps"]] == ["import", *STAGE_ORDER[2:]]
    assert not any(s["up_to_date"] for s in first["steps"])

    args = [
        "scan",
        "--embeddings",
        tmp_path / "e.npy",
        "--labels",
        tmp_path / "l.npy",
        "-o",
        ws.root,
        "--device",
        "cpu",
    ]
    again = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert f"up to date: import, {', '.join(STAGE_ORDER[2:])}" in again.stdout and "done:" not in again.stdout
    as_json = CliRunner().invoke(main, [str(a) for a in [*args, "--json"]], catch_exceptions=False)
    assert all(s["up_to_date"] is True for s in json.loads(as_json.stdout)["steps"])
