"""``discreet serve --role leader|helper``: one aggregator on uvicorn, access logging off."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from discreet.cluster import open_client, require_dask_extra
from discreet.errors import RepositoryError, SecureAggregationError
from discreet.secagg import hpke
from discreet.secagg.task import Task, read_secrets
from discreet.server.run import (
    HEADER_TIMEOUT,
    MAX_CONNECTIONS,
    _announce,
    _listening_server,
    bind_listener,
    guarded_config,
    require_server_extra,
)
from discreet.server.storage import require_database_folder

__all__ = ["ROLES", "serve_aggregator"]

ROLES = ("leader", "helper")


def serve_aggregator(
    role: str,
    *,
    task_path: Path,
    key_path: Path,
    secrets_path: Path,
    db_path: Path,
    helper_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    ready: Callable[[str], None] = _announce,
    dask: str | None = None,
) -> None:
    """Run the leader or the helper until SIGINT/SIGTERM.

    The task, the key pair, the secrets, the database's folder and the address are
    all checked before anything is announced; then ``ready`` gets the URL (by
    default ``listening on http://HOST:PORT`` is printed, with the port bound).
    Slow clients are held off as by the catalog service (``header_timeout``,
    ``max_connections``: see :func:`discreet.server.run.guarded_config`).
    With ``dask`` (``local`` or a scheduler's address) the reports are prepared as
    Dask tasks (see :mod:`discreet.secagg.partitions`).
    """
    require_server_extra()
    from discreet.server.secagg.helper import create_helper_app
    from discreet.server.secagg.leader import create_leader_app
    from discreet.server.secagg.store import AggregatorStore

    if role not in ROLES:
        raise SecureAggregationError(f"the role is one of {', '.join(ROLES)}")
    if role == "leader" and not helper_url:
        raise SecureAggregationError("the leader needs the helper's URL (--helper URL)")
    task = Task.load(task_path)
    keypair = hpke.read_keypair(key_path)
    expected = task.leader_config if role == "leader" else task.helper_config
    if keypair.config != expected:
        raise SecureAggregationError(
            f"{key_path} is not the {role}'s key pair named in {task_path}; check --key"
        )
    secrets = read_secrets(secrets_path)
    require_database_folder(db_path)
    if dask is not None:
        require_dask_extra()
    listener = bind_listener(host, port)
    store = AggregatorStore(db_path, task)
    stack = contextlib.ExitStack()
    try:
        cluster = stack.enter_context(open_client(dask)) if dask is not None else None
        app = (
            create_leader_app(task, keypair, secrets, store, helper_url, cluster)
            if helper_url is not None and role == "leader"
            else create_helper_app(task, keypair, secrets, store, cluster)
        )
        server = _listening_server(
            guarded_config(app, header_timeout, max_connections),
            lambda bound: ready(f"http://{host}:{bound}"),
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
        if not server.started:
            raise RepositoryError(f"the {role} did not start; see the error above")
    finally:
        stack.close()
        listener.close()
        store.close()
