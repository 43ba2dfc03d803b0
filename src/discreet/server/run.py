"""``discreet serve``: the ASGI app on uvicorn, with access logging off.

Port 0 asks the OS for a free port, so that nothing races for one: the bound port
is reported once the service accepts connections (a ``listening on URL`` line from
:func:`serve`, :attr:`BackgroundService.port` in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet.errors import MissingDependencyError, RepositoryError, ServiceAddressError
from discreet.i18n import _
from discreet.protocol.wire import Limits
from discreet.publish.repository import Expiries, PublisherRepository
from discreet.server.aggregate import DEFAULT_MIN_REPORTS
from discreet.server.storage import ReportStore, require_database_folder
from discreet.server.upkeep import MetadataKeeper

logger = logging.getLogger("discreet.server")

#: Seconds a client has to send a request's headers (the body has ``Limits.body_timeout``).
HEADER_TIMEOUT = 10.0
#: Open connections at most. With the accept backlog and the reserve below, within the
#: usual limit of 1,024 open files (see :func:`connection_cap`).
MAX_CONNECTIONS = 800
#: Connections waiting to be accepted, and so the most accepted at once (uvicorn's
#: default, 2,048, lets one burst of connections take every file descriptor left).
ACCEPT_BACKLOG = 64
#: File descriptors kept for everything but connections: the database and its
#: journal, the repository's files, the listening socket, the interpreter's own.
FILE_RESERVE = 64
#: What the service runs on, from the ``server`` extra (imported only when serving).
SERVER_EXTRA = ("starlette", "uvicorn", "prometheus_client", "yaml")


def connection_cap(requested: int) -> int:
    """The most connections that fit the process's limit of open files, up to ``requested``.

    Connections, a burst of :data:`ACCEPT_BACKLOG` being accepted and
    :data:`FILE_RESERVE` must fit under the limit; the soft limit is raised
    towards the hard one first. Past the limit, connections would not be
    refused with a 503 but fail to be accepted at all.
    """
    try:
        import resource
    except ImportError:  # no such limit to query on this platform
        return requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = requested + ACCEPT_BACKLOG + FILE_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft - ACCEPT_BACKLOG - FILE_RESERVE))


def require_server_extra() -> None:
    """Raise :class:`MissingDependencyError`, saying what to install, without the extra."""
    for module in SERVER_EXTRA:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(
                _(
                    "the service needs {module}, which is not installed; install "
                    "the server extra: pip install 'discreet[server]'"
                ).format(module=module)
            ) from None


if TYPE_CHECKING:
    import uvicorn


def guarded_config(
    app: Any,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> uvicorn.Config:
    """uvicorn's settings for every role we serve: the slow-client guards, no access log.

    Logging is the process's (see :func:`discreet.server.logs.configure_logging`).

    A client gets ``header_timeout`` seconds to send a request's headers, at
    most ``max_connections`` connections are open at once (fewer, with a
    warning, if the limit of open files is too low: :func:`connection_cap`),
    and at most :data:`ACCEPT_BACKLOG` wait to be accepted.
    """
    import uvicorn

    from discreet.server._protocol import guarded_protocol

    cap = connection_cap(max_connections)
    if cap < max_connections:
        logger.warning(
            "at most %d connections at once, not %d: the limit of open files is too low "
            "(raise it with 'ulimit -n')",
            cap,
            max_connections,
        )
    return uvicorn.Config(
        app,
        http=guarded_protocol(header_timeout, cap),
        backlog=ACCEPT_BACKLOG,
        access_log=False,
        # uvicorn's loggers are left as the process set them (discreet.server.logs), at
        # warning by default: uvicorn neither installs handlers nor sets levels of its own.
        log_config=None,
        log_level=None,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )


def _announce(url: str) -> None:
    print(f"listening on {url}", flush=True)


def _listening_server(config: uvicorn.Config, listening: Callable[[int], None]) -> uvicorn.Server:
    """A uvicorn server that calls ``listening(port)`` once it accepts connections."""
    import uvicorn

    from discreet.server._protocol import count_accept_failures

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            count_accept_failures(asyncio.get_running_loop())
            await super().startup(sockets)
            if self.started:  # with port 0, only the bound socket knows the port
                listening(int(self.servers[0].sockets[0].getsockname()[1]))

    return Server(config)


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (``port=0``: a free one), or :class:`ServiceAddressError`.

    Bound before anything is announced, so that a port in use is one line of error.
    """
    where = f"{host}:{port}"
    advice = "choose another --port (0 picks a free one) or --host"
    try:
        family, kind, proto, _canonname, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except (OSError, OverflowError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ServiceAddressError(
            _("cannot listen on {where}: {reason}; {advice}").format(
                where=where, reason=reason, advice=advice
            )
        ) from None
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":
            # As uvicorn does: a restart may bind while old connections linger in TIME_WAIT.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except (OSError, OverflowError) as exc:
        listener.close()
        reason = getattr(exc, "strerror", None) or exc
        raise ServiceAddressError(
            _("cannot listen on {where}: {reason}; {advice}").format(
                where=where, reason=reason, advice=advice
            )
        ) from None
    return listener


def serve(
    repo_path: str | Path,
    db_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    min_reports: int = DEFAULT_MIN_REPORTS,
    limits: Limits | None = None,
    keep_metadata_fresh: bool = True,
    metadata_lifetimes: Expiries | None = None,
    central_noise: float | None = None,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    starting: Callable[[str], None] | None = None,
    ready: Callable[[str], None] = _announce,
) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully.

    Everything that can be wrong with the arguments is checked first, before
    anything is created or announced: the repository must exist
    (:class:`RepositoryNotFoundError`), the database's folder too
    (``FileNotFoundError``; the database itself is created if new), and the
    address must be free (:class:`ServiceAddressError`). Then ``starting`` is
    called with the service's URL, and, once it accepts connections, ``ready``
    (by default it prints ``listening on http://HOST:PORT``, with the port
    actually bound). ``port=0`` binds a free port.

    Access logging is off, so no client address or user agent is ever
    written anywhere; only warnings and errors about the service itself are logged.
    With ``keep_metadata_fresh`` (the default) the service re-signs the
    timestamp and snapshot before they expire (see :mod:`discreet.server.upkeep`),
    which needs their keys beside the repository; ``metadata_lifetimes`` are the
    validity periods it signs with (the defaults of :class:`Expiries` if not given).
    ``central_noise`` adds Laplace noise of that scale to the published estimates,
    drawn from the OS CSPRNG once per release and kept in the database.
    A client gets ``header_timeout`` seconds to send a request's headers, and
    at most ``max_connections`` connections are open at once (fewer, with a
    warning, if the limit of open files is too low: :func:`connection_cap`);
    one more makes room by dropping the one that has waited longest for its
    headers, or is answered 503 (see :mod:`discreet.server._protocol`).
    Without the ``server`` extra it raises :class:`MissingDependencyError`.
    """
    require_server_extra()

    from discreet.server.app import create_app

    repo = PublisherRepository.open(repo_path)
    require_database_folder(db_path)  # before binding, as the store would only after
    listener = bind_listener(host, port)
    try:
        store = ReportStore(db_path)
    except BaseException:
        listener.close()
        raise
    try:
        app = create_app(
            repo,
            store,
            limits=limits,
            min_reports=min_reports,
            close_store_on_shutdown=True,
            central_noise=central_noise,
        )
    except BaseException:
        listener.close()
        store.close()
        raise
    keeper = (
        MetadataKeeper(repo, lifetimes=metadata_lifetimes)
        if keep_metadata_fresh
        else contextlib.nullcontext()
    )
    # On SIGTERM/SIGINT uvicorn finishes in-flight requests, runs the app's shutdown
    # (which closes the store), then re-raises the signal as the process's exit status.
    config = guarded_config(app, header_timeout, max_connections)
    bound = int(listener.getsockname()[1])
    if starting is not None:
        starting(f"http://{host}:{bound}")
    server = _listening_server(config, lambda bound: ready(f"http://{host}:{bound}"))
    try:
        with keeper, contextlib.suppress(KeyboardInterrupt):  # SIGINT ends the service quietly
            server.run(sockets=[listener])
    except SystemExit:  # uvicorn exits with its own codes (3) on a failed startup
        server.started = False
    finally:
        listener.close()
    if not server.started:
        raise RepositoryError(_("the service did not start; see the error above"))


class BackgroundService:
    """The service on a free loopback port, in a thread: for the demo and for tests.

    The port is bound by the OS (port 0) and known once the service is entered.

    >>> with BackgroundService(repo, store) as service:  # doctest: +SKIP
    ...     sync_catalog(home, service.url, root=repo.trusted_root_path)
    """

    def __init__(
        self,
        repo: PublisherRepository,
        store: ReportStore,
        *,
        min_reports: int = DEFAULT_MIN_REPORTS,
        limits: Limits | None = None,
        rescan_seconds: float | None = None,
    ) -> None:
        require_server_extra()
        import uvicorn

        from discreet.server import app as service_app

        self.port = 0
        self.url = ""
        app = service_app.create_app(
            repo,
            store,
            min_reports=min_reports,
            limits=limits,
            rescan_seconds=service_app.RESCAN_SECONDS if rescan_seconds is None else rescan_seconds,
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
        self._listening = threading.Event()
        self._server = _listening_server(config, self._bound)
        self._thread = threading.Thread(
            target=self._server.run, name="discreet-service", daemon=True
        )

    def _bound(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._listening.set()

    def __enter__(self) -> BackgroundService:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._listening.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RepositoryError(_("the service did not start"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(15)
