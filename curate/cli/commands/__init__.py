"""Command modules, one per stage family. Importing one registers its commands on ``main``."""

from curate.cli.commands import (
    apply,  # noqa: F401
    check,  # noqa: F401
    doctor,  # noqa: F401
    embed,  # noqa: F401
    example,  # noqa: F401
    export,  # noqa: F401
    graph,  # noqa: F401
    index,  # noqa: F401
    negatives,  # noqa: F401
    noise,  # noqa: F401
    plan,  # noqa: F401
    report,  # noqa: F401
    run,  # noqa: F401
    scan,  # noqa: F401
    score,  # noqa: F401
    select,  # noqa: F401
)
