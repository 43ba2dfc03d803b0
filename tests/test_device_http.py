"""The device's one HTTP client: every outcome classified once, for sync and for reports.

Each outcome is tried twice: through a scripted fake transport, and over real
loopback sockets (a raw socket server that can answer anything, hang or hang up).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import hashlib
import http.client
import http.server
import io
import json
import random
import secrets
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import urllib3
from tuf.api.exceptions import DownloadError, DownloadHTTPError, DownloadLengthMismatchError

from discreet.errors import SourceUnavailableError
from discreet.profile.model import LedgerEntry, PendingReport, Profile
from discreet.protocol import production_rng
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.fetchers import (
    OVERRUN_PROBE,
    Downloaded,
    HttpFetcher,
    LocalFolderFetcher,
    LongerThanSignedError,
    resolve_source,
)
from discreet.sync.http import (
    DeviceHttpClient,
    PoolTransport,
    Reply,
    RetryPolicy,
    _PooledResponse,
    environment_proxy,
    is_retried,
)
from discreet.sync.installed import InstalledCatalogs
from discreet.sync.reports import SendResult, send_reports
from tests.server_support import forwarding_proxy, refused_port

TODAY = dt.date(2026, 3, 2)
URL = "http://service.example"

# -- a scripted transport ------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A scripted answer: a status, body chunks, and optionally a failure after them."""

    status: int = 200
    chunks: tuple[bytes, ...] = ()
    then: BaseException | None = None


def ok(body: bytes = b"{}") -> Answer:
    return Answer(200, (body,))


@dataclass
class Call:
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    timeout: float


class FakeResponse:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.closed = False
        self.chunks_read = 0

    @property
    def status(self) -> int:
        return self.answer.status

    def stream(self, amount: int) -> Iterator[bytes]:
        for chunk in self.answer.chunks:
            assert len(chunk) <= amount
            self.chunks_read += 1
            yield chunk
        if self.answer.then is not None:
            raise self.answer.then

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTransport:
    """Plays ``script`` in order: an :class:`Answer`, or an exception that ``request`` raises."""

    script: list[Answer | BaseException]
    calls: list[Call] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> FakeResponse:
        self.calls.append(Call(method, url, body, dict(headers), timeout))
        assert self.script, "more requests than the test scripted"
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        response = FakeResponse(step)
        self.responses.append(response)
        return response


def fake_client(
    *script: Answer | BaseException, attempts: int = 3, seed: int = 0
) -> tuple[DeviceHttpClient, FakeTransport, list[float]]:
    transport = FakeTransport(list(script))
    waits: list[float] = []
    client = DeviceHttpClient(
        transport=transport,
        policy=RetryPolicy(attempts=attempts),
        timeout=2.5,
        rng=np.random.default_rng(seed),
        sleep=waits.append,
    )
    return client, transport, waits


def cut_off() -> urllib3.exceptions.ProtocolError:
    """What urllib3 raises when a body ends before its Content-Length."""
    short = http.client.IncompleteRead(b"{", 399)
    return urllib3.exceptions.ProtocolError(f"Connection broken: {short!r}", short)


def read_timeout() -> urllib3.exceptions.ReadTimeoutError:
    return urllib3.exceptions.ReadTimeoutError(None, URL, "Read timed out.")  # type: ignore[arg-type]


def refused() -> urllib3.exceptions.NewConnectionError:
    return urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]


#: Every way an exchange fails, as the transport raises it (before or during the body).
FAILURES: dict[str, Callable[[], Answer | BaseException]] = {
    "500": lambda: Answer(500),
    "502": lambda: Answer(502),
    "503": lambda: Answer(503, (b"busy",)),
    "408": lambda: Answer(408),
    "429": lambda: Answer(429),
    "connection refused": refused,
    "connection reset": lambda: ConnectionResetError(errno.ECONNRESET, "reset"),
    "read timeout": read_timeout,
    "connect timeout": lambda: urllib3.exceptions.ConnectTimeoutError("connect timed out"),
    "socket timeout": lambda: TimeoutError("timed out"),
    "cut-off body": lambda: Answer(200, (b'{"acc',), cut_off()),
    # What a transport other than urllib3 may raise half-way through the body:
    "reset mid-body": lambda: Answer(200, (b"{",), ConnectionResetError(errno.ECONNRESET, "")),
    "short mid-body": lambda: Answer(200, (b"{",), http.client.IncompleteRead(b"{", 9)),
    "bad status line": lambda: urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.BadStatusLine("SMTP ready")
    ),
    "hung up before answering": lambda: urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("closed")
    ),
}

REFUSALS = [400, 401, 403, 404, 409, 410, 413, 415, 422]


# -- the classification, through the fake transport ---------------------------------


def test_a_2xx_is_returned_at_once_with_the_request_as_sent() -> None:
    client, transport, waits = fake_client(ok(b'{"accepted": 2}'))
    reply = client.request(
        "POST", URL + "/v1/reports", body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert reply == Reply(200, b'{"accepted": 2}')
    assert reply.ok
    assert not reply.refused
    assert waits == []
    [call] = transport.calls
    assert (call.method, call.url, call.body, call.timeout) == (
        "POST",
        URL + "/v1/reports",
        b"{}",
        2.5,
    )
    assert call.headers == {"User-Agent": "discreet", "Content-Type": "application/json"}
    assert all(r.closed for r in transport.responses)


@pytest.mark.parametrize("status", REFUSALS)
def test_a_4xx_is_an_answer_never_retried(status: int) -> None:
    client, transport, waits = fake_client(Answer(status, (b'{"error": "stale week"}',)))
    reply = client.request("GET", URL)
    assert reply == Reply(status, b'{"error": "stale week"}')
    assert reply.refused
    assert not reply.ok
    assert len(transport.calls) == 1
    assert waits == []
    assert not is_retried(status)


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_is_retried_and_a_later_answer_wins(name: str) -> None:
    client, transport, waits = fake_client(FAILURES[name](), FAILURES[name](), ok(b"fine"))
    assert client.request("GET", URL) == Reply(200, b"fine")
    assert len(transport.calls) == 3
    assert len(waits) == 2
    assert all(r.closed for r in transport.responses)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("500", "HTTP 500"),
        ("503", "HTTP 503"),
        ("408", "HTTP 408"),
        ("429", "HTTP 429"),
        ("connection refused", "could not connect"),
        ("connection reset", "the connection broke"),
        ("read timeout", "timed out"),
        ("connect timeout", "timed out"),
        ("socket timeout", "timed out"),
        ("cut-off body", "cut off or garbled"),
        ("reset mid-body", "the connection broke"),
        ("short mid-body", "cut off or garbled"),
        ("bad status line", "cut off or garbled"),
        ("hung up before answering", "cut off or garbled"),
    ],
)
def test_a_failure_on_every_attempt_is_source_unavailable(name: str, said: str) -> None:
    client, transport, waits = fake_client(*(FAILURES[name]() for _ in range(3)))
    with pytest.raises(SourceUnavailableError, match=f"{said} after 3 attempts"):
        client.request("GET", URL + "/metadata/timestamp.json")
    assert len(transport.calls) == 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (urllib3.exceptions.NameResolutionError("cdn.example", None, OSError()), "unknown host"),  # type: ignore[arg-type]
        (urllib3.exceptions.ProxyError("proxy down", OSError()), "the proxy failed"),
        (urllib3.exceptions.SSLError("certificate verify failed"), "the TLS handshake failed"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "the TLS handshake failed"),
        (urllib3.exceptions.MaxRetryError(None, URL, refused()), "could not connect"),  # type: ignore[arg-type]
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "could not connect"),
        (urllib3.exceptions.DecodeError("bad gzip"), "DecodeError"),
    ],
)
def test_each_failure_is_named_in_the_message(failure: BaseException, said: str) -> None:
    client, _, _ = fake_client(failure, attempts=1)
    with pytest.raises(SourceUnavailableError) as caught:
        client.request("GET", URL + "/x")
    assert str(caught.value) == f"{URL}/x: {said} after 1 attempt"


def test_the_statuses_retried_are_408_429_and_5xx() -> None:
    assert [s for s in range(100, 600) if is_retried(s)] == [408, 429, *range(500, 600)]


def test_a_cut_off_download_starts_the_file_again() -> None:
    client, transport, _ = fake_client(
        Answer(200, (b"AAAA", b"AA"), cut_off()), Answer(200, (b"BBB", b"B"))
    )
    with tempfile.TemporaryFile() as into:
        reply = client.request("GET", URL, into=into, max_length=10)
        into.seek(0)
        assert into.read() == b"BBBB"
    assert reply == Reply(200)
    assert len(transport.calls) == 2


def test_a_refusal_does_not_go_into_the_file() -> None:
    client, _, _ = fake_client(Answer(404, (b"not here",)))
    with tempfile.TemporaryFile() as into:
        assert client.request("GET", URL, into=into) == Reply(404, b"not here")
        assert into.tell() == 0


def test_an_oversized_answer_is_cut_off_flagged_and_never_retried() -> None:
    client, transport, waits = fake_client(Answer(200, (b"x" * 6, b"x" * 6, b"x" * 6)))
    reply = client.request("GET", URL, max_length=10)
    assert (reply.status, reply.oversized, reply.body) == (200, True, b"x" * 6)
    assert transport.responses[0].chunks_read == 2  # the rest is never read
    assert transport.responses[0].closed
    assert (len(transport.calls), waits) == (1, [])
    exact, _, _ = fake_client(Answer(200, (b"x" * 5, b"x" * 5)))
    assert exact.request("GET", URL, max_length=10) == Reply(200, b"x" * 10)


def test_a_failure_to_write_the_file_is_not_a_network_failure() -> None:
    class FullDisk(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    client, transport, _ = fake_client(ok(b"data"), ok(b"data"))
    with pytest.raises(OSError, match="No space") as caught:
        client.request("GET", URL, into=FullDisk())
    assert caught.value.errno == errno.ENOSPC
    assert len(transport.calls) == 1
    assert transport.responses[0].closed


def test_addresses_that_cannot_work_are_refused_without_trying() -> None:
    client, transport, _ = fake_client()
    with pytest.raises(SourceUnavailableError, match="not an http"):
        client.request("GET", "ftp://service.example/x")
    assert transport.calls == []
    with pytest.raises(SourceUnavailableError, match="cannot be read"):
        client.request("GET", "http://[::1/x")
    assert transport.calls == []
    client, transport, waits = fake_client(urllib3.exceptions.LocationParseError("x y"))
    with pytest.raises(SourceUnavailableError, match="http://x y/ is not a usable address"):
        client.request("GET", "http://x y/")
    assert (len(transport.calls), waits) == (1, [])


def test_messages_never_show_a_password_in_the_address() -> None:
    client, _, _ = fake_client(Answer(503), attempts=1)
    with pytest.raises(SourceUnavailableError) as caught:
        client.request("GET", "https://user:hunter2@service.example/v1/reports")
    assert str(caught.value) == "https://service.example/v1/reports: HTTP 503 after 1 attempt"


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"backoff": -1.0},
        {"backoff": 60.0, "max_backoff": 30.0},
        {"jitter": -0.1},
        {"jitter": 1.5},
    ],
)
def test_retry_policies_that_make_no_sense_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_client_needs_a_positive_timeout(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        DeviceHttpClient(transport=FakeTransport([]), timeout=timeout)


def test_a_pooled_answer_left_unread_closes_its_connection() -> None:
    """Unread bytes left on a pooled connection would be taken for the next answer."""

    class Inner:
        status = 200

        def __init__(self) -> None:
            self.calls: list[str] = []
            self.body = [b"a", b"b"]

        def read1(self, amount: int) -> bytes:
            return self.body.pop(0) if self.body else b""

        def close(self) -> None:
            self.calls.append("close")

        def release_conn(self) -> None:
            self.calls.append("release")

    halfway, whole = Inner(), Inner()
    response = _PooledResponse(halfway)  # type: ignore[arg-type]
    next(iter(response.stream(1)))
    response.close()
    assert halfway.calls == ["close", "release"]
    response = _PooledResponse(whole)  # type: ignore[arg-type]
    assert b"".join(response.stream(1)) == b"ab"
    response.close()
    assert whole.calls == ["release"]  # kept alive for the next request


# -- backoff and jitter ------------------------------------------------------------


def test_jitter_is_deterministic_with_a_seeded_generator() -> None:
    runs = []
    for _ in range(2):
        client, _, waits = fake_client(*(Answer(503) for _ in range(4)), attempts=4, seed=42)
        with pytest.raises(SourceUnavailableError):
            client.request("GET", URL)
        runs.append(waits)
    assert runs[0] == runs[1]
    rng = np.random.default_rng(42)
    expected = [b * float(rng.uniform(0.5, 1.5)) for b in (0.5, 1.0, 2.0)]
    assert runs[0] == pytest.approx(expected)
    other, _, waits = fake_client(*(Answer(503) for _ in range(4)), attempts=4, seed=43)
    with pytest.raises(SourceUnavailableError):
        other.request("GET", URL)
    assert waits != runs[0]


def test_backoff_doubles_within_its_jitter_and_stops_at_its_cap() -> None:
    policy = RetryPolicy(attempts=9, backoff=1.0, max_backoff=8.0, jitter=0.25)
    rng = np.random.default_rng(5)
    for retry, base in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0], start=1):
        draws = [policy.delay(retry, rng) for _ in range(200)]
        assert min(draws) >= 0.75 * base
        assert max(draws) <= 1.25 * base
        assert max(draws) - min(draws) > 0.3 * base  # jittered, not constant
    steady = RetryPolicy(backoff=1.0, jitter=0.0)
    assert [steady.delay(n, rng) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_the_production_default_draws_from_the_os_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def randbits(k: int) -> int:
        asked.append(k)
        return 2024

    monkeypatch.setattr(secrets, "randbits", randbits)
    waits: list[float] = []
    client = DeviceHttpClient(
        transport=FakeTransport([Answer(503), Answer(503), Answer(503)]), sleep=waits.append
    )
    with pytest.raises(SourceUnavailableError):
        client.request("GET", URL)
    assert asked == [128]
    rng = np.random.default_rng(2024)
    assert waits == pytest.approx([b * float(rng.uniform(0.5, 1.5)) for b in (0.5, 1.0)])
    assert production_rng().integers(1 << 62) == np.random.default_rng(2024).integers(1 << 62)


def test_each_default_generator_gets_its_own_seed() -> None:
    draws = {float(production_rng().uniform()) for _ in range(5)}
    assert len(draws) == 5


def test_the_global_random_generators_are_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> float:
        raise AssertionError("the global random generator was used")

    for name in ("random", "uniform", "randint", "choice"):
        monkeypatch.setattr(random, name, forbidden)
    for name in ("random", "uniform", "rand", "random_sample"):
        monkeypatch.setattr(np.random, name, forbidden)
    waits: list[float] = []
    client = DeviceHttpClient(transport=FakeTransport([Answer(503), ok()]), sleep=waits.append)
    assert client.request("GET", URL).ok
    assert len(waits) == 1
    profile = queued_profile(1)
    sent = send_reports(profile, URL, transport=FakeTransport([ok()]), sleep=waits.append)
    assert sent.rejected == 0
    assert len(waits) == 2  # the random delay before sending


# -- proxies from the environment ------------------------------------------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


@pytest.fixture
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_the_proxy_comes_from_the_standard_variables(
    clean_proxy_environment: pytest.MonkeyPatch,
) -> None:
    env = clean_proxy_environment
    assert environment_proxy("https://cdn.example/x") is None
    env.setenv("https_proxy", "http://proxy.lan:3128")
    env.setenv("HTTP_PROXY", "plain.lan:8080")
    assert environment_proxy("https://cdn.example/x") == "http://proxy.lan:3128"
    assert environment_proxy("http://cdn.example/x") == "http://plain.lan:8080"
    env.setenv("no_proxy", ".internal.example,localhost:9000")
    assert environment_proxy("https://a.internal.example/x") is None
    assert environment_proxy("http://localhost:9000/x") is None
    assert environment_proxy("http://localhost:9001/x") == "http://plain.lan:8080"
    env.delenv("https_proxy")
    env.setenv("all_proxy", "http://every.lan:1080")
    assert environment_proxy("https://cdn.example/x") == "http://every.lan:1080"
    env.setenv("no_proxy", "*")
    assert environment_proxy("https://cdn.example/x") is None


def test_the_pool_transport_keeps_one_pool_per_proxy(
    clean_proxy_environment: pytest.MonkeyPatch,
) -> None:
    transport = PoolTransport()
    direct = transport._pool(environment_proxy("http://cdn.example/"))
    clean_proxy_environment.setenv("http_proxy", "http://proxy.lan:3128")
    proxied = transport._pool(environment_proxy("http://cdn.example/"))
    assert type(direct) is urllib3.PoolManager
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy is not None
    assert proxied.proxy.port == 3128
    assert transport._pool("http://proxy.lan:3128") is proxied
    transport.close()
    assert transport._pool("http://proxy.lan:3128") is not proxied


# -- a loopback server that can answer anything ----------------------------------------

HANG = b"<hang>"  # accept the request and never answer


def http_answer(status: str, body: bytes = b"", *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


LOOPBACK_FAILURES = {
    "503": http_answer("503 Service Unavailable", b"busy"),
    "429": http_answer("429 Too Many Requests"),
    "408": http_answer("408 Request Timeout"),
    "truncated body": http_answer("200 OK", b'{"accepted": 2', length=400),
    "no body": http_answer("200 OK", length=40),
    "bad status line": b"SMTP ready\r\n",
    "hung up": b"",
    "hangs past the timeout": HANG,
}


@dataclass
class Scripted:
    url: str
    requests: list[bytes]


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(1 << 16)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(1 << 16)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextlib.contextmanager
def scripted_server(*answers: bytes) -> Iterator[Scripted]:
    """A loopback server answering one connection per scripted answer, then no more."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    served = Scripted(f"http://127.0.0.1:{listener.getsockname()[1]}", [])
    held: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            for answer in answers:
                connection, _ = listener.accept()
                connection.settimeout(10)
                served.requests.append(_read_request(connection))
                if answer == HANG:
                    held.append(connection)  # answered by the client's timeout, not by us
                    continue
                with connection:
                    connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        listener.close()
        for connection in held:
            connection.close()
        thread.join(10)
        assert not thread.is_alive()


def loopback_client(attempts: int = 2) -> tuple[DeviceHttpClient, list[float]]:
    waits: list[float] = []
    client = DeviceHttpClient(
        policy=RetryPolicy(attempts=attempts),
        timeout=0.5,
        rng=np.random.default_rng(3),
        sleep=waits.append,
    )
    return client, waits


@pytest.fixture
def direct(clean_proxy_environment: pytest.MonkeyPatch) -> None:
    """No proxy between the tests and their loopback servers."""


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_loopback_a_4xx_is_answered_once(status: int) -> None:
    refusal = http_answer(f"{status} No", b'{"error": "no"}')
    with scripted_server(refusal, refusal) as server:
        client, waits = loopback_client()
        reply = client.request("POST", server.url + "/v1/reports", body=b"{}")
    assert (reply.status, reply.body, reply.refused) == (status, b'{"error": "no"}', True)
    assert len(server.requests) == 1
    assert server.requests[0].startswith(b"POST /v1/reports HTTP/1.1\r\n")
    assert waits == []


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize("name", sorted(LOOPBACK_FAILURES))
def test_loopback_a_failure_is_retried_and_then_answered(name: str) -> None:
    answer = http_answer("200 OK", b'{"accepted": 1}')
    with scripted_server(LOOPBACK_FAILURES[name], answer) as server:
        client, waits = loopback_client()
        reply = client.request("POST", server.url + "/v1/reports", body=b"{}")
    assert reply == Reply(200, b'{"accepted": 1}')
    assert len(server.requests) == 2
    assert all(r.endswith(b"\r\n\r\n{}") for r in server.requests)  # the body, sent again
    assert len(waits) == 1


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("503", "HTTP 503"),
        ("429", "HTTP 429"),
        ("truncated body", "cut off or garbled"),
        ("bad status line", "cut off or garbled"),
        ("hung up", "cut off or garbled"),
        ("hangs past the timeout", "timed out"),
    ],
)
def test_loopback_a_failure_on_every_attempt_is_source_unavailable(name: str, said: str) -> None:
    with scripted_server(LOOPBACK_FAILURES[name], LOOPBACK_FAILURES[name]) as server:
        client, _ = loopback_client()
        with pytest.raises(SourceUnavailableError, match=f"{said} after 2 attempts"):
            client.request("GET", server.url + "/metadata/timestamp.json")
    assert len(server.requests) == 2


@pytest.mark.usefixtures("direct")
def test_loopback_nobody_listening_is_source_unavailable() -> None:
    client, waits = loopback_client()
    with (
        refused_port() as port,
        pytest.raises(SourceUnavailableError, match="could not connect after 2 attempts"),
    ):
        client.request("GET", f"http://127.0.0.1:{port}/")
    assert len(waits) == 1


@pytest.mark.usefixtures("direct")
def test_loopback_an_endless_answer_is_cut_off_once() -> None:
    endless = http_answer("200 OK", b"x" * (1 << 20))
    with scripted_server(endless, endless) as server, tempfile.TemporaryFile() as into:
        client, _ = loopback_client()
        reply = client.request("GET", server.url + "/targets/x", into=into, max_length=1000)
        assert reply.oversized
        assert into.tell() <= 1000
    assert len(server.requests) == 1


def test_loopback_the_environment_proxy_carries_the_exchange(
    clean_proxy_environment: pytest.MonkeyPatch,
) -> None:
    answers = (http_answer("200 OK", b"through"), http_answer("200 OK", b"direct"))
    with scripted_server(*answers) as server, forwarding_proxy() as (proxy, seen):
        clean_proxy_environment.setenv("http_proxy", proxy)
        client, _ = loopback_client()
        assert client.request("GET", server.url + "/v1/x").body == b"through"
        assert seen == [server.url + "/v1/x"]
        clean_proxy_environment.setenv("no_proxy", "127.0.0.1")
        assert client.request("GET", server.url + "/v1/y").body == b"direct"
        assert seen == [server.url + "/v1/x"]
    assert [r.split(b" ")[1] for r in server.requests] == [b"/v1/x", b"/v1/y"]


# -- reports: 4xx drops them, failures keep them queued -----------------------------------


def queued_profile(n: int = 2) -> Profile:
    profile = Profile.new(TODAY)
    for i in range(n):
        data = bytes([i]) * 16
        profile.outbox.append(PendingReport("2026-W10", "category", data, secrets.token_bytes(16)))
        digest = hashlib.sha256(data).hexdigest()
        profile.ledger.append(LedgerEntry(TODAY, "2026-W10", "category", 1.0, digest))
    return profile


def send(
    profile: Profile, transport: FakeTransport, **kwargs: object
) -> tuple[SendResult, list[float]]:
    waits: list[float] = []
    result = send_reports(
        profile,
        URL,
        max_delay=0,
        rng=np.random.default_rng(1),
        sleep=waits.append,
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )
    return result, waits


def test_reports_taken_leave_the_outbox_and_are_marked_sent() -> None:
    profile = queued_profile()
    queued = list(profile.outbox)
    transport = FakeTransport([ok(b'{"accepted": 1}'), ok(b'{"duplicates": 1}')])
    result, waits = send(profile, transport)
    assert (result.sent, result.duplicates, result.rejected) == (1, 1, 0)
    assert profile.outbox == []
    assert [e.status for e in profile.ledger] == ["sent", "sent"]
    # One request per report, each asking for its connection to be closed.
    for call, report in zip(transport.calls, queued, strict=True):
        assert (call.method, call.url) == ("POST", URL + "/v1/reports")
        assert call.headers["Content-Type"] == "application/json"
        assert call.headers["Connection"] == "close"
        assert json.loads(call.body or b"")["reports"] == [
            {"token": report.token.hex(), "report": report.data.hex()}
        ]
    assert waits == []


#: Answers that say the reports' content will never be taken: the reports are dropped.
CONTENT_REFUSALS = [422]
#: Answers that say nothing about the reports (a wrong address, a proxy, a login page):
#: the reports stay queued.
NOT_ABOUT_THE_REPORTS = [400, 401, 403, 404, 405, 409, 410, 415, 418, 451]


@pytest.mark.parametrize("status", CONTENT_REFUSALS)
def test_reports_whose_content_is_refused_are_dropped_with_the_reason(status: int) -> None:
    profile = queued_profile(1)
    transport = FakeTransport([Answer(status, (b'{"error": "stale week"}',)), ok()])
    result, waits = send(profile, transport)
    assert (result.sent, result.rejected, result.reason) == (0, 1, "stale week")
    assert profile.outbox == []
    assert [(e.status, e.reason) for e in profile.ledger] == [("rejected", "stale week")]
    assert (len(transport.calls), waits) == (1, [])


def test_only_the_refused_report_is_dropped() -> None:
    profile = queued_profile(3)
    bad = profile.outbox[1].token.hex()
    refusal = Answer(422, (b'{"error": "report #0: stale week"}',))

    class Judge(FakeTransport):
        def request(
            self,
            method: str,
            url: str,
            body: bytes | None,
            headers: Mapping[str, str],
            timeout: float,
        ) -> FakeResponse:
            tokens = [r["token"] for r in json.loads(body or b"")["reports"]]
            self.script = [refusal if bad in tokens else ok(b'{"accepted": %d}' % len(tokens))]
            return super().request(method, url, body, headers, timeout)

    transport = Judge([])
    result, _ = send(profile, transport)
    assert (result.sent, result.rejected, result.reason) == (2, 1, "report #0: stale week")
    assert profile.outbox == []
    assert [e.status for e in profile.ledger] == ["sent", "rejected", "sent"]
    assert profile.ledger[1].reason == "report #0: stale week"
    assert len(transport.calls) == 3


def test_a_single_report_too_big_is_dropped_with_the_reason() -> None:
    profile = queued_profile(1)
    result, _ = send(profile, FakeTransport([Answer(413, (b'{"error": "too big"}',))]))
    assert (result.rejected, result.reason) == (1, "too big")
    assert [(e.status, e.reason) for e in profile.ledger] == [("rejected", "too big")]


def test_a_content_refusal_without_a_reason_says_so() -> None:
    profile = queued_profile(1)
    result, _ = send(profile, FakeTransport([Answer(422, (b"<html>no",))]))
    assert result.rejected == 1
    assert result.reason == "HTTP 422, the service gave no reason"
    assert profile.ledger[0].reason == result.reason


@pytest.mark.parametrize("status", NOT_ABOUT_THE_REPORTS)
def test_a_wrong_address_keeps_the_reports_queued_and_says_why(status: int) -> None:
    profile = queued_profile()
    queued = list(profile.outbox)
    transport = FakeTransport([Answer(status, (b"<html>not found",)), ok()])
    with pytest.raises(SourceUnavailableError, match=rf"HTTP {status}.*stay queued") as caught:
        send(profile, transport)
    assert "()" not in str(caught.value)
    assert profile.outbox == queued
    assert [e.status for e in profile.ledger] == ["pending", "pending"]
    assert len(transport.calls) == 1


def test_a_404_names_the_address_as_the_likely_cause() -> None:
    profile = queued_profile()
    with pytest.raises(SourceUnavailableError, match=r"HTTP 404.*check the address"):
        send(profile, FakeTransport([Answer(404, (b"",))]))


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_reports_failing_then_taken_are_sent(name: str) -> None:
    profile = queued_profile()
    transport = FakeTransport([FAILURES[name](), ok(b'{"accepted": 1}'), ok(b'{"accepted": 1}')])
    result, waits = send(profile, transport)
    assert result.sent == 2
    assert [e.status for e in profile.ledger] == ["sent", "sent"]
    assert len(transport.calls) == 3
    assert len(waits) == 1
    assert transport.calls[0].body == transport.calls[1].body != transport.calls[2].body


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_reports_failing_every_time_stay_queued(name: str) -> None:
    profile = queued_profile()
    queued = list(profile.outbox)
    transport = FakeTransport([FAILURES[name]() for _ in range(4)])
    with pytest.raises(SourceUnavailableError, match="stay queued for next time"):
        send(profile, transport, attempts=4)
    assert profile.outbox == queued
    assert [e.status for e in profile.ledger] == ["pending", "pending"]
    assert len(transport.calls) == 4


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, (b"<html>Log in to the hotel wifi</html>",)),
        Answer(200, (b"[1, 2]",)),
        # longer than any answer of the service, though it starts like one
        Answer(200, (b'{"accepted": 2}', b" " * 60_000, b" " * 10_000)),
        Answer(304),
        Answer(302),
    ],
)
def test_an_answer_that_is_not_the_services_keeps_them_queued(answer: Answer) -> None:
    profile = queued_profile()
    queued = list(profile.outbox)
    transport = FakeTransport([answer, ok()])
    with pytest.raises(SourceUnavailableError, match=r"unexpected answer.*stay queued"):
        send(profile, transport)
    assert profile.outbox == queued
    assert [e.status for e in profile.ledger] == ["pending", "pending"]
    assert len(transport.calls) == 1


@pytest.mark.parametrize(
    "answer", [ok(b'{"accepted": "2", "duplicates": true}'), Answer(204), Answer(202, (b"",))]
)
def test_a_2xx_without_counts_still_means_they_were_taken(answer: Answer) -> None:
    profile = queued_profile()
    result, _ = send(profile, FakeTransport([answer, answer]))
    assert (result.sent, result.duplicates, result.rejected) == (0, 0, 0)
    assert profile.outbox == []
    assert [e.status for e in profile.ledger] == ["sent", "sent"]


def test_the_delay_before_sending_and_the_jitter_share_the_injected_generator() -> None:
    profile = queued_profile()
    waits: list[float] = []
    send_reports(
        profile,
        URL,
        max_delay=30.0,
        rng=np.random.default_rng(9),
        sleep=waits.append,
        transport=FakeTransport([Answer(503), ok(), ok()]),
    )
    rng = np.random.default_rng(9)
    first, jitter, second = rng.uniform(0, 30.0), 0.5 * rng.uniform(0.5, 1.5), rng.uniform(0, 30)
    assert waits == pytest.approx([first, jitter, second])


def test_the_default_delay_draws_from_the_os_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbits", lambda k: 77)
    waits: list[float] = []
    send_reports(queued_profile(), URL, sleep=waits.append, transport=FakeTransport([ok(), ok()]))
    assert waits == pytest.approx(list(np.random.default_rng(77).uniform(0, 30.0, 2)))


def test_nothing_queued_sends_nothing() -> None:
    transport = FakeTransport([])
    result, _ = send(Profile.new(TODAY), transport)
    assert (result.sent, result.rejected) == (0, 0)
    assert transport.calls == []


@pytest.mark.usefixtures("direct")
def test_loopback_reports_refused_are_dropped_each_after_one_request() -> None:
    profile = queued_profile()
    refusal = http_answer("422 Unprocessable Entity", b'{"error": "stale week"}')
    with scripted_server(refusal, refusal) as server:
        result = send_reports(profile, server.url, max_delay=0, sleep=lambda s: None)
    assert (result.rejected, result.reason) == (2, "stale week")
    assert [e.status for e in profile.ledger] == ["rejected", "rejected"]
    assert len(server.requests) == 2  # each report alone


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize("name", sorted(LOOPBACK_FAILURES))
def test_loopback_reports_stay_queued_then_go(name: str) -> None:
    profile = queued_profile()
    queued = list(profile.outbox)
    failure = LOOPBACK_FAILURES[name]
    taken = http_answer("200 OK", b'{"accepted": 1, "duplicates": 0}')
    with scripted_server(failure, failure, taken, taken) as server:
        with pytest.raises(SourceUnavailableError, match="stay queued"):
            send_reports(
                profile, server.url, max_delay=0, timeout=0.5, attempts=2, sleep=lambda s: None
            )
        assert profile.outbox == queued
        assert [e.status for e in profile.ledger] == ["pending", "pending"]
        result = send_reports(profile, server.url, max_delay=0, timeout=0.5, sleep=lambda s: None)
    assert result.sent == 2
    assert [e.status for e in profile.ledger] == ["sent", "sent"]
    assert len(server.requests) == 4


# -- catalog sync: TUF's fetcher over the same client ------------------------------------


def fetcher(*script: Answer | BaseException) -> tuple[HttpFetcher, FakeTransport]:
    client, transport, _ = fake_client(*script)
    return HttpFetcher(client), transport


@pytest.mark.parametrize("status", [403, 404, 410])
def test_tuf_gets_a_4xx_as_download_http_error_at_once(status: int) -> None:
    tuf_fetcher, transport = fetcher(Answer(status), ok())
    with pytest.raises(DownloadHTTPError) as caught:
        tuf_fetcher.download_bytes(URL + "/metadata/2.root.json", 1000)
    assert caught.value.status_code == status
    assert len(transport.calls) == 1


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_tuf_downloads_are_retried_whole(name: str) -> None:
    tuf_fetcher, transport = fetcher(FAILURES[name](), Answer(200, (b"sig", b"ned")))
    assert tuf_fetcher.download_bytes(URL + "/metadata/timestamp.json", 1000) == b"signed"
    assert len(transport.calls) == 2


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_tuf_gets_a_download_error_when_every_attempt_fails(name: str) -> None:
    tuf_fetcher, _ = fetcher(*(FAILURES[name]() for _ in range(3)))
    with pytest.raises(DownloadError, match="after 3 attempts") as caught:
        tuf_fetcher.download_bytes(URL + "/metadata/timestamp.json", 1000)
    assert not isinstance(caught.value, DownloadHTTPError | DownloadLengthMismatchError)
    assert isinstance(caught.value.__cause__, SourceUnavailableError)


def test_tuf_downloads_that_go_on_stop_just_past_the_signed_length() -> None:
    """Endless data: reading stops at the probe past the length TUF allows, never later."""
    endless = Answer(200, (b"x" * 40_000,) * 4)
    tuf_fetcher, transport = fetcher(endless, ok())
    assert 1000 + OVERRUN_PROBE < 80_000
    with pytest.raises(DownloadLengthMismatchError) as caught:
        tuf_fetcher.download_bytes(URL + "/targets/catalog/items.jsonl", 1000)
    assert not isinstance(caught.value, LongerThanSignedError)
    assert transport.responses[0].chunks_read == 2
    assert len(transport.calls) == 1
    exact, _ = fetcher(Answer(200, (b"x" * 1000,)))
    assert exact.download_bytes(URL + "/targets/catalog/items.jsonl", 1000) == b"x" * 1000


def test_tuf_downloads_that_end_past_the_signed_length_are_longer_than_signed() -> None:
    """A file that ends a little past its signed length is not endless data: it was altered."""
    longer = Answer(200, (b"x" * 600, b"y" * 600))
    tuf_fetcher, transport = fetcher(longer, longer)
    url = URL + "/metadata/3.snapshot.json"
    with pytest.raises(LongerThanSignedError) as caught:
        tuf_fetcher.download_bytes(url, 1000)
    assert (caught.value.url, caught.value.expected, caught.value.received) == (url, 1000, 1200)
    assert tuf_fetcher.last_metadata == Downloaded(url, b"x" * 600 + b"y" * 600)
    assert len(transport.calls) == 1  # an answer, not a failure: never retried
    with pytest.raises(LongerThanSignedError), tuf_fetcher.download_file(url, 1000):
        pass


def test_tuf_gets_other_final_statuses_as_download_http_error() -> None:
    tuf_fetcher, _ = fetcher(Answer(304))
    with pytest.raises(DownloadHTTPError) as caught:
        tuf_fetcher.download_bytes(URL + "/metadata/timestamp.json", 1000)
    assert caught.value.status_code == 304


def test_a_bare_fetch_goes_through_the_same_client() -> None:
    tuf_fetcher, transport = fetcher(Answer(503), ok(b"bytes"))
    assert b"".join(tuf_fetcher.fetch(URL + "/x")) == b"bytes"
    assert len(transport.calls) == 2
    missing, _ = fetcher(Answer(404))
    with pytest.raises(DownloadHTTPError):
        missing.fetch(URL + "/x")


def test_web_sources_sync_through_the_device_client(tmp_path: Path) -> None:
    source = resolve_source("https://cdn.example/catalog/", timeout=7, attempts=5)
    assert isinstance(source.fetcher, HttpFetcher)
    assert source.fetcher.client.policy.attempts == 5
    assert source.fetcher.client.timeout == 7.0
    assert source.metadata_url == "https://cdn.example/catalog/metadata/"
    (tmp_path / "metadata").mkdir()
    assert isinstance(resolve_source(str(tmp_path)).fetcher, LocalFolderFetcher)


class _FlakyFolder(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``faults`` maps a file name's end to the failures its next requests get."""

    faults: dict[str, list[str]]
    seen: list[str]
    lock: threading.Lock

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        with self.lock:
            self.seen.append(name)
            pending = next((f for key, f in self.faults.items() if name.endswith(key)), None)
            fault = pending.pop(0) if pending else None
        if fault == "cut":
            self.wfile.write(http_answer("200 OK", b'{"signed', length=900))
            self.close_connection = True
        elif fault == "503":
            self.send_error(503)
        else:
            super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextlib.contextmanager
def flaky_source(folder: Path, faults: dict[str, list[str]]) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type(
        "Handler", (_FlakyFolder,), {"faults": faults, "seen": seen, "lock": threading.Lock()}
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def published(repo: PublisherRepository, publish: Callable[..., object]) -> PublisherRepository:
    publish()
    return repo


@pytest.mark.usefixtures("direct")
def test_a_sync_survives_a_cut_off_file_and_a_busy_server(
    published: PublisherRepository, home: Path
) -> None:
    faults = {"timestamp.json": ["cut"], "manifest.json": ["503"]}
    with flaky_source(published.public, faults) as (url, seen):
        result = sync_catalog(home, url, root=published.trusted_root_path)
    assert result.version == 1
    assert seen.count("timestamp.json") == 2
    assert sum(name.endswith("manifest.json") for name in seen) == 2
    assert seen.count("2.root.json") == 1  # the 404 that ends the root walk: never retried


@pytest.mark.usefixtures("direct")
def test_a_file_cut_off_every_time_is_source_unavailable_not_a_crash(
    published: PublisherRepository, home: Path
) -> None:
    """Regression: urllib3's ProtocolError used to escape sync_catalog unmapped."""
    sync_catalog(home, str(published.path), root=published.trusted_root_path)
    before = InstalledCatalogs(home).current()
    with (
        flaky_source(published.public, {"timestamp.json": ["cut"] * 3}) as (url, seen),
        pytest.raises(SourceUnavailableError, match=r"garbled after 3 attempts.*stays in use"),
    ):
        sync_catalog(home, url, timeout=5)
    assert seen.count("timestamp.json") == 3
    assert InstalledCatalogs(home).current() == before
