"""docs/cli.md is generated from the commands' --help; it must match what the generator writes now."""

import difflib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date():
    gen = _generator()
    expected = gen.render()
    committed = gen.TARGET.read_text(encoding="utf-8") if gen.TARGET.exists() else ""
    if committed != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(True),
                    expected.splitlines(True),
                    "docs/cli.md (committed)",
                    "docs/cli.md (from --help)",
                )
            )[:40]
        )
        pytest.fail(f"{gen.STALE}\n{diff}", pytrace=False)


def test_reference_does_not_depend_on_the_terminal(monkeypatch):
    gen = _generator()
    monkeypatch.setenv("COLUMNS", "40")
    narrow = gen.render()
    monkeypatch.setenv("COLUMNS", "250")
    assert gen.render() == narrow


def test_reference_lists_every_command():
    from curate.cli import main

    text = _generator().render()
    for name in main.commands:
        assert f"## `curate {name}`" in text
        assert f"Usage: curate {name} [OPTIONS]" in text
