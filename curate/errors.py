"""Error types raised by the library; the CLI turns each into one line on stderr and an exit code.

Exit codes (docs/architecture.md): 0 success, 1 a check failed or the data is unusable, 2 bad usage.
"""

from __future__ import annotations


class CurateError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with when this escapes a command."""

    exit_code: int = 1


class UsageError(CurateError):
    """The caller asked for something malformed: wrong path, bad option value, bad recipe key."""

    exit_code = 2


class DataError(CurateError):
    """The data cannot be used as given: empty folder, missing column, shape mismatch."""

    exit_code = 1


class StaleWorkspaceError(CurateError):
    """An artifact in the workspace was built from other inputs or parameters."""

    exit_code = 1


class ModelLoadError(CurateError):
    """The CLIP model or its weights could not be loaded (often: offline without local weights)."""

    exit_code = 1
