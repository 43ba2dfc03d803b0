"""Running the real service for tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import json
import queue
import re
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from socketserver import BaseRequestHandler
from typing import IO, Any

from discreet.protocol.wire import Limits
from discreet.publish.repository import PublisherRepository
from discreet.server.run import BackgroundService
from discreet.server.storage import ReportStore


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so no one else takes it), not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        yield port


@contextmanager
def static_folder(folder: Path) -> Iterator[str]:
    """``folder`` served over real HTTP on a free loopback port, as a plain web server would."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

    with serving(functools.partial(Quiet, directory=str(folder))) as url:
        yield url


@contextmanager
def serving(handler: Callable[..., BaseRequestHandler]) -> Iterator[str]:
    """A threading HTTP server with ``handler`` on a free loopback port: its URL."""
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Running:
    url: str
    port: int
    store: ReportStore


@contextmanager
def running_service(
    repo: PublisherRepository,
    db: Path,
    *,
    min_reports: int = 1,
    limits: Limits | None = None,
    rescan_seconds: float = 2.0,
) -> Iterator[Running]:
    store = ReportStore(db)
    try:
        with BackgroundService(
            repo, store, min_reports=min_reports, limits=limits, rescan_seconds=rescan_seconds
        ) as service:
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


@dataclass
class ServiceProcess:
    """``discreet serve`` running in a process of its own, on the port it reported."""

    process: subprocess.Popen[bytes]
    port: int
    output: list[bytes]  # the lines it printed up to "listening on"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


LISTENING = re.compile(rb"^listening on http://127\.0\.0\.1:(\d+)$")


def start_service_process(
    repo: Path,
    db: Path,
    *extra: str,
    stderr: int | None = subprocess.DEVNULL,
    open_files: int | None = None,
) -> ServiceProcess:
    """``discreet serve --port 0`` in a process of its own, once it says where it listens.

    ``open_files`` limits the files it may have open (soft and hard, as ``ulimit -n``).
    """
    return start_listening_process(
        ["--repo", str(repo), "--db", str(db), "--min-reports", "1", *extra],
        stderr=stderr,
        open_files=open_files,
    )


def start_listening_process(
    serve_args: list[str],
    *,
    stderr: int | None = subprocess.DEVNULL,
    open_files: int | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> ServiceProcess:
    """``discreet serve --port 0 ARGS`` in a process of its own, once it says where it
    listens (the catalog service, or an aggregator with ``--role``); or ``command``
    instead of ``discreet serve --port 0``, in the environment ``env`` if given."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    if command is None:
        command = [sys.executable, "-m", "discreet", "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, *serve_args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        preexec_fn=None if open_files is None else limit,
    )
    assert process.stdout is not None
    lines: queue.Queue[bytes | None] = queue.Queue()
    output: list[bytes] = []

    def read_stdout(stdout: IO[bytes]) -> None:  # drained to the end, so it never blocks
        with stdout:
            for line in stdout:
                lines.put(line.rstrip())
        lines.put(None)  # end of output: the process has gone

    threading.Thread(target=read_stdout, args=(process.stdout,), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the service did not report a port within 60 s") from None
            if line is None:
                raise RuntimeError(f"the service exited ({process.wait(10)}) before listening")
            output.append(line)
            if match := LISTENING.match(line):
                return ServiceProcess(process, int(match.group(1)), output)
    except BaseException:
        process.kill()  # never leave a server behind, whatever went wrong
        process.wait()
        raise


def asgi_request(
    app: Any,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, bytes]:
    """One request to an ASGI app, in process (no socket, no HTTP parser in between).

    The app sees exactly the path, query and headers given, which an HTTP
    parser might have refused before; any exception it raises propagates.
    """
    import asyncio
    from urllib.parse import quote

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path.encode("utf-8", "surrogateescape")).encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers if headers is not None else [(b"host", b"test")],
        "client": None,
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: no disconnect while the app answers
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, f"{method} {path}: {len(starts)} response starts"
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(starts[0]["status"]), answer
