"""A clock and one-shot timers that move only when a test says so."""

from __future__ import annotations

from collections.abc import Callable


class ManualTimer:
    """A one-shot timer on a :class:`ManualClock` (the ``threading.Timer`` interface)."""

    def __init__(self, clock: ManualClock, seconds: float, callback: Callable[[], None]) -> None:
        self._clock = clock
        self._seconds = seconds
        self._callback = callback
        self.deadline: float | None = None
        self.cancelled = False

    def start(self) -> None:
        self.deadline = self._clock.now + self._seconds
        self._clock.timers.append(self)

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        self.cancelled = True  # one-shot
        self._callback()


class ManualClock:
    """Monotonic seconds, plus a timer factory; :meth:`advance` fires the timers that fall due.

    >>> clock = ManualClock()
    >>> store = MemoryStore(60, clock=clock, timer=clock.timer)  # doctest: +SKIP
    >>> clock.advance(60)  # the idle timer fires now, in this thread
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.timers: list[ManualTimer] = []

    def __call__(self) -> float:
        return self.now

    def timer(self, seconds: float, callback: Callable[[], None]) -> ManualTimer:
        return ManualTimer(self, seconds, callback)

    @property
    def armed(self) -> list[ManualTimer]:
        """Started timers that have neither fired nor been cancelled."""
        return [t for t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        """Move time on, firing every armed timer whose deadline is reached, in order."""
        self.now += seconds
        while True:
            due = [t for t in self.armed if t.deadline is not None and t.deadline <= self.now]
            if not due:
                return
            min(due, key=lambda t: t.deadline or 0.0).fire()
