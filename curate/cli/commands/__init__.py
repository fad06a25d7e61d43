"""Command modules, one per stage family. Importing one registers its commands on ``main``."""

from curate.cli.commands import scan  # noqa: F401
from curate.cli.commands import index  # noqa: F401
from curate.cli.commands import report  # noqa: F401
