"""The device's one HTTP client: catalog sync, private reports and the demo all use it.

One exchange is a request and its whole answer, body included, so an answer cut
off half-way is retried like one that never came. Every outcome is classified
here, once::

    outcome                                  treated as   then
    2xx                                      an answer    returned
    4xx, except 408 and 429                  an answer    returned, Reply.refused
    1xx, 3xx (once redirects are followed)   an answer    returned
    more bytes than the caller allows        an answer    returned, Reply.oversized
    408, 429, 5xx                            a failure    retried
    connection refused or reset, timeout,    a failure    retried
    cut-off answer (IncompleteRead, bad
    status line, broken chunking)

Answers are returned, never retried. Failures are retried, and when every
attempt has failed the client raises :class:`~discreet.errors.SourceUnavailableError`.
The waits between attempts follow one :class:`RetryPolicy`: exponential backoff
with jitter drawn from an injected generator (by default one seeded from the OS
CSPRNG, never the global ``random``), through an injectable ``sleep``.

A client may also have a deadline, for a whole operation such as a sync: the
per-read ``timeout`` alone lets a server that sends a byte every few seconds
keep it running forever. Past the deadline no read, retry or wait starts, and
the exchange under way stops within one read (reads return whatever bytes have
arrived, and each waits no longer than the time left).

The transport is injectable too (:class:`Transport`, one ``request`` method), so
tests can script any answer. The default, :class:`PoolTransport`, uses urllib3
pools and takes the proxy for each request from the standard environment
variables (``https_proxy``, ``http_proxy``, ``all_proxy``, ``no_proxy``).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import numpy as np
import urllib3

from discreet.errors import SourceUnavailableError
from discreet.i18n import _, ngettext
from discreet.protocol.randomness import production_rng

__all__ = [
    "DEFAULT_MAX_REPLY",
    "DeviceHttpClient",
    "PoolTransport",
    "Reply",
    "Response",
    "RetryPolicy",
    "Transport",
    "environment_proxy",
    "is_retried",
]

#: How many bytes of an answer are read unless the caller allows more.
DEFAULT_MAX_REPLY = 1 << 16
_CHUNK = 1 << 16
_MAX_REDIRECTS = 5
#: The same for every device, so that it tells one from another no better than the address.
_USER_AGENT = "discreet"
#: What can go wrong with an exchange itself (as opposed to an answer): all retried.
_EXCHANGE_FAILURES = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


def is_retried(status: int) -> bool:
    """Whether an answer with this status is a failure worth another attempt.

    A 4xx is the server's final word (a 404 ends TUF's root-rotation walk, a 422
    rejects a report for good), except 408 (request timeout) and 429 (too many
    requests), which ask to come back later, as a 5xx does.
    """
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts an exchange gets, and how long to wait between them.

    The wait before retry ``n`` (1, 2, ...) is ``backoff * 2 ** (n - 1)`` seconds,
    at most ``max_backoff``, times a factor drawn uniformly from
    ``[1 - jitter, 1 + jitter]`` so that devices which failed together do not
    come back together.

    >>> RetryPolicy(attempts=3).delay(1, np.random.default_rng(0))  # doctest: +ELLIPSIS
    0.56...
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if not 0 <= self.backoff <= self.max_backoff:
            raise ValueError("backoff must be between 0 and max_backoff seconds")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    def delay(self, retry: int, rng: np.random.Generator) -> float:
        """Seconds to wait before retry number ``retry`` (counted from 1)."""
        base = min(self.backoff * 2.0 ** (retry - 1), self.max_backoff)
        return base * float(rng.uniform(1.0 - self.jitter, 1.0 + self.jitter))


class Response(Protocol):
    """An answer whose status has arrived and whose body is still to be read."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    def stream(self, amount: int) -> Iterator[bytes]:
        """The body, in chunks of at most ``amount`` bytes."""
        ...

    def close(self) -> None:
        """Done with the answer, whether or not the body was read to the end."""
        ...


class Transport(Protocol):
    """Sends one request and returns the answer's head; raises if there is none.

    Failures are raised as :class:`OSError`, :class:`http.client.HTTPException`
    or :class:`urllib3.exceptions.HTTPError`, from ``request`` or from the
    response's ``stream``.
    """

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Response:
        """Send the request; ``timeout`` bounds the connection and every wait for bytes."""
        ...


def environment_proxy(url: str) -> str | None:
    """The proxy the standard environment variables name for ``url``, or ``None``.

    ``<scheme>_proxy`` first, then ``all_proxy``; ``no_proxy`` is read as the
    standard library reads it (host suffixes, ports, ``*``). Read at each call,
    so a change to the environment applies to the next request.
    """
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    host = parts.netloc.rpartition("@")[2]
    if not proxy or not host or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class PoolTransport:
    """urllib3 connection pools, one per proxy, chosen per request by :func:`environment_proxy`.

    Redirects are followed (at most five); urllib3's own retries are off, since
    :class:`DeviceHttpClient` does the retrying.
    """

    def __init__(self) -> None:
        self._pools: dict[str | None, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _pool(self, proxy: str | None) -> urllib3.PoolManager:
        with self._lock:
            if proxy not in self._pools:
                self._pools[proxy] = (
                    urllib3.PoolManager() if proxy is None else urllib3.ProxyManager(proxy)
                )
            return self._pools[proxy]

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Response:
        """Send through the pool for this URL's proxy; the body stays unread."""
        response = self._pool(environment_proxy(url)).urlopen(
            method,
            url,
            body=body,
            headers=dict(headers),
            preload_content=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(
                total=None,
                connect=False,
                read=False,
                other=0,
                redirect=_MAX_REDIRECTS,
                raise_on_redirect=False,
            ),
        )
        return _PooledResponse(response)

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()


class _PooledResponse:
    """A urllib3 answer whose connection goes back to the pool only if fully read."""

    def __init__(self, inner: urllib3.BaseHTTPResponse) -> None:
        self._inner = inner
        self._finished = False

    @property
    def status(self) -> int:
        return self._inner.status

    def stream(self, amount: int) -> Iterator[bytes]:
        # read1 returns what has arrived, so a trickling answer yields every few bytes
        # and the client can check its deadline; stream() would wait for ``amount``.
        while chunk := self._inner.read1(amount):
            yield chunk
        self._finished = True

    def close(self) -> None:
        if not self._finished:
            self._inner.close()  # unread bytes must not reach the next request on it
        self._inner.release_conn()


@dataclass(frozen=True)
class Reply:
    """An answer: its status and body (empty when a 2xx body went into a file)."""

    status: int
    body: bytes = b""
    oversized: bool = False

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """A 4xx answer: the server will never take this request."""
        return 400 <= self.status < 500


class DeviceHttpClient:
    """Every HTTP exchange the device makes, retried by one :class:`RetryPolicy`.

    ``transport`` defaults to a :class:`PoolTransport`; ``rng`` (the jitter)
    defaults to :func:`~discreet.protocol.randomness.production_rng`; ``timeout``
    bounds the connection and every wait for the next bytes. ``deadline``, a
    time on ``clock`` (by default ``time.monotonic``), bounds everything the
    client does: past it, a request raises :class:`SourceUnavailableError`
    however slowly bytes still arrive.

    >>> client = DeviceHttpClient(policy=RetryPolicy(attempts=2), timeout=5)
    >>> client.request("GET", "https://cdn.example/metadata/1.root.json")  # doctest: +SKIP
    Reply(status=200, body=b'{"signed": ...', oversized=False)
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        rng: np.random.Generator | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.deadline = deadline
        self._clock = clock
        self.transport: Transport = transport if transport is not None else PoolTransport()
        self.policy = policy if policy is not None else RetryPolicy()
        self.timeout = float(timeout)
        self._rng = rng if rng is not None else production_rng()
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_length: int = DEFAULT_MAX_REPLY,
        into: BinaryIO | None = None,
    ) -> Reply:
        """Make the exchange, retrying failures; return the first answer.

        A 2xx body goes into ``into`` when given (rewound and emptied before each
        attempt), else into :attr:`Reply.body`. An answer longer than
        ``max_length`` bytes is cut off and flagged :attr:`Reply.oversized`.
        Errors writing to ``into`` propagate unchanged. Raises
        :class:`SourceUnavailableError` when every attempt failed.
        """
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            raise SourceUnavailableError(_("an address cannot be read; check it")) from None
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
        if parts.scheme not in ("http", "https"):
            raise SourceUnavailableError(
                _("{shown} is not an http(s) address; check it").format(shown=shown)
            )
        sent = {"User-Agent": _USER_AGENT, **(headers or {})}
        failure = ""
        for attempt in range(1, self.policy.attempts + 1):
            if attempt > 1:
                wait = self.policy.delay(attempt - 1, self._rng)
                self._check_deadline(shown, after=wait)
                self._sleep(wait)
            self._check_deadline(shown)
            outcome = self._attempt(method, url, shown, body, sent, max_length, into)
            if isinstance(outcome, Reply) and not is_retried(outcome.status):
                return outcome
            failure = f"HTTP {outcome.status}" if isinstance(outcome, Reply) else outcome
        attempts = self.policy.attempts
        raise SourceUnavailableError(
            ngettext(
                "{shown}: {failure} after {attempts} attempt",
                "{shown}: {failure} after {attempts} attempts",
                attempts,
            ).format(shown=shown, failure=failure, attempts=attempts)
        )

    def _time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self._clock()

    def _check_deadline(self, shown: str, after: float = 0.0) -> None:
        """Raise if the deadline has passed, or will have after waiting ``after`` seconds."""
        left = self._time_left()
        if left is not None and left <= after:
            raise SourceUnavailableError(
                _("{shown}: too slow, the whole operation ran out of time; try again later").format(
                    shown=shown
                )
            )

    def _attempt(
        self,
        method: str,
        url: str,
        shown: str,
        body: bytes | None,
        headers: Mapping[str, str],
        max_length: int,
        into: BinaryIO | None,
    ) -> Reply | str:
        """One exchange: the answer, or what went wrong with the exchange itself."""
        left = self._time_left()
        timeout = self.timeout if left is None else max(min(self.timeout, left), 0.001)
        try:
            response = self.transport.request(method, url, body, headers, timeout)
        except urllib3.exceptions.LocationValueError:
            raise SourceUnavailableError(
                _("{shown} is not a usable address; check it").format(shown=shown)
            ) from None
        except _EXCHANGE_FAILURES as exc:
            return _describe(exc)
        try:
            status = response.status
            buffer = bytearray()
            write: Callable[[bytes], object] = buffer.extend
            if into is not None and 200 <= status < 300:
                into.seek(0)
                into.truncate()
                write = into.write
            received = 0
            chunks = response.stream(_CHUNK)
            while True:
                try:
                    chunk = next(chunks, None)
                except _EXCHANGE_FAILURES as exc:
                    return _describe(exc)
                if chunk is None:
                    return Reply(status, bytes(buffer))
                self._check_deadline(shown)
                received += len(chunk)
                if received > max_length:
                    return Reply(status, bytes(buffer), oversized=True)
                write(chunk)
        finally:
            response.close()


def _describe(failure: BaseException) -> str:
    """A few words on what went wrong, for the one-line error message."""
    if isinstance(failure, urllib3.exceptions.MaxRetryError) and failure.reason is not None:
        failure = failure.reason
    if isinstance(failure, urllib3.exceptions.NameResolutionError):
        return "unknown host"
    if isinstance(failure, urllib3.exceptions.ProxyError):
        return "the proxy failed"
    if isinstance(failure, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "could not connect"
    if isinstance(failure, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(failure, urllib3.exceptions.SSLError | ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(failure, urllib3.exceptions.ProtocolError | http.client.HTTPException):
        return "answer cut off or garbled"
    if isinstance(failure, ConnectionError):
        return "the connection broke"
    return type(failure).__name__
