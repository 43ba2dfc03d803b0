"""The HTTP protocol the service runs: uvicorn's h11 protocol, guarded against slow clients.

uvicorn bounds neither how long a client may take to send its request headers
(its keep-alive timeout is reset by every byte received) nor how many
connections are open, so a client half-sending many requests can exhaust the
process's file descriptors (slowloris). This protocol adds both:

* a deadline for each request's headers, from the first byte (or from the
  connection, or from the previous response on a connection kept alive),
  after which the client gets ``408`` and is disconnected, however slowly it
  keeps trickling bytes; the body has its own deadline in the app;
* a cap on open connections: one more makes room by dropping (``408``) the
  connection that has waited longest for its request's headers, so that a
  client who sends a whole request at once gets in however many half-sent
  ones hold the rest; if every connection is busy with a request, the new one
  is answered ``503`` and closed at once.

What it drops is logged as a count, at most once a minute, never per request
(and, as everywhere in the service, without client addresses); so are
connections asyncio could not accept for want of file descriptors
(:func:`count_accept_failures`), which it would log one traceback each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("discreet.server")


def _answer(status: str, text: str) -> bytes:
    """A whole HTTP response that closes the connection."""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(text)}\r\nconnection: close\r\n\r\n{text}"
    ).encode("ascii")


_TIMED_OUT = _answer("408 Request Timeout", "the request headers were too slow")
_BUSY = _answer("503 Service Unavailable", "too many open connections; try again later")


class DropLog:
    """Counts what was dropped and logs the count at most once per ``interval`` seconds."""

    def __init__(
        self, what: str, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.interval = interval
        self._clock = clock
        self._pending = 0
        self._last: float | None = None

    def note(self) -> None:
        self._pending += 1
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            logger.warning("%d %s", self._pending, self.what)
            self._pending = 0
            self._last = now


def guarded_protocol(header_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a header deadline and a connection cap (see the module)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    slow = DropLog(f"requests dropped: headers not received within {header_timeout:g} s")
    evicted = DropLog(
        f"requests dropped to make room: headers still awaited at the cap of {max_connections}"
    )
    busy = DropLog(f"connections refused with 503: over the cap of {max_connections}")
    awaiting: dict[GuardedH11Protocol, None] = {}  # connections awaiting headers, oldest first

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                oldest = next((c for c in awaiting if not c.transport.is_closing()), None)
                if oldest is None:  # every connection is busy with a request
                    busy.note()
                    transport.write(_BUSY)
                    transport.close()
                    return
                evicted.note()
                oldest._drop()
            self._arm()

        def _awaiting_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._too_slow)
                awaiting[self] = None

        def _disarm(self) -> None:
            awaiting.pop(self, None)
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers():
                self._arm()  # the deadline runs from the request's first byte
            super().data_received(data)
            if not self._awaiting_headers():
                self._disarm()  # the headers are in; the body has the app's own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._awaiting_headers() and not self.transport.is_closing():
                self._arm()  # idle on keep-alive: it may make room for another too

        def _too_slow(self) -> None:
            self._header_timer = None
            awaiting.pop(self, None)
            if self._awaiting_headers() and not self.transport.is_closing():
                slow.note()
                self._drop()

        def _drop(self) -> None:
            """Answer 408 and disconnect: the request's headers did not come in time."""
            self._disarm()
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    return GuardedH11Protocol


#: What asyncio says when ``accept`` fails for want of file descriptors (or memory).
_ACCEPT_FAILED = "socket.accept() out of system resource"


def count_accept_failures(loop: asyncio.AbstractEventLoop) -> None:
    """Log failures to accept a connection as a count, at most once a minute.

    asyncio logs each one with a traceback, and keeps calling ``accept`` after
    the first failure (up to the listen backlog each time), so that a process
    out of file descriptors writes megabytes a second; every other error is
    left to the loop's default handler.
    """
    failed = DropLog("connections not accepted: no file descriptor left")

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_FAILED:
            failed.note()
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
