"""CLI tests mirror curate/cli/commands/: every command module has tests/cli/commands/test_<module>.py."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_command_module_has_a_cli_test_module():
    commands = {p.stem for p in (REPO / "curate" / "cli" / "commands").glob("*.py") if p.stem != "__init__"}
    tested = {p.stem.removeprefix("test_") for p in (REPO / "tests" / "cli" / "commands").glob("test_*.py")}
    missing = sorted(commands - tested)
    assert not missing, "write CliRunner tests for " + ", ".join(f"tests/cli/commands/test_{m}.py" for m in missing)
