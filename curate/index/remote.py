"""Data where it lives: any fsspec URL (``s3://``, ``gs://``, ``https://``, ...), read with retries.

DATA, a manifest's ``path`` cells and the containers samples.parquet points into may be URLs;
the workspace is always a local folder. Every remote call goes through :func:`retrying`: a
transient failure (a 5xx or 429 answer, a dropped connection, a timeout) is retried with
exponential backoff, :data:`curate.config.REMOTE_ATTEMPTS` attempts in all (``CURATE_REMOTE_ATTEMPTS``
overrides it, in every decoding process too); a permanent one is raised at once. What exhausts
its attempts, or fails in a way a retry cannot fix (no credentials), is a
:class:`RemoteReadError`: one line naming the URL, never the credentials.

Credentials and endpoints come from where the storage library looks for them: for S3 the
standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL`` variables,
``~/.aws``, instance roles; for GCS ``GOOGLE_APPLICATION_CREDENTIALS`` or gcloud's defaults;
fsspec's own configuration (``FSSPEC_S3_ANON=true``, ``~/.config/fsspec/``) on top.

A filesystem object is created once per process (the index and embed stages fork decoding
workers, and an async client must not be shared across a fork).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, TypeVar

from curate.config import REMOTE_ATTEMPTS, REMOTE_BACKOFF_SECONDS, REMOTE_BLOCK_BYTES
from curate.errors import DataError, UsageError

T = TypeVar("T")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: the extra of curate that installs each protocol's filesystem (pyproject.toml)
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "http": "http", "https": "http"}

#: HTTP answers worth retrying: the server is busy, throttling or briefly away
_RETRY_STATUS = frozenset({408, 425, 429})


class RemoteReadError(DataError):
    """A remote read failed for good: its retries were exhausted, or no retry can fix it
    (missing credentials, an unknown endpoint). The message is one line naming the URL."""


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a URL fsspec reads (``s3://b/k``, ``https://h/x``); ``file://`` and
    plain paths are local."""
    match = _SCHEME.match(os.fspath(path))
    return match is not None and match.group(1).lower() != "file"


def protocol_of(url: str) -> str:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else "file"


def redact(text: str) -> str:
    """``text`` without what must never reach a log: the query string of a URL (a presigned
    URL's signature) and user:password before a host."""
    text = re.sub(r"(://[^\s/?#]*?)[^\s/@]*:[^\s/@]*@", r"\1", text)
    return re.sub(r"(\w+://[^\s?#'\"]*)\?[^\s'\"]*?(?=:?(?:\s|$|['\"]))", r"\1?...", text)


#: s3fs's own retry loop (its ``retries`` attribute, 5) is turned off: it multiplied botocore's
#: per-request retries (AWS_MAX_ATTEMPTS, ~/.aws/config; kept, they retry one page of a listing
#: rather than the whole listing) and curate's. A dead endpoint took 47 s to report, now 36 s
#: (10 s with AWS_MAX_ATTEMPTS=1)
_OWN_RETRIES_OFF = frozenset({"s3", "s3a"})


@lru_cache(maxsize=16)
def _filesystem(protocol: str, pid: int) -> Any:
    import fsspec

    try:
        fs = fsspec.filesystem(protocol, skip_instance_cache=True)
        if protocol in _OWN_RETRIES_OFF and hasattr(fs, "retries"):
            fs.retries = 1
        return fs
    except ImportError as exc:
        extra = EXTRAS.get(protocol)
        how = f"pip install 'curate[{extra}]'" if extra else str(exc)
        raise UsageError(f"reading {protocol}:// URLs needs its fsspec filesystem: {how}") from None
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise UsageError(f"cannot read {protocol}:// URLs: {exc}") from None


def filesystem(url: str) -> tuple[Any, str]:
    """(this process's fsspec filesystem for ``url``'s protocol, the path it takes)."""
    fs = _filesystem(protocol_of(url), os.getpid())
    return fs, fs._strip_protocol(url)


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind an exception or its cause (aiohttp, botocore), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status", None)
        if isinstance(status, int):
            return status
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(code, int):
                return code
        current = current.__cause__ or current.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may succeed: a 5xx / 408 / 425 / 429 answer, a dropped connection, a
    timeout. A missing object, a refused permission or a 4xx answer is permanent."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    status = _status(exc)
    if status is not None:
        return status >= 500 or status in _RETRY_STATUS
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    # the network errors of aiohttp, botocore and fsspec by name (ServerDisconnectedError is a
    # ClientConnectionError, EndpointConnectionError, FSTimeoutError, ClientPayloadError, ...);
    # a plain OSError (a file that is not Parquet) or a missing credential is not retried
    names = [cls.__name__ for cls in type(exc).__mro__]
    if any("Credential" in name for name in names):
        return False
    return any(word in name for name in names for word in ("Timeout", "Connection", "Payload", "IncompleteRead"))


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, with URLs redacted."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text if isinstance(exc, OSError) else f"{type(exc).__name__}: {text}")


def attempts() -> int:
    """Attempts per remote call: ``CURATE_REMOTE_ATTEMPTS`` when set, else :data:`REMOTE_ATTEMPTS`."""
    raw = os.environ.get("CURATE_REMOTE_ATTEMPTS")
    if raw is None:
        return REMOTE_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"CURATE_REMOTE_ATTEMPTS must be a whole number of at least 1, got {raw!r}")
    return value


def retrying(url: str, operation: Callable[[], T]) -> T:
    """``operation()``, retried on transient failures (:func:`is_transient`).

    A missing object or a refused permission is raised as the ``OSError`` it is (a sample then
    records "file not found" / "permission denied", as for a local file); exhausted retries or
    any other failure raise :class:`RemoteReadError` naming ``url``.
    """
    tries = attempts()
    for attempt in range(1, tries + 1):
        try:
            return operation()
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise RemoteReadError(f"cannot read {redact(url)}: {describe(exc)}") from None
            if attempt == tries:
                raise RemoteReadError(
                    f"cannot read {redact(url)}: {describe(exc)} (gave up after {tries} attempts; "
                    "CURATE_REMOTE_ATTEMPTS sets how many)"
                ) from None
            time.sleep(REMOTE_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def read_url(url: str, start: int | None = None, end: int | None = None) -> bytes:
    """The bytes of ``url`` (``[start, end)`` when given), retried on transient failures."""
    fs, path = filesystem(url)
    return retrying(url, lambda: fs.cat_file(path, start=start, end=end))


def open_url(url: str) -> Any:
    """A seekable binary file object reading ``url`` through fsspec: each read fetches ranges of
    at most :data:`REMOTE_BLOCK_BYTES` ahead, which bounds the memory of a stream."""
    fs, path = filesystem(url)
    return retrying(url, lambda: fs.open(path, "rb", block_size=REMOTE_BLOCK_BYTES, cache_type="readahead"))


def url_info(url: str, *, invalidate: bool = True) -> dict[str, Any] | None:
    """fsspec's ``info`` of ``url`` (``type`` file / directory, ``size``, ...); None when
    nothing is there. ``invalidate`` first empties the filesystem's listing cache (listings
    cached by earlier calls in this process may be stale); a caller asking about many URLs
    empties it once instead."""
    fs, path = filesystem(url)
    if invalidate:
        fs.invalidate_cache()
    try:
        return retrying(url, lambda: fs.info(path))
    except FileNotFoundError:
        return None


#: HEAD (or stat) requests in flight at once when the URLs of a manifest are checked for changes
STAT_WORKERS = 16


def url_stats(urls: Sequence[str], *, workers: int = STAT_WORKERS) -> dict[str, dict[str, int] | None]:
    """:func:`url_stat` of each of ``urls`` (a manifest's cells), asked concurrently: one HEAD
    (or the store's stat) per URL instead of a download, so a re-index reuses the rows of objects
    that were not replaced. None for a URL that cannot be described (missing, refused after its
    retries, a server that gives neither a time nor a version): it is then read in full, and a
    failure is reported there with its reason."""

    def one(url: str) -> dict[str, int] | None:
        try:
            info = url_info(url, invalidate=False)
        except (DataError, OSError):
            return None
        return url_stat(info) if info else None

    if not urls:
        return {}
    for url in {protocol_of(u): u for u in urls}.values():  # each filesystem's cache, emptied once
        filesystem(url)[0].invalidate_cache()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls)))) as pool:
        return dict(zip(urls, pool.map(one, urls)))


def list_tree(url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(POSIX path relative to ``url``, fsspec info) of every file under the prefix ``url``,
    sorted by path."""
    fs, root = filesystem(url)
    fs.invalidate_cache()
    found = retrying(url, lambda: fs.find(root, detail=True, withdirs=False))
    prefix = root.rstrip("/") + "/"
    for path, info in sorted(found.items()):
        if info.get("type", "file") != "file" or not path.startswith(prefix):
            continue
        yield path[len(prefix) :], info


def join_url(base: str, rel: str) -> str:
    """``base`` (a URL prefix) + ``/`` + ``rel``."""
    return base.rstrip("/") + "/" + rel


def _timestamp_ns(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000_000)
    if isinstance(value, int | float):
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000_000)
        except ValueError:
            pass
        try:  # an HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT"
            return int(parsedate_to_datetime(value).timestamp() * 1_000_000_000)
        except (TypeError, ValueError, IndexError):
            return None
    return None


def url_stat(info: dict[str, Any]) -> dict[str, int] | None:
    """samples.parquet's ``file_stat`` for a remote object: its size, last-modified time
    (``mtime_ns``) and a digest of its version tag (ETag, GCS generation; ``ctime_ns``), so a
    re-index reuses the row of an object that was not replaced. None when the store gives
    neither a time nor a version (the object is then read on every index)."""
    size = info.get("size")
    mtime = next(
        (
            t
            for key in ("LastModified", "mtime", "updated", "last_modified", "modified", "Last-Modified")
            if (t := _timestamp_ns(info.get(key))) is not None
        ),
        None,
    )
    version = next((str(info[k]) for k in ("ETag", "etag", "generation", "md5Hash") if info.get(k)), None)
    if not isinstance(size, int) or (mtime is None and version is None):
        return None
    tag = int.from_bytes(hashlib.blake2b((version or "").encode(), digest_size=8).digest(), "big", signed=True)
    return {"size": size, "mtime_ns": mtime or 0, "ctime_ns": tag if version else 0}
