"""``discreet serve``: the ASGI app on uvicorn, with access logging off."""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from pathlib import Path

from discreet.errors import MissingDependencyError, RepositoryError
from discreet.protocol.wire import Limits
from discreet.publish.repository import Expiries, PublisherRepository
from discreet.server.aggregate import DEFAULT_MIN_REPORTS
from discreet.server.storage import ReportStore
from discreet.server.upkeep import MetadataKeeper

#: What the service runs on, from the ``server`` extra (imported only when serving).
SERVER_EXTRA = ("starlette", "uvicorn")


def require_server_extra() -> None:
    """Raise :class:`MissingDependencyError`, saying what to install, without the extra."""
    for module in SERVER_EXTRA:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(
                f"the service needs {module}, which is not installed; "
                "install the server extra: pip install 'discreet[server]'"
            ) from None


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
) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully.

    Access logging is off, so no client address or user agent is ever
    written anywhere; only warnings and errors about the service itself are logged.
    With ``keep_metadata_fresh`` (the default) the service re-signs the
    timestamp and snapshot before they expire (see :mod:`discreet.server.upkeep`),
    which needs their keys beside the repository; ``metadata_lifetimes`` are the
    validity periods it signs with (the defaults of :class:`Expiries` if not given).
    Without the ``server`` extra it raises :class:`MissingDependencyError`.
    """
    require_server_extra()
    import uvicorn

    from discreet.server.app import create_app

    store = ReportStore(db_path)
    repo = PublisherRepository.open(repo_path)
    try:
        app = create_app(
            repo,
            store,
            limits=limits,
            min_reports=min_reports,
            close_store_on_shutdown=True,
        )
    except BaseException:
        store.close()
        raise
    keeper = (
        MetadataKeeper(repo, lifetimes=metadata_lifetimes)
        if keep_metadata_fresh
        else contextlib.nullcontext()
    )
    # On SIGTERM/SIGINT uvicorn finishes in-flight requests, runs the app's shutdown
    # (which closes the store), then re-raises the signal as the process's exit status.
    with keeper:
        uvicorn.run(
            app,
            host=host,
            port=port,
            access_log=False,
            log_level="warning",
            server_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
        )


class BackgroundService:
    """The service on a free loopback port, in a thread: for the demo and for tests.

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
    ) -> None:
        import socket

        require_server_extra()
        import uvicorn

        from discreet.server.app import create_app

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(repo, store, min_reports=min_reports, limits=limits)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="discreet-service", daemon=True
        )

    def __enter__(self) -> BackgroundService:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RepositoryError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(15)
