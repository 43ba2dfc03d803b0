"""``discreet serve``: the ASGI app on uvicorn, with access logging off."""

from __future__ import annotations

from pathlib import Path

from discreet.errors import RepositoryError
from discreet.privacy.aggregate import DEFAULT_MIN_REPORTS
from discreet.publish.repository import PublisherRepository
from discreet.server.app import create_app
from discreet.server.storage import ReportStore
from discreet.server.wire import Limits


def serve(
    repo_path: str | Path,
    db_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    min_reports: int = DEFAULT_MIN_REPORTS,
    limits: Limits | None = None,
) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully.

    Access logging is off, so no client address or user agent is ever
    written anywhere; only warnings and errors about the service itself are logged.
    """
    try:
        import uvicorn
    except ImportError:
        raise RepositoryError(
            "the server needs the 'server' extra: pip install 'discreet[server]'"
        ) from None
    store = ReportStore(db_path)
    try:
        app = create_app(
            PublisherRepository.open(repo_path),
            store,
            limits=limits,
            min_reports=min_reports,
            close_store_on_shutdown=True,
        )
    except BaseException:
        store.close()
        raise
    # On SIGTERM/SIGINT uvicorn finishes in-flight requests, runs the app's shutdown
    # (which closes the store), then re-raises the signal as the process's exit status.
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
