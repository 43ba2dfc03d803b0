"""``MemoryStore``: a kiosk session's profile, in memory only, wiped when idle.

Nothing is written to disk. The payload is kept in a ``bytearray`` so that a
wipe can overwrite it in place; Python may still have made transient copies
(for instance while serialising), so the wipe is best effort against a memory
dump, and complete against anything that reads the file system.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from discreet.i18n import _
from discreet.store.base import ProfileStore

DEFAULT_IDLE_SECONDS = 300.0


class IdleTimer(Protocol):
    """A one-shot timer, started once and cancelled at most once (``threading.Timer``)."""

    def start(self) -> None:
        """Begin the countdown."""

    def cancel(self) -> None:
        """Stop the countdown if it has not fired yet."""


#: Makes a timer that calls ``callback`` after ``seconds``; tests pass one they fire by hand.
TimerFactory = Callable[[float, Callable[[], None]], IdleTimer]


def daemon_timer(seconds: float, callback: Callable[[], None]) -> IdleTimer:
    """A ``threading.Timer`` that does not keep the process alive."""
    timer = threading.Timer(seconds, callback)
    timer.daemon = True
    return timer


class MemoryStore(ProfileStore):
    """A profile store that lives and dies with the session.

    ``idle_seconds`` (default five minutes) after the last access the payload
    is wiped, by a background timer and, in any case, before the next access.
    ``on_wipe`` is called after each wipe, for instance to return a kiosk UI
    to its start screen. ``clock`` (seconds, monotonic) and ``timer`` are the
    time sources; tests inject their own to drive the idle period without waiting.

    >>> store = MemoryStore(idle_seconds=60)
    >>> store.save(b"{}"); store.load()
    b'{}'
    """

    def __init__(
        self,
        idle_seconds: float | None = DEFAULT_IDLE_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: TimerFactory = daemon_timer,
        on_wipe: Callable[[], None] | None = None,
    ) -> None:
        if idle_seconds is not None and idle_seconds <= 0:
            raise ValueError(_("idle_seconds must be positive, or None to disable the idle wipe"))
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._new_timer = timer
        self._on_wipe = on_wipe
        self._payload: bytearray | None = None
        self._last_access = clock()
        self._lock = threading.RLock()
        self._timer: IdleTimer | None = None

    def _touch(self) -> None:
        """Wipe if the session went idle, then restart the idle countdown."""
        if self.idle_seconds is None:
            return
        if self._clock() - self._last_access >= self.idle_seconds:
            self.wipe()
        self._last_access = self._clock()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._new_timer(self.idle_seconds, self._expire)
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self.idle_seconds is not None and (
                self._clock() - self._last_access >= self.idle_seconds
            ):
                self.wipe()

    def wipe(self) -> None:
        """Overwrite and drop the payload now."""
        with self._lock:
            had_data = self._payload is not None
            if self._payload is not None:
                self._payload[:] = bytes(len(self._payload))
                self._payload = None
        if had_data and self._on_wipe is not None:
            self._on_wipe()

    def load(self) -> bytes | None:
        """The payload, unless the session went idle."""
        with self._lock:
            self._touch()
            return bytes(self._payload) if self._payload is not None else None

    def save(self, payload: bytes) -> None:
        """Replace the payload (in memory)."""
        with self._lock:
            self._touch()
            if self._payload is not None:
                self._payload[:] = bytes(len(self._payload))
            self._payload = bytearray(payload)

    def erase(self) -> list[str]:
        """Wipe the session ("forget me")."""
        had = self._payload is not None
        self.wipe()
        return [_("the in-memory kiosk session")] if had else []

    def close(self) -> None:
        """Wipe and stop the idle timer."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.wipe()

    def describe(self) -> dict[str, str]:
        """Kiosk mode keeps nothing on disk."""
        idle = (
            _("after {idle_seconds:g} s idle").format(idle_seconds=self.idle_seconds)
            if self.idle_seconds
            else _("on close")
        )
        return {
            "location": _("memory only; nothing is written to disk"),
            "encryption": _("not needed: the session never leaves memory"),
            "key": "none",
            "backup": _("none; the session is wiped {idle} and when it ends").format(idle=idle),
        }
