"""Command modules, one per stage family. Importing one registers its commands on ``main``."""

from curate.cli.commands import scan  # noqa: F401
from curate.cli.commands import index  # noqa: F401
from curate.cli.commands import embed  # noqa: F401
from curate.cli.commands import graph  # noqa: F401
from curate.cli.commands import score  # noqa: F401
from curate.cli.commands import noise  # noqa: F401
from curate.cli.commands import negatives  # noqa: F401
from curate.cli.commands import plan  # noqa: F401
from curate.cli.commands import export  # noqa: F401
from curate.cli.commands import check  # noqa: F401
from curate.cli.commands import run  # noqa: F401
from curate.cli.commands import report  # noqa: F401
