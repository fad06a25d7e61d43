"""Connecting to a Ray cluster for ``--engine ray``: the one at ``--address``, the ambient one
(``RAY_ADDRESS``, or a driver already connected), or a local one started for the run."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curate.errors import ClusterError, UsageError

#: How long ``--address`` may take to accept a TCP connection before the run gives up; Ray's own
#: connection attempt retries for about a minute before failing.
PROBE_TIMEOUT_S = 5.0

INSTALL_HINT = "--engine ray needs Ray: pip install 'curate[ray]'"


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster a run uses: ``address`` (as given, or ``local``), alive ``nodes``, and the
    ``cpus`` / ``gpus`` it has in all."""

    address: str
    nodes: int
    cpus: float
    gpus: float

    def actor_device(self, device: str) -> str:
        """The torch device the encoder actors use for ``--device`` (cuda on a cluster with
        GPUs under ``auto``); a device the cluster lacks is a :class:`UsageError`."""
        if device == "auto":
            return "cuda" if self.gpus >= 1 else "cpu"
        if device == "cuda" and self.gpus < 1:
            raise UsageError(f"--device cuda was asked for but the Ray cluster at {self.address} has no GPU")
        if device == "mps":
            raise UsageError("--device mps is not available with --engine ray; use auto, cuda or cpu")
        return device


def ray_module() -> Any:
    """``import ray``, or a :class:`UsageError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _probe(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--address {address!r}: expected HOST:PORT (a Ray head node's GCS address)")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {address} ({exc.strerror or exc})") from None


@contextlib.contextmanager
def ray_cluster(address: str | None = None) -> Iterator[ClusterInfo]:
    """Connect this process to a Ray cluster for the duration of the block.

    ``address`` (``HOST:PORT``) is checked to answer within :data:`PROBE_TIMEOUT_S` first; None
    takes the ambient cluster (``RAY_ADDRESS``) or starts a local one. A process already
    connected keeps its connection (and is left connected); one connected here is disconnected
    afterwards (a local cluster started here is stopped).
    """
    ray = ray_module()
    connected_here = False
    if not ray.is_initialized():
        if address:
            _probe(address)
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"cannot connect to the Ray cluster at {address or 'RAY_ADDRESS'}: {exc}") from None
        connected_here = True
    try:
        resources = ray.cluster_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        info = ClusterInfo(
            address=address or ray.get_runtime_context().gcs_address,
            nodes=nodes,
            cpus=float(resources.get("CPU", 0)),
            gpus=float(resources.get("GPU", 0)),
        )
        yield info
    finally:
        if connected_here:
            ray.shutdown()
