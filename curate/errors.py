"""Error types raised by the library; the CLI turns each into one line on stderr and an exit code.

Exit codes (docs/architecture.md, README "Exit codes"): 0 success; 1 the data, the model or the
workspace cannot be used, or a check failed; 2 the command line is wrong.
"""

from __future__ import annotations

import errno
import os


class CurateError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with when this escapes a command."""

    exit_code: int = 1


class UsageError(CurateError):
    """The caller asked for something malformed: wrong path, bad option value, bad recipe key,
    an option the command would ignore."""

    exit_code = 2


class DataError(CurateError):
    """The data cannot be used as given: empty folder, missing column, shape mismatch."""

    exit_code = 1


class StaleWorkspaceError(CurateError):
    """An artifact in the workspace was built from other inputs or parameters."""

    exit_code = 1


class ModelLoadError(CurateError):
    """The CLIP model or its weights could not be found or loaded: a missing folder or checkpoint,
    no weights, weights that do not fit the config, offline without a local copy."""

    exit_code = 1


class ClusterError(CurateError):
    """The compute cluster (``--engine ray``) cannot be used: its address does not answer, or it
    lacks what the run needs."""

    exit_code = 1


class WorkspaceBusyError(CurateError):
    """Another curate process is writing the workspace (it holds the workspace lock)."""

    exit_code = 1


class DamagedArtifactError(DataError):
    """A file in the workspace exists but cannot be read back: truncated, overwritten, not what
    its name says. ``remedy`` says what to do; the workspace names the command that rebuilds it."""

    def __init__(self, path: str | os.PathLike[str], reason: str, remedy: str = "") -> None:
        self.path = path
        self.reason = reason
        self.remedy = remedy or "delete it and re-run the command that wrote it"
        super().__init__(f"{path} is damaged ({reason}); {self.remedy}")


class WorkspaceWriteError(CurateError):
    """The operating system refused to write an artifact (disk full, read-only folder, no
    permission); the artifacts written before it are intact."""

    exit_code = 1

    def __init__(self, path: str | os.PathLike[str], cause: OSError) -> None:
        self.path = path
        what = cause.strerror or str(cause) or type(cause).__name__
        hint = {
            errno.ENOSPC: "free some space, then re-run: finished work is kept",
            errno.EDQUOT: "free some space, then re-run: finished work is kept",
            errno.EROFS: "write the workspace somewhere writable (-o)",
            errno.EACCES: "write the workspace somewhere writable (-o)",
            errno.EPERM: "write the workspace somewhere writable (-o)",
        }.get(cause.errno or 0, "earlier artifacts are intact; re-run when it is fixed")
        super().__init__(f"cannot write {path}: {what}; {hint}")
