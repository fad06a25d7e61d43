"""The workspace folder: where stages leave their artifacts and how they detect stale ones.

Every artifact records a fingerprint of its inputs and parameters, the fingerprints of the
artifacts it was built from, and the parameters themselves (where and how depends on its storage
kind: :mod:`curate.storage`). A stage computes the fingerprint it *would* produce before doing
any work:

* no artifact yet            -> run;
* same fingerprint           -> up to date, skip (the cache is valid);
* different fingerprint      -> refuse with :class:`StaleWorkspaceError` unless ``overwrite``.

Reading an artifact checks that each input it was built from still has the fingerprint it
had then, so a workspace where ``embeddings/`` was rebuilt but ``neighbors.parquet`` was not is
reported instead of silently mixed. Which artifacts exist, their file names and the command that
makes each come from the stage table (:mod:`curate.stages`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.stages import ARTIFACT_TABLE, PRODUCING_STAGE
from curate.storage import (
    artifact_exists,
    fingerprint,
    parquet_writer_atomic,
    read_meta,
    read_record,
    write_parquet_atomic,
    write_text_atomic,
)

if TYPE_CHECKING:
    import pyarrow as pa

# The storage writers and readers are re-exported: a stage imports its workspace tools from one place.
__all__ = [
    "ARTIFACTS",
    "PRODUCER",
    "Workspace",
    "fingerprint",
    "parquet_writer_atomic",
    "read_meta",
    "write_parquet_atomic",
    "write_text_atomic",
]

#: artifact name -> file name inside the workspace.
ARTIFACTS: dict[str, str] = {name: artifact.filename for name, artifact in ARTIFACT_TABLE.items()}

#: artifact name -> the CLI command that rebuilds it, for error messages.
PRODUCER: dict[str, str] = {name: stage.command for name, stage in PRODUCING_STAGE.items()}


class Workspace:
    """A workspace folder. Cheap to construct; touches the disk only when asked."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def path(self, artifact: str) -> Path:
        """Path of a named artifact (see :data:`ARTIFACTS`)."""
        try:
            return self.root / ARTIFACTS[artifact]
        except KeyError:
            raise ValueError(f"unknown artifact {artifact!r}") from None

    def exists(self, artifact: str) -> bool:
        """Whether an artifact is there to be read (a sharded folder only once complete)."""
        return artifact_exists(self.path(artifact), ARTIFACT_TABLE[artifact].kind)

    def record(self, artifact: str) -> dict[str, Any]:
        """What an artifact records about how it was made (:func:`curate.storage.read_record`):
        any of ``fingerprint``, ``inputs``, ``params``, ``extra``; ``{}`` before it is written."""
        return read_record(self.path(artifact), ARTIFACT_TABLE[artifact].kind)

    def fingerprint_of(self, artifact: str) -> str | None:
        """The fingerprint an existing artifact was written with, or None if it does not exist."""
        return self.record(artifact).get("fingerprint")

    def require(self, artifact: str) -> Path:
        """Path of an artifact that must exist; a clear error naming the producing command if not."""
        if not self.exists(artifact):
            if not self.root.exists():
                raise UsageError(f"workspace {self.root} does not exist")
            raise DataError(f"{ARTIFACTS[artifact]} is missing from {self.root}; run `{PRODUCER[artifact]}` first")
        return self.path(artifact)

    def check_fresh(self, artifact: str) -> None:
        """Refuse an artifact whose recorded inputs no longer match the workspace."""
        self.require(artifact)
        for name, fp in self.record(artifact).get("inputs", {}).items():
            current = self.fingerprint_of(name)
            if current is not None and current != fp:
                raise StaleWorkspaceError(
                    f"{ARTIFACTS[artifact]} in {self.root} was built from an older {ARTIFACTS[name]}; "
                    f"re-run `{PRODUCER[artifact]}` with --overwrite"
                )

    def read_table(self, artifact: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a Parquet artifact after checking it exists and is not stale."""
        import pyarrow.parquet as pq

        self.check_fresh(artifact)
        return pq.read_table(self.path(artifact), columns=list(columns) if columns else None)

    def plan(
        self,
        artifact: str,
        stage: str,
        params: Mapping[str, Any],
        inputs: Sequence[str],
        *,
        overwrite: bool = False,
    ) -> tuple[str, dict[str, str], bool]:
        """Decide whether a stage must run.

        Returns ``(fingerprint, input_fingerprints, up_to_date)``. Raises
        :class:`StaleWorkspaceError` when the artifact exists with another fingerprint and
        ``overwrite`` is false.
        """
        input_fps: dict[str, str] = {}
        for name in inputs:
            self.check_fresh(name)
            fp = self.fingerprint_of(name)
            assert fp is not None  # check_fresh -> require guarantees existence
            input_fps[name] = fp
        fp = fingerprint(stage, params, input_fps)
        existing = self.fingerprint_of(artifact)
        if existing is None:
            return fp, input_fps, False
        if existing == fp:
            return fp, input_fps, True
        if overwrite:
            return fp, input_fps, False
        raise StaleWorkspaceError(
            f"{ARTIFACTS[artifact]} in {self.root} was made from other inputs or parameters; "
            "pass --overwrite to replace it"
        )
