"""Command modules, one per stage family. Importing one registers its commands on ``main``."""

from curate.cli.commands import scan  # noqa: F401
from curate.cli.commands import noise  # noqa: F401
