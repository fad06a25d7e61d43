"""Flags that mean the same thing on every command: --debug after the command as before it, and
--progress wherever --quiet is."""

from click.testing import CliRunner

from curate.cli import main


def test_debug_works_after_the_command_too(tmp_path):
    missing = str(tmp_path / "missing")
    plain = CliRunner().invoke(main, ["export", missing])
    assert plain.exit_code == 2 and "No such option" not in plain.stderr
    for args in (["--debug", "export", missing], ["export", missing, "--debug"]):
        result = CliRunner().invoke(main, args)
        assert "No such option" not in result.output, args
        assert result.exception is not None and "does not exist" in str(result.exception), args  # the traceback


def test_every_command_with_quiet_has_progress():
    for name, command in main.commands.items():
        options = {opt for p in command.params for opt in getattr(p, "opts", [])}
        if "--quiet" in options:
            assert "--progress" in options, name
        assert "--debug" in options, name
