"""Running the real service for tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from discreet.protocol.wire import Limits
from discreet.publish.repository import PublisherRepository
from discreet.server.run import BackgroundService
from discreet.server.storage import ReportStore


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
    try:
        with BackgroundService(repo, store, min_reports=min_reports, limits=limits) as service:
            yield Running(service.url, service.port, store)
    finally:
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


@contextmanager
def forwarding_proxy() -> Iterator[tuple[str, list[str]]]:
    """A minimal HTTP proxy on loopback that records every URL it forwards."""
    import http.server

    seen: list[str] = []

    class Forward(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            seen.append(self.path)  # an absolute URL, as clients send to proxies
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")}
            request = urllib.request.Request(
                self.path, data=body, method=self.command, headers=headers
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=10) as response:
                    status, data = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
                exc.close()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _forward  # noqa: N815 (the standard library's names)
        do_POST = _forward  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def start_service_process(
    repo: Path, db: Path, port: int, *extra: str, stderr: int | None = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``discreet serve`` in a process of its own, once it answers ``/healthz``."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "discreet",
            "serve",
            "--repo",
            str(repo),
            "--db",
            str(db),
            "--port",
            str(port),
            "--min-reports",
            "1",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    return process
            except (OSError, HTTPException):
                pass
            time.sleep(0.05)
        raise RuntimeError("the service did not start")
    except BaseException:
        process.kill()  # never leave a server behind, whatever went wrong
        process.wait()
        raise
