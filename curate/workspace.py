"""The workspace folder: where stages leave their artifacts and how they detect stale ones.

Every artifact records a fingerprint of its inputs and parameters, the fingerprints of the
artifacts it was built from, and the parameters themselves (where and how depends on its storage
kind: :mod:`curate.storage`). A stage computes the fingerprint it *would* produce before doing
any work:

* no artifact yet                           -> run;
* same fingerprint                          -> up to date, skip (the cache is valid);
* other fingerprint, same parameters        -> run: only its inputs changed (the data grew, an
  earlier stage was rebuilt), and recomputing is what the user wants;
* other parameters                          -> refuse with :class:`StaleWorkspaceError` unless
  ``overwrite`` (another model, another option: replacing work needs to be asked for).

Reading an artifact checks that each input it was built from still has the fingerprint it
had then, so a workspace where ``embeddings/`` was rebuilt but ``neighbors.parquet`` was not is
reported instead of silently mixed. Which artifacts exist, their file names and the command that
makes each come from the stage table (:mod:`curate.stages`).

An artifact that exists but cannot be read back (truncated by a full disk, overwritten) is
named with what to do (:class:`DamagedArtifactError`); a stage rebuilds its own damaged outputs.

One process writes a workspace at a time: every stage function is wrapped in :func:`locked`
(index takes the lock once its data is read), which holds ``.curate.lock`` (an ``flock`` the kernel drops when its holder dies, so a killed
run never blocks the next; the file records the holder's pid for the message). A second writer
is refused with :class:`WorkspaceBusyError`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from curate import progress
from curate.errors import (
    DamagedArtifactError,
    DataError,
    StaleWorkspaceError,
    UsageError,
    WorkspaceBusyError,
    WorkspaceWriteError,
)
from curate.stages import ARTIFACT_TABLE, PRODUCING_STAGE
from curate.storage import (
    artifact_exists,
    fingerprint,
    parquet_writer_atomic,
    read_json,
    read_meta,
    read_parquet,
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
    "LOCK_FILE",
    "Workspace",
    "fingerprint",
    "locked",
    "parquet_writer_atomic",
    "read_meta",
    "write_parquet_atomic",
    "write_text_atomic",
]

#: artifact name -> file name inside the workspace.
ARTIFACTS: dict[str, str] = {name: artifact.filename for name, artifact in ARTIFACT_TABLE.items()}

#: artifact name -> the CLI command that rebuilds it, for error messages.
PRODUCER: dict[str, str] = {
    name: stage.command if (stage := PRODUCING_STAGE.get(name)) else str(artifact.recorded_by)
    for name, artifact in ARTIFACT_TABLE.items()
}

#: the key under which :meth:`Workspace.plan` folds a stage's ``data`` digest into its fingerprint
DATA_INPUT = "DATA"

#: the workspace lock, inside the workspace folder
LOCK_FILE = ".curate.lock"

#: workspace folder (resolved) -> [lock file descriptor, depth]: the locks this process holds,
#: so a stage run inside a locked `scan` does not lock itself out
_HELD: dict[Path, list[int]] = {}

#: errors that mean nobody can create files in the folder: no writer can race us there
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)

F = TypeVar("F", bound=Callable[..., Any])


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
        with self.reading(artifact):
            return read_record(self.path(artifact), ARTIFACT_TABLE[artifact].kind)

    @contextlib.contextmanager
    def reading(self, artifact: str) -> Iterator[None]:
        """Name the command that rebuilds ``artifact`` when what is read from it is damaged."""
        try:
            yield
        except DamagedArtifactError as exc:
            remedy = f"delete {self.path(artifact)} and re-run `{PRODUCER[artifact]}` (or `curate scan`)"
            if exc.remedy == remedy:
                raise
            raise DamagedArtifactError(exc.path, exc.reason, remedy) from exc

    def read_json(self, artifact: str) -> Any:
        """Read a JSON artifact after checking it exists; damage is named (:meth:`reading`)."""
        with self.reading(artifact):
            return read_json(self.require(artifact))

    @contextlib.contextmanager
    def lock(self, *, create: bool = False) -> Iterator[None]:
        """Hold the workspace's write lock for the block; re-entrant within a process.

        ``create`` makes the workspace folder first (the stages that start one: index, an
        import); otherwise a missing folder is left for the stage to report.

        Raises :class:`WorkspaceBusyError` in one line, naming the holder, when another live
        process holds it. A lock left by a process that died (killed, crashed) is taken over,
        with a note on stderr. In a folder no one may create files in (read-only), no writer can
        race, so the block runs without a lock and its first write fails with a clear error.
        """
        import fcntl

        key = self.root.resolve()
        if key in _HELD:
            _HELD[key][1] += 1
            try:
                yield
            finally:
                _HELD[key][1] -= 1
            return
        path = self.root / LOCK_FILE
        fd = None
        try:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            if self.root.is_dir():
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            if exc.errno not in _READ_ONLY:
                raise WorkspaceWriteError(path, exc) from exc
        if fd is None:
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceBusyError(
                    f"workspace {self.root} is in use by {_describe_holder(fd)}; wait for it to finish "
                    "(one process writes a workspace at a time)"
                ) from None
            previous = os.pread(fd, 4096, 0)
            if previous.strip():
                progress.log(
                    f"taking over the lock of {_describe_holder(fd)}, which ended without releasing it; "
                    "its unfinished work is redone"
                )
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "argv": sys.argv}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
            _HELD[key] = [fd, 1]
            try:
                yield
            finally:
                del _HELD[key]
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing drops the flock

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
                    f"re-run `{PRODUCER[artifact]}` (or `curate scan`)"
                )

    def read_table(self, artifact: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a Parquet artifact after checking it exists and is not stale."""
        self.check_fresh(artifact)
        with self.reading(artifact):
            return read_parquet(self.path(artifact), columns=list(columns) if columns else None)

    def plan(
        self,
        artifact: str,
        stage: str,
        params: Mapping[str, Any],
        inputs: Sequence[str],
        *,
        data: str | None = None,
        overwrite: bool = False,
    ) -> tuple[str, dict[str, str], bool]:
        """Decide whether a stage must run.

        ``data`` is a digest of what the stage reads from outside the workspace (index: the
        content of DATA): the fingerprint covers it like an input's, so changed data means
        "recompute", not "other parameters".

        Returns ``(fingerprint, input_fingerprints, up_to_date)``. An artifact that exists with
        another fingerprint is rebuilt (``up_to_date`` false) when it was made with these same
        ``params`` (only its inputs or data changed); made with other ``params``, it raises
        :class:`StaleWorkspaceError` unless ``overwrite``.
        """
        input_fps: dict[str, str] = {}
        for name in inputs:
            self.check_fresh(name)
            fp = self.fingerprint_of(name)
            assert fp is not None  # check_fresh -> require guarantees existence
            input_fps[name] = fp
        fp = fingerprint(stage, params, input_fps if data is None else {**input_fps, DATA_INPUT: data})
        try:
            record = self.record(artifact)
        except DamagedArtifactError as exc:
            progress.log(f"{exc.path} is damaged ({exc.reason}); rebuilding it")
            record = {}
        existing = record.get("fingerprint")
        if existing is None:
            return fp, input_fps, False
        if existing == fp:
            return fp, input_fps, True
        if overwrite or same_params(record.get("params"), params):
            return fp, input_fps, False
        raise StaleWorkspaceError(
            f"{ARTIFACTS[artifact]} in {self.root} was made with other parameters; pass --overwrite to replace it"
        )


def same_params(recorded: Mapping[str, Any] | None, params: Mapping[str, Any]) -> bool:
    """Whether the parameters an artifact recorded (JSON-decoded, so tuples read back as lists)
    are ``params``. An artifact that records none (``json``, ``html``) never matches."""
    if recorded is None:
        return False
    return recorded == json.loads(json.dumps(dict(params), sort_keys=True, default=str))


def _describe_holder(fd: int) -> str:
    """Who a lock file says holds it: "curate scan (pid 123 on host, since 12:00:01)"."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        holder = {}
    if not holder.get("pid"):
        return "another curate process"
    argv = holder.get("argv") or ["?"]
    command = " ".join([Path(argv[0]).name, *argv[1:2]])
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder['pid']} on {holder.get('host', '?')} ({command}, since {since})"


def locked(function: F | None = None, *, create: bool = False) -> Any:
    """Decorate a stage function (``@locked``, or ``@locked(create=True)`` for one that starts a
    workspace) to run holding the lock of the workspace it is given as ``ws``
    (:meth:`Workspace.lock`). The signature is kept, so :func:`inspect.signature` still lists
    the stage's parameters."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ws = signature.bind_partial(*args, **kwargs).arguments["ws"]
            with ws.lock(create=create):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate if function is None else decorate(function)
