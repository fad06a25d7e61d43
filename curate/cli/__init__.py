"""The ``curate`` command line: one click group; each command parses options and calls one
library function. Library errors become one line on stderr and the exit code the error
carries (docs/architecture.md: 0 success, 1 check failed / data unusable, 2 bad usage)."""

from __future__ import annotations

import sys

import click

from curate import __version__
from curate.errors import CurateError

DEBUG_HELP = "Show tracebacks instead of one-line errors."


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["debug"] = True


class CurateGroup(click.Group):
    """Turns library errors into one clean line; ``--debug`` shows the traceback instead.

    ``--debug`` works before or after the command (``curate --debug scan`` = ``curate scan --debug``):
    every command gets it as an option of its own."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(p.name == "debug" for p in cmd.params):
            cmd.params.append(
                click.Option(["--debug"], is_flag=True, expose_value=False, callback=_set_debug, help=DEBUG_HELP)
            )
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CurateError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; finished work is kept and a re-run resumes.", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # an unexpected bug: still one line unless --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", err=True)
            sys.exit(1)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="curate")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Curate image-classification datasets: embed with CLIP, find label noise, duplicates,
    outliers and imbalance, and write Parquet manifests for training.

    \b
    Typical use:
      curate scan ./data -o ws                 full audit -> ws/manifest.parquet, ws/report.html
      curate check ws --max-label-issues 0.05  gate a data-prep job on the result
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or ctx.obj.get("debug", False)


def _register() -> None:
    from curate.cli import commands  # noqa: F401  (each module adds its commands to `main`)


_register()
