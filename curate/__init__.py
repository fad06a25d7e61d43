"""curate: data curation for image-classification datasets.

The flat public API lives here; heavy dependencies (torch, open_clip) are imported lazily
inside the functions that need them, so ``import curate`` and ``curate --help`` stay fast.
"""

from curate.errors import CurateError, DataError, ModelLoadError, StaleWorkspaceError, UsageError
from curate.version import __version__
from curate.workspace import Workspace

__all__ = [
    "__version__",
    "CurateError",
    "DataError",
    "ModelLoadError",
    "StaleWorkspaceError",
    "UsageError",
    "Workspace",
]
