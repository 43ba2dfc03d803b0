"""Slow clients cannot hold the service: a deadline for headers, a cap on connections.

``scripts/hostile/server_slowloris.py`` runs the attack at full scale (1,100 connections
against a limit of 1,024 open files).

A real ``discreet serve`` process and real sockets; every wait has a deadline.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.publish.repository import PublisherRepository
from discreet.server._protocol import DropLog
from discreet.server.run import ACCEPT_BACKLOG, FILE_RESERVE, MAX_CONNECTIONS
from tests.clock_support import ManualClock
from tests.server_support import http, start_service_process

HEADER_TIMEOUT = 1.0
CAP = 12
#: A limit of open files far below what the default cap needs.
OPEN_FILES = 200
HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def _answer_of(sock: socket.socket, within: float) -> bytes:
    """Everything the service sends until it closes the connection, within a deadline."""
    sock.settimeout(within)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.fixture
def served(repo: PublisherRepository, publish: Callable[..., object]) -> PublisherRepository:
    publish()
    return repo


def _half_sent(port: int, n: int) -> list[socket.socket]:
    """``n`` clients that each half-send a request and keep the connection open."""
    held = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(HALF_REQUEST)
        held.append(sock)
    return held


def _healthz(port: int) -> bytes:
    """A whole ``GET /healthz`` on a new connection, and everything the service answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return _answer_of(sock, within=10)


def test_half_sent_requests_are_dropped_and_the_cap_makes_room_or_answers_503(
    served: PublisherRepository, tmp_path: Path
) -> None:
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        service = start_service_process(
            served.path,
            tmp_path / "reports.db",
            "--header-timeout",
            str(HEADER_TIMEOUT),
            "--max-connections",
            str(CAP),
            stderr=stderr.fileno(),
        )
    slow: list[socket.socket] = []
    busy: list[socket.socket] = []
    try:
        # CAP clients each half-send a request and keep the connection open.
        slow = _half_sent(service.port, CAP)
        time.sleep(HEADER_TIMEOUT / 4)  # the service reads them (else the drop is a reset)
        # One more, with a whole request: the oldest half-sent one is dropped to make room.
        assert _healthz(service.port).startswith(b"HTTP/1.1 200")
        with slow.pop(0) as oldest:
            assert _answer_of(oldest, within=HEADER_TIMEOUT / 2).startswith(b"HTTP/1.1 408")
        # The other half-sent requests get 408 and are dropped, about HEADER_TIMEOUT after
        # their first byte (a generous bound: the machine may be busy).
        started = time.monotonic()
        for sock in slow:
            answer = _answer_of(sock, within=10)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert time.monotonic() - started < 8
        # With every connection busy with a request (a body still to come), there is no
        # room to make: one more is answered 503 at once, then closed.
        for _ in range(CAP):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
            sock.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            busy.append(sock)
        time.sleep(HEADER_TIMEOUT / 2)  # the service has read every one of them
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as extra:
            answer = _answer_of(extra, within=10)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        for sock in busy:
            sock.close()
        # A client trickling a byte at a time is dropped too: the deadline is not
        # reset by each byte, as uvicorn's keep-alive timeout is.
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as trickle:
            trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
            trickle.settimeout(0.2)  # pacing: one byte each time nothing came back
            first = time.monotonic()
            dropped = b""
            while time.monotonic() - first < 8:
                try:
                    dropped = trickle.recv(4096)
                    break
                except TimeoutError:
                    trickle.sendall(b"X")
            assert dropped.startswith(b"HTTP/1.1 408"), dropped[:80]
        # And the service still serves everyone else.
        assert http("GET", service.url + "/healthz")[0] == 200
    finally:
        for sock in slow + busy:
            sock.close()
        service.process.terminate()
        service.process.wait(30)
    # What was dropped is logged as a count, once a minute, not once per request.
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) <= 3, lines
    assert any("to make room" in line for line in lines), lines
    assert any("over the cap" in line for line in lines), lines
    assert not any("127.0.0.1" in line for line in lines), "a client address was logged"


def test_a_low_limit_of_open_files_lowers_the_cap_rather_than_run_out(
    served: PublisherRepository, tmp_path: Path
) -> None:
    """Past the limit, connections fail to be accepted at all, and asyncio logs each failure."""
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        service = start_service_process(
            served.path, tmp_path / "reports.db", stderr=stderr.fileno(), open_files=OPEN_FILES
        )
    slow: list[socket.socket] = []
    try:
        slow = _half_sent(service.port, 2 * OPEN_FILES)  # far more than would fit
        for _ in range(5):
            assert _healthz(service.port).startswith(b"HTTP/1.1 200")
    finally:
        for sock in slow:
            sock.close()
        service.process.terminate()
        service.process.wait(30)
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Too many open files" not in text
    cap = OPEN_FILES - ACCEPT_BACKLOG - FILE_RESERVE
    assert f"at most {cap} connections at once, not {MAX_CONNECTIONS}" in lines[0], lines
    assert len(lines) <= 3, lines


def test_the_drop_log_writes_a_count_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    drops = DropLog("dropped", interval=60.0, clock=clock)
    with caplog.at_level("WARNING", logger="discreet.server"):
        for _ in range(1000):
            drops.note()
            clock.advance(0.01)  # 1,000 drops in 10 s
        assert [r.getMessage() for r in caplog.records] == ["1 dropped"]
        clock.advance(60)
        drops.note()
        assert [r.getMessage() for r in caplog.records] == ["1 dropped", "1000 dropped"]
