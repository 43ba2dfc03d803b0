"""Serving the kiosk page on loopback with uvicorn, until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from discreet.engine import Engine
from discreet.errors import CatalogNotInstalledError
from discreet.i18n import _
from discreet.server.run import (
    ACCEPT_BACKLOG,
    bind_listener,
    guarded_config,
    require_server_extra,
)
from discreet.sync.installed import InstalledCatalogs

#: The page listens here only: a kiosk's browser runs on the same machine.
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8765


def serve_kiosk(
    home: Path,
    ready: Callable[[str], None],
    *,
    port: int = DEFAULT_PORT,
    idle_seconds: float = 300.0,
) -> None:
    """Serve the kiosk page over the catalog installed in ``home``, keeping nothing.

    ``ready`` is called with the page's URL once the port is bound (``port=0``
    binds a free one). Raises :class:`CatalogNotInstalledError` without a
    catalog, :class:`ServiceAddressError` if the port is taken, and
    :class:`MissingDependencyError` without the ``server`` extra; nothing is
    written to disk in any case.
    """
    require_server_extra()
    import uvicorn

    from discreet.kiosk_web.app import create_app

    if InstalledCatalogs(home).current() is None:
        raise CatalogNotInstalledError(
            _(
                "no catalog installed here; run 'discreet sync' first, "
                "or 'discreet kiosk --web --demo'"
            )
        )
    listener = bind_listener(LOOPBACK, port)
    with (
        contextlib.closing(listener),
        Engine.open(home, kiosk=True, idle_seconds=idle_seconds) as engine,
    ):
        engine.catalog  # noqa: B018 - open the catalog (and fail on a bad one) before announcing
        server = uvicorn.Server(guarded_config(create_app(engine, idle_seconds)))
        listener.listen(ACCEPT_BACKLOG)  # a browser that connects now waits until uvicorn runs
        ready(f"http://{LOOPBACK}:{listener.getsockname()[1]}")
        with contextlib.suppress(KeyboardInterrupt):  # SIGINT ends the page quietly
            server.run(sockets=[listener])
