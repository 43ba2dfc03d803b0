"""A Dask cluster for the publisher's and the aggregators' heavy work (``--dask``).

``--dask local`` starts a LocalCluster on this machine (one single-threaded
worker process per core by default); ``--dask tcp://HOST:PORT`` (or
``tls://...``) joins a running scheduler, on Kubernetes, Slurm, YARN or plain
machines. Dask is the optional extra ``discreet[dask]``: nothing imports it
unless ``--dask`` is given.

Dask moves task arguments and results between the client, the scheduler and
the workers with pickle: a cluster is one trust domain. Run it on the
operator's own network, with TLS and its security settings where the network
is shared, and never let anyone else's scheduler or workers join it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from discreet.errors import ClusterUnavailableError, MissingDependencyError
from discreet.i18n import _

__all__ = ["LOCAL", "add_dask_option", "open_client", "require_dask_extra"]

#: The ``--dask`` value that starts a cluster on this machine.
LOCAL = "local"
#: Seconds to wait for a scheduler, or for a local cluster's workers.
CONNECT_TIMEOUT = 30


def add_dask_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--dask local|tcp://HOST:PORT``; ``what`` says what runs on the cluster."""
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help=_(
            "{what}: 'local' starts a cluster on this machine, tcp://HOST:PORT joins a "
            "running scheduler (needs the dask extra)"
        ).format(what=what),
    )


def require_dask_extra() -> None:
    """Raise :class:`MissingDependencyError`, saying what to install, without the extra."""
    for module in ("dask", "distributed"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(
                _(
                    "--dask needs {module}, which is not installed; "
                    "install the dask extra: pip install 'discreet[dask]'"
                ).format(module=module)
            ) from None


@contextlib.contextmanager
def open_client(
    address: str,
    *,
    workers: int | None = None,
    processes: bool = True,
    timeout: float = CONNECT_TIMEOUT,
) -> Iterator[Any]:
    """A ``distributed.Client`` on ``address`` (:data:`LOCAL` or a scheduler's address).

    A local cluster has ``workers`` single-threaded workers (default: one per
    core), processes unless ``processes`` is false, and is shut down on exit;
    a remote scheduler is only disconnected from. Raise
    :class:`ClusterUnavailableError` if it cannot be reached in ``timeout`` seconds.
    """
    require_dask_extra()
    distributed: Any = importlib.import_module("distributed")  # untyped: used as Any
    Client, LocalCluster = distributed.Client, distributed.LocalCluster  # noqa: N806

    try:
        if address == LOCAL:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=":0",  # a free port: never in use by another cluster
                silence_logs=50,  # logging.CRITICAL: the CLI's output stays its own
            )
            client = Client(cluster, timeout=timeout)
        else:
            cluster = None
            client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailableError(
            _(
                "the Dask cluster at {address} cannot be used ({error}); "
                "start its scheduler, or use --dask local"
            ).format(address=address, error=exc)
        ) from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
