"""Keeping served metadata valid: the online roles are re-signed before they expire.

TUF metadata expires so that a frozen or replayed repository is noticed: the
timestamp a day after it is signed, the snapshot after a week. A service
that hosts the repository re-signs those two online roles when less than half
of their lifetime is left, under the publishing lock, so that devices never
see expired metadata just because nobody published that day. The targets and
root roles are the publisher's decisions: they are never re-signed here, and a
warning is logged when they come within two days of expiring.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from discreet.errors import DiscreetError, RepositoryBusyError
from discreet.publish.repository import Expiries, PublisherRepository, utc_now

logger = logging.getLogger("discreet.server")

#: The roles a hosting service re-signs by itself.
ONLINE_ROLES = ("timestamp", "snapshot")
#: How close to expiry the offline roles get before the service warns.
OFFLINE_WARNING = dt.timedelta(days=2)


def due_roles(expires: dict[str, dt.datetime], now: dt.datetime, lifetimes: Expiries) -> set[str]:
    """The online roles with less than half of their lifetime left."""
    return {role for role in ONLINE_ROLES if expires[role] - now < lifetimes.of(role) / 2}


def expiring_offline_roles(expires: dict[str, dt.datetime], now: dt.datetime) -> list[str]:
    """The offline roles (root, targets) that expire within :data:`OFFLINE_WARNING`."""
    return [role for role in ("root", "targets") if expires[role] - now < OFFLINE_WARNING]


def refresh_if_due(
    repo: PublisherRepository,
    *,
    lifetimes: Expiries | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> set[str]:
    """Re-sign the online roles that are due; return them (empty if none was).

    Raises :class:`RepositoryBusyError` while a publisher holds the lock.
    """
    lifetimes = lifetimes or Expiries()
    with repo.lock(timeout=lock_timeout):
        now = now or utc_now()
        due = due_roles(repo.expiries_of(), now, lifetimes)
        if due:
            # The timestamp is re-signed on every commit; the snapshot only if asked.
            repo.refresh(roles=due - {"timestamp"}, expiries=lifetimes, now=now)
    return due


class MetadataKeeper:
    """A background thread that runs :func:`refresh_if_due` now and every ``interval`` seconds.

    >>> with MetadataKeeper(repo):  # doctest: +SKIP
    ...     uvicorn.run(app)
    """

    def __init__(
        self,
        repo: PublisherRepository,
        *,
        interval: float = 600.0,
        lifetimes: Expiries | None = None,
    ) -> None:
        self.repo = repo
        self.interval = interval
        self.lifetimes = lifetimes or Expiries()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="discreet-upkeep", daemon=True)
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning("%s", message)

    def check(self) -> set[str]:
        """One round: refresh what is due, warn about offline roles; never raises."""
        try:
            refreshed = refresh_if_due(self.repo, lifetimes=self.lifetimes, lock_timeout=1.0)
            expires = self.repo.expiries_of()
        except RepositoryBusyError:
            return set()  # a publisher is at work (and commits a fresh timestamp itself)
        except (DiscreetError, OSError) as exc:
            self._warn_once(f"cannot re-sign the repository metadata: {exc}")
            return set()
        for role in expiring_offline_roles(expires, utc_now()):
            self._warn_once(
                f"the {role} metadata expires at {expires[role].isoformat()}; publish a "
                f"catalog or run 'discreet publish refresh --role {role}'"
            )
        return refreshed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def __enter__(self) -> MetadataKeeper:
        self.check()  # before the service starts: it never serves metadata that is due
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
