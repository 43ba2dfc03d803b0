"""One visit at a time at the kiosk: its session id, its language and its idle clock.

A kiosk has one screen, so the page serves one visit at a time. A visit
starts when someone presses "Start" and gets a random session id (the only
cookie the page sets). It ends on "forget me", after ``idle_seconds``
without a visitor's action, or when someone starts another visit: each time
the Engine's in-memory session is wiped and the id dies with it, so that an
old page (or the back button) cannot reach what the previous visitor did.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from discreet.engine import Engine


@dataclass
class Visit:
    """The visit in progress (mutable: its language and its one-off message change)."""

    #: The session id: 256 bits from the OS CSPRNG, sent as the page's only cookie.
    token: str
    lang: str
    last_active: float
    #: A message shown once on the next page (what the last action did), already translated.
    said: str = ""


class VisitDesk:
    """Starts, finds and ends the kiosk's visit, and wipes the Engine's session with it.

    >>> desk = VisitDesk(engine, idle_seconds=300)  # doctest: +SKIP
    >>> visit = desk.start("es")  # doctest: +SKIP
    >>> desk.find(visit.token) is visit  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        engine: Engine,
        idle_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._visit: Visit | None = None

    def start(self, lang: str) -> Visit:
        """End any visit in progress (wiping it) and start a new one."""
        with self._lock:
            self._end()
            self._visit = Visit(secrets.token_urlsafe(32), lang, self._clock())
            return self._visit

    def find(self, token: str | None) -> Visit | None:
        """The visit ``token`` names, if it is still the one in progress and not idle."""
        with self._lock:
            self._expire()
            visit = self._visit
            if visit is None or not token or not hmac.compare_digest(visit.token, token):
                return None
            return visit

    def touch(self, visit: Visit) -> None:
        """The visitor did something: restart the idle countdown."""
        with self._lock:
            visit.last_active = self._clock()

    def seconds_left(self, visit: Visit) -> float:
        """How long the visit has before it is wiped for being idle."""
        return max(0.0, self.idle_seconds - (self._clock() - visit.last_active))

    def end(self) -> None:
        """End the visit now ("forget me"): the Engine's session is wiped."""
        with self._lock:
            self._end()

    def expire(self) -> None:
        """End the visit if it has been idle for ``idle_seconds`` (the page's timer calls this)."""
        with self._lock:
            self._expire()

    def _expire(self) -> None:
        if self._visit is not None and self.seconds_left(self._visit) <= 0:
            self._end()

    def _end(self) -> None:
        self._visit = None
        self.engine.erase_session()
