"""A mirror that trickles bytes cannot hold a sync forever.

The per-read timeout never fires against a server that sends a byte more often
than it; only a deadline for the whole operation ends the exchange. The server
here is a real loopback socket that trickles for at most ``TRICKLE_FOR`` seconds,
which bounds every test, also on code without a deadline (where the tests fail).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from discreet.errors import SourceUnavailableError
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.http import DeviceHttpClient, RetryPolicy
from discreet.sync.installed import InstalledCatalogs

#: How long the server trickles on one connection before it hangs up.
TRICKLE_FOR = 6.0
#: The gap between two bytes: far shorter than any per-read timeout below.
GAP = 0.05
DEADLINE = 1.0
READ_TIMEOUT = 2.0


@dataclass
class Trickle:
    url: str
    connections: int = 0
    bytes_sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def trickling_server() -> Iterator[Trickle]:
    """Answers every request with 200 and a 100 kB body, one byte per ``GAP`` seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    served = Trickle(f"http://127.0.0.1:{listener.getsockname()[1]}")

    def trickle(connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection:
            connection.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                request += chunk
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            ends = time.monotonic() + TRICKLE_FOR
            # The pacing of the bytes is the behaviour under test, not a wait for an event.
            while time.monotonic() < ends and not served.stop.wait(GAP):
                connection.sendall(b"{")
                served.bytes_sent += 1

    def serve() -> None:
        threads = []
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                served.connections += 1
                thread = threading.Thread(target=trickle, args=(connection,), daemon=True)
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join(10)

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield served
    finally:
        served.stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        acceptor.join(15)
        assert not acceptor.is_alive()


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy between the tests and their loopback server."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.mark.usefixtures("direct")
@pytest.mark.timeout(60)
def test_a_trickling_answer_stops_at_the_clients_deadline() -> None:
    waits: list[float] = []
    with trickling_server() as server:
        start = time.monotonic()
        client = DeviceHttpClient(
            policy=RetryPolicy(attempts=3),
            timeout=READ_TIMEOUT,
            rng=np.random.default_rng(7),
            sleep=waits.append,
            deadline=start + DEADLINE,
        )
        with pytest.raises(SourceUnavailableError, match="ran out of time"):
            client.request("GET", f"{server.url}/metadata/timestamp.json", max_length=1 << 20)
        elapsed = time.monotonic() - start
        assert server.bytes_sent >= 2  # it was trickling, not hanging: the read timeout never fired
    assert DEADLINE <= elapsed < DEADLINE + READ_TIMEOUT < TRICKLE_FOR  # within one read
    assert server.connections == 1
    assert waits == []  # no retry after the deadline


@pytest.mark.usefixtures("direct")
@pytest.mark.timeout(60)
def test_without_a_deadline_the_per_read_timeout_alone_does_not_end_it() -> None:
    """What the deadline is for: this exchange outlives every per-read timeout."""
    with trickling_server() as server:
        client = DeviceHttpClient(policy=RetryPolicy(attempts=1), timeout=READ_TIMEOUT)
        start = time.monotonic()
        with pytest.raises(SourceUnavailableError):
            client.request("GET", f"{server.url}/x", max_length=1 << 20)
        assert time.monotonic() - start >= TRICKLE_FOR > 2 * READ_TIMEOUT


def test_no_retry_starts_when_its_wait_would_pass_the_deadline() -> None:
    """With an injected clock: the wait before a retry counts against the deadline."""
    now = [100.0]
    requests: list[float] = []

    class Refusing:
        def request(self, *args: object, **kwargs: object) -> object:
            requests.append(now[0])
            raise ConnectionResetError("reset")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    client = DeviceHttpClient(
        transport=Refusing(),  # type: ignore[arg-type]
        policy=RetryPolicy(attempts=10, backoff=1.0, jitter=0.0),
        rng=np.random.default_rng(0),
        sleep=sleep,
        deadline=104.0,
        clock=lambda: now[0],
    )
    with pytest.raises(SourceUnavailableError, match="ran out of time"):
        client.request("GET", "http://cdn.example/x")
    assert requests == [100.0, 101.0, 103.0]  # the next wait (4 s) would end past 104
    assert now[0] == 103.0


@pytest.mark.usefixtures("direct")
@pytest.mark.timeout(60)
def test_sync_from_a_trickling_mirror_ends_and_keeps_the_catalog(
    repo: PublisherRepository, publish: object, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from discreet.cli import main

    publish()  # type: ignore[operator]
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    before = InstalledCatalogs(home).current()
    with trickling_server() as server:
        start = time.monotonic()
        code = main(
            ["--home", str(home), "sync", "--from", server.url, "--timeout", "2", "--max-time", "1"]
        )
        elapsed = time.monotonic() - start
    _, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1
    assert "ran out of time" in err
    assert "the previous catalog stays in use" in err
    assert 1.0 <= elapsed < 1.0 + 2.0 < TRICKLE_FOR  # the deadline, plus one read at most
    assert InstalledCatalogs(home).current() == before
