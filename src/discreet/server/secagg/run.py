"""``discreet serve --role leader|helper``: one aggregator on uvicorn, access logging off.

An aggregator serves one task or several (DAP's shape): each task keeps its own
key pair, secrets, noise plan, minimum batch and database, and its routes sit
under ``/tasks/{task id}`` (the task id in base64url, as in DAP's URLs). With a
single task they are also served at the root, the first release's routes, so
that a format-1 manifest's devices keep uploading where they did. The leader
reaches a task's helper routes under the same path (at the root when it serves a
single task).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet.cluster import open_client, require_dask_extra
from discreet.errors import RepositoryError, SecureAggregationError
from discreet.i18n import _
from discreet.secagg import hpke
from discreet.secagg.mode import task_url
from discreet.secagg.task import AggregatorSecrets, Task, b64, read_secrets
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

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from discreet.server.secagg.store import AggregatorStore

__all__ = ["ROLES", "TaskSource", "serve_aggregator", "task_database"]

ROLES = ("leader", "helper")


@dataclass(frozen=True)
class TaskSource:
    """The files an aggregator reads for one task."""

    task: Path
    key: Path
    secrets: Path

    @classmethod
    def folder(cls, folder: Path, role: str) -> TaskSource:
        """A task folder as :func:`~discreet.secagg.task.create_task` writes it."""
        return cls(folder / "task.json", folder / f"{role}.key", folder / f"{role}.secrets.json")


def task_database(db_path: Path, task: Task, several: bool) -> Path:
    """The task's database: ``db_path`` itself for a single task, else a file beside it
    named after the task id."""
    if not several:
        return db_path
    return db_path.with_name(f"{db_path.stem}.{b64(task.task_id)}{db_path.suffix}")


def serve_aggregator(
    role: str,
    *,
    tasks: Sequence[TaskSource],
    db_path: Path,
    helper_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    ready: Callable[[str], None] = _announce,
    dask: str | None = None,
) -> None:
    """Run the leader or the helper of ``tasks`` until SIGINT/SIGTERM.

    The tasks, the key pairs, the secrets, the database's folder and the address are
    all checked before anything is announced; then ``ready`` gets the URL (by
    default ``listening on http://HOST:PORT`` is printed, with the port bound).
    Slow clients are held off as by the catalog service (``header_timeout``,
    ``max_connections``: see :func:`discreet.server.run.guarded_config`).
    With ``dask`` (``local`` or a scheduler's address) the reports are prepared as
    Dask tasks (see :mod:`discreet.secagg.partitions`).
    """
    require_server_extra()
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from discreet.server.secagg.store import AggregatorStore

    if role not in ROLES:
        raise SecureAggregationError(_("the role is one of {join}").format(join=", ".join(ROLES)))
    if role == "leader" and not helper_url:
        raise SecureAggregationError(_("the leader needs the helper's URL (--helper URL)"))
    if not tasks:
        raise SecureAggregationError(_("an aggregator serves at least one task (--task)"))
    loaded = [_load(role, source) for source in tasks]
    if len({served.task.task_id for served in loaded}) != len(loaded):
        raise SecureAggregationError(_("a task is given twice; give each --task once"))
    several = len(loaded) > 1
    require_database_folder(db_path)
    if dask is not None:
        require_dask_extra()
    listener = bind_listener(host, port)
    stores: list[AggregatorStore] = []
    stack = contextlib.ExitStack()
    try:
        cluster = stack.enter_context(open_client(dask)) if dask is not None else None
        apps = []
        for served in loaded:
            stores.append(
                AggregatorStore(task_database(db_path, served.task, several), served.task)
            )
            apps.append(served.app(role, stores[-1], helper_url, several, cluster))
        mounts = [
            Mount(f"/tasks/{b64(served.task.task_id)}", app=app)
            for served, app in zip(loaded, apps, strict=True)
        ]
        if not several:
            mounts.append(Mount("", app=apps[0]))
        server = _listening_server(
            guarded_config(Starlette(routes=mounts), header_timeout, max_connections),
            lambda bound: ready(f"http://{host}:{bound}"),
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
        if not server.started:
            raise RepositoryError(
                _("the {role} did not start; see the error above").format(role=role)
            )
    finally:
        stack.close()
        listener.close()
        for store in stores:
            store.close()


@dataclass(frozen=True)
class _Served:
    """One task as an aggregator serves it: the task, its key pair and its secrets."""

    task: Task
    keypair: hpke.HpkeKeyPair
    secrets: AggregatorSecrets

    def app(
        self,
        role: str,
        store: AggregatorStore,
        helper_url: str | None,
        several: bool,
        cluster: Any = None,
    ) -> Starlette:
        """The task's app (its routes at its own root)."""
        from discreet.server.secagg.helper import create_helper_app
        from discreet.server.secagg.leader import create_leader_app

        if role == "leader" and helper_url is not None:
            helper = task_url(helper_url, self.task) if several else helper_url
            return create_leader_app(self.task, self.keypair, self.secrets, store, helper, cluster)
        return create_helper_app(self.task, self.keypair, self.secrets, store, cluster)


def _load(role: str, source: TaskSource) -> _Served:
    """A task's files, the key pair checked against the task."""
    task = Task.load(source.task)
    keypair = hpke.read_keypair(source.key)
    expected = task.leader_config if role == "leader" else task.helper_config
    if keypair.config != expected:
        raise SecureAggregationError(
            _("{key_path} is not the {role}'s key pair named in {task_path}; check --key").format(
                key_path=source.key, role=role, task_path=source.task
            )
        )
    return _Served(task, keypair, read_secrets(source.secrets))
