"""Running the real service for tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from discreet.publish.repository import PublisherRepository
from discreet.server.app import create_app
from discreet.server.storage import ReportStore
from discreet.server.wire import Limits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Running:
    url: str
    port: int
    store: ReportStore


@contextmanager
def running_service(
    repo: PublisherRepository, db: Path, *, min_reports: int = 1, limits: Limits | None = None
) -> Iterator[Running]:
    store = ReportStore(db)
    app = create_app(repo, store, min_reports=min_reports, limits=limits)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{port}", port, store)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request; returns status, headers and the decoded JSON body (or raw bytes)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, got, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, got, raw = exc.code, dict(exc.headers), exc.read()
        exc.close()
    try:
        return status, got, json.loads(raw)
    except ValueError:
        return status, got, raw
