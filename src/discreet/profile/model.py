"""The profile: the only personal data in discreet, minimal by design.

It keeps what ranking needs and nothing else: which item, what kind of
interaction, on which day (never the time of day). Retention and a cap bound
how much history exists at any moment. The user's controls (muted categories,
paused personalisation, opt-ins to sensitive topics, reporting consent) and
the privacy ledger live here too. :mod:`discreet.profile.schema` declares
every stored field with its purpose and retention.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import CorruptStoreError
from discreet.i18n import _
from discreet.profile.migrations import CURRENT_VERSION, migrate


class EventKind(enum.StrEnum):
    """What the user did with an item."""

    VIEW = "view"
    CLICK = "click"
    LIKE = "like"
    DISLIKE = "dislike"
    PURCHASE = "purchase"
    DISMISS = "dismiss"


#: The layout version of the budget record (:meth:`Profile.budget_json`).
BUDGET_FORMAT_VERSION = 1

_KINDS = {kind.value: kind for kind in EventKind}


class Event(NamedTuple):
    """One interaction: an item, a kind, a day (immutable)."""

    item: str
    kind: EventKind
    day: dt.date


#: The ledger is never kept for less than a week (and never pruned of this or last week).
MIN_LEDGER_DAYS = 7


def ledger_cutoff(today: dt.date, ledger_days: int) -> dt.date:
    """Entries on or before this day may be pruned: never this ISO week or the previous one."""
    previous_monday = today - dt.timedelta(days=today.weekday() + 7)
    return min(today - dt.timedelta(days=ledger_days), previous_monday - dt.timedelta(days=1))


_SETTLED = {"pending": 0}  # every other status (sent, rejected, withdrawn) is final


@dataclass(frozen=True)
class RetentionPolicy:
    """How long history is kept, and how much of it at most (the app can configure both)."""

    days: int = 180
    max_events: int = 5_000
    ledger_days: int = 400

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 3650 or not 1 <= self.max_events <= 1_000_000:
            raise ValueError(_("retention must be 1-3650 days and 1-1,000,000 events"))
        if not MIN_LEDGER_DAYS <= self.ledger_days <= 3650:
            # A shorter ledger would forget ε spent this week and let it be spent again.
            raise ValueError(
                _("the ledger is kept for {MIN_LEDGER_DAYS}-3650 days").format(
                    MIN_LEDGER_DAYS=MIN_LEDGER_DAYS
                )
            )

    def to_json(self) -> dict[str, int]:
        """The policy as a JSON object."""
        return {"days": self.days, "max_events": self.max_events, "ledger_days": self.ledger_days}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetentionPolicy:
        """Parse a policy (a ledger period stored by an older app is raised to the minimum)."""
        ledger_days = max(MIN_LEDGER_DAYS, int(data["ledger_days"]))
        return cls(int(data["days"]), int(data["max_events"]), ledger_days)


def parameters_digest(parameters: Mapping[str, Any]) -> str:
    """SHA-256 of canonical JSON: what a consent refers to, exactly."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class Consent:
    """The user agreed, on ``granted_on``, to reports with exactly these parameters."""

    granted_on: dt.date
    parameters: Mapping[str, Any]

    @property
    def digest(self) -> str:
        """Digest of the parameters consented to."""
        return parameters_digest(self.parameters)

    def covers(self, parameters: Mapping[str, Any]) -> bool:
        """Whether ``parameters`` are exactly the ones consented to."""
        return parameters_digest(parameters) == self.digest


@dataclass(frozen=True)
class LedgerEntry:
    """One private report: recorded before it is sent, so the ledger never misses one."""

    day: dt.date
    period: str
    kind: str
    epsilon: float
    digest: str
    status: str = "pending"
    #: Why the service refused the report (``status == "rejected"``), in its words.
    reason: str = ""
    #: The δ of an (ε, δ) guarantee: 0 for the LDP reports, the task's for a secure
    #: aggregation contribution.
    delta: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """As JSON (the profile's format, and what ``discreet ledger --json`` prints)."""
        return {
            "day": self.day.isoformat(),
            "period": self.period,
            "kind": self.kind,
            "epsilon": self.epsilon,
            "digest": self.digest,
            "status": self.status,
            "reason": self.reason,
            "delta": self.delta,
        }


#: The kind of a secure-aggregation contribution, in the ledger and the outbox (it goes
#: to the leader, never to the LDP report service).
SECAGG_KIND = "secagg"
#: The kind of a co-occurrence contribution (the second secure-aggregation task).
SECAGG_PAIRS_KIND = "secagg-pairs"
#: Every kind that goes to a leader.
CONTRIBUTION_KINDS = (SECAGG_KIND, SECAGG_PAIRS_KIND)


@dataclass(frozen=True)
class PendingReport:
    """A report made but not yet sent: the exact bytes that will leave the device.

    ``token`` is 16 random bytes sent beside the report so that the server counts
    a retried report once; it is fresh per report and links nothing.
    """

    period: str
    kind: str
    data: bytes
    token: bytes
    #: Where a contribution goes (its task's URL at the leader), fixed when it was made;
    #: empty for an LDP report, and for a contribution queued by an older release.
    destination: str = ""


@dataclass
class Profile:
    """A user's profile. Mutate it through its methods; persist it with ``to_bytes``.

    >>> profile = Profile.new(dt.date(2026, 11, 29))
    >>> profile.record("b-0042", EventKind.LIKE, dt.date(2026, 11, 29)).kind
    <EventKind.LIKE: 'like'>
    """

    created: dt.date
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    events: list[Event] = field(default_factory=list)
    muted: set[str] = field(default_factory=set)
    paused: bool = False
    sensitive_opt_in: set[str] = field(default_factory=set)
    consent: Consent | None = None
    ledger: list[LedgerEntry] = field(default_factory=list)
    outbox: list[PendingReport] = field(default_factory=list)
    #: The latest period some of whose ledger entries were pruned: no report can be
    #: made for it or any earlier one (what was spent there is no longer known).
    ledger_floor: str | None = None

    @classmethod
    def new(cls, today: dt.date, retention: RetentionPolicy | None = None) -> Profile:
        """An empty profile created ``today``."""
        return cls(created=today, retention=retention or RetentionPolicy())

    # ---- history -----------------------------------------------------------
    def record(
        self, item: str, kind: EventKind | str, day: dt.date, *, today: dt.date | None = None
    ) -> Event:
        """Add an event, then enforce retention and the cap (oldest dropped first).

        With ``today`` (as the Engine always passes), an event dated later is dated
        ``today`` and retention runs as of ``today``: a future day would otherwise
        outlive retention and steer it. Without it, the newest day recorded stands in.
        """
        if not isinstance(item, str) or not item:
            raise ValueError(_("an event needs an item id"))
        event = Event(item, EventKind(kind), day if today is None else min(day, today))
        self.events.append(event)
        if len(self.events) > 1 and self.events[-2].day > event.day:
            self.events.sort(key=lambda e: e.day)  # keep history in day order
        self.enforce_retention(today or max(day, self.events[-1].day))
        return event

    def enforce_retention(self, today: dt.date) -> int:
        """Drop events older than the retention period and beyond the cap; return how many."""
        before = len(self.events)
        cutoff = today - dt.timedelta(days=self.retention.days)
        self.events = [e for e in self.events if e.day > cutoff]
        if len(self.events) > self.retention.max_events:
            self.events = self.events[-self.retention.max_events :]
        cutoff = ledger_cutoff(today, self.retention.ledger_days)
        pruned = [e.period for e in self.ledger if e.day <= cutoff]
        if pruned:
            self.ledger = [e for e in self.ledger if e.day > cutoff]
            self.raise_floor(max(pruned))
        return before - len(self.events)

    def raise_floor(self, period: str | None) -> None:
        """No report may be made for ``period`` or earlier (the floor only goes up)."""
        if period is not None and (self.ledger_floor is None or period > self.ledger_floor):
            self.ledger_floor = period

    # ---- the budget record -------------------------------------------------
    def budget_json(self) -> dict[str, Any]:
        """What a rollback of the profile file must not undo: the ledger, consent, floor.

        Saved beside the profile (see :mod:`discreet.profile.session`) and merged
        forward with :meth:`merge_budget` on open.
        """
        # Only these fields: the events can be a million long, and this runs on every save.
        return {
            "format_version": BUDGET_FORMAT_VERSION,
            "consent": _encode_consent(self.consent),
            "ledger": [e.to_json() for e in self.ledger],
            "ledger_floor": self.ledger_floor,
        }

    def merge_budget(self, record: Mapping[str, Any]) -> None:
        """Merge a budget record forward: the newer ledger and consent win.

        The record is written before the profile on every save, so it is never
        older than the profile: its consent (or revocation) wins, the ledgers are
        united (a settled status beats ``pending``), the floor is the higher one,
        and queued reports the record settled are dropped.
        Raises :class:`CorruptStoreError` if the record is malformed.
        """
        try:
            if record.get("format_version", 0) > BUDGET_FORMAT_VERSION:
                return  # written by a newer app: keep the profile's own state
            consent = _decode_consent(record["consent"])
            ledger = _decode_ledger(record["ledger"])
            floor = _floor(record.get("ledger_floor"))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStoreError(
                _("the budget record is malformed ({name__})").format(name__=type(exc).__name__)
            ) from None
        self.consent = consent
        merged = {e.digest: e for e in self.ledger}
        for entry in ledger:
            mine = merged.get(entry.digest)
            if mine is None or _SETTLED.get(mine.status, 1) < _SETTLED.get(entry.status, 1):
                merged[entry.digest] = entry
        self.ledger = sorted(merged.values(), key=lambda e: (e.day, e.period, e.kind))
        self.raise_floor(floor)
        pending = {e.digest for e in self.ledger if e.status == "pending"}
        self.outbox = [r for r in self.outbox if hashlib.sha256(r.data).hexdigest() in pending]

    def forget_keeping_budget(self, today: dt.date) -> Profile:
        """A fresh profile (kiosk "forget") that still knows this week's spent ε.

        Everything personal goes, consent and queued reports too; the ledger
        and its floor stay, so that sessions on one device never add up to
        more than the weekly cap.
        """
        fresh = Profile.new(today, self.retention)
        fresh.ledger = [
            dataclasses.replace(e, status="withdrawn") if e.status == "pending" else e
            for e in self.ledger
        ]
        fresh.ledger_floor = self.ledger_floor
        return fresh

    # ---- controls ----------------------------------------------------------
    def admits(self, categories: Iterable[str], taxonomy: Taxonomy) -> bool:
        """Whether an item in ``categories`` may enter the profile.

        Items in a sensitive category are kept out unless the user opted in to
        that category (or to the sensitive ancestor that makes it sensitive).
        """
        for category in categories:
            sensitive = category in taxonomy and taxonomy.is_sensitive(category)
            if sensitive and not {category, *taxonomy.ancestors(category)} & self.sensitive_opt_in:
                return False
        return True

    def grant(self, parameters: Mapping[str, Any], today: dt.date) -> Consent:
        """Record consent to reporting with exactly ``parameters``."""
        self.consent = Consent(today, dict(parameters))
        return self.consent

    def revoke(self) -> int:
        """Withdraw reporting consent; unsent reports are dropped. Return how many."""
        self.consent = None
        dropped = len(self.outbox)
        self.outbox = []
        self.ledger = [
            dataclasses.replace(e, status="withdrawn") if e.status == "pending" else e
            for e in self.ledger
        ]
        return dropped

    # ---- serialisation -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The profile as JSON; every key is declared in :mod:`discreet.profile.schema`."""
        return {
            "format_version": CURRENT_VERSION,
            "created": self.created.isoformat(),
            "settings": {"retention": self.retention.to_json()},
            "events": _encode_events(self.events),
            "controls": {
                "muted": sorted(self.muted),
                "paused": self.paused,
                "sensitive_opt_in": sorted(self.sensitive_opt_in),
            },
            "consent": _encode_consent(self.consent),
            "ledger": [e.to_json() for e in self.ledger],
            "outbox": [
                {
                    "period": r.period,
                    "kind": r.kind,
                    "data": r.data.hex(),
                    "token": r.token.hex(),
                    **({"destination": r.destination} if r.destination else {}),
                }
                for r in self.outbox
            ],
            "ledger_floor": self.ledger_floor,
        }

    def to_bytes(self) -> bytes:
        """Compact JSON bytes, the payload of a store."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: Any) -> Profile:
        """Parse (and migrate) a stored profile; raise :class:`CorruptStoreError` if malformed."""
        try:
            return _parse(migrate(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStoreError(
                _("the profile decrypted but its content is malformed ({name__})").format(
                    name__=type(exc).__name__
                )
            ) from None

    @classmethod
    def from_bytes(cls, payload: bytes) -> Profile:
        """Parse a store payload; :class:`CorruptStoreError` says why it cannot be read.

        The remedy depends on where the payload came from: ``ProfileHome.open``
        sets the file aside and offers its backup.
        """
        try:
            data = json.loads(payload)
        except ValueError:
            raise CorruptStoreError(_("the profile decrypted but is not valid JSON")) from None
        return cls.from_json(data)


def _encode_events(events: list[Event]) -> list[list[str]]:
    # Histories hold thousands of events over a few hundred days: format each day once.
    days: dict[dt.date, str] = {}
    return [
        [e.item, e.kind, days.get(e.day) or days.setdefault(e.day, e.day.isoformat())]
        for e in events
    ]


def _decode_events(raw: list[Any]) -> list[Event]:
    days: dict[str, dt.date] = {}
    events = []
    for item, kind, day in raw:
        if not isinstance(item, str) or not item:
            raise ValueError(_("an event has no item id"))
        parsed = days.get(day)
        if parsed is None:
            parsed = days[day] = dt.date.fromisoformat(day)
        events.append(Event(item, _KINDS[kind], parsed))
    return events


def _encode_consent(consent: Consent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {
        "granted_on": consent.granted_on.isoformat(),
        "parameters": dict(consent.parameters),
        "digest": consent.digest,
    }


def _decode_consent(raw: Any) -> Consent | None:
    if raw is None:
        return None
    return Consent(dt.date.fromisoformat(raw["granted_on"]), dict(raw["parameters"]))


def _decode_ledger(raw: Any) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            dt.date.fromisoformat(e["day"]),
            str(e["period"]),
            str(e["kind"]),
            float(e["epsilon"]),
            str(e["digest"]),
            str(e["status"]),
            str(e.get("reason", "")),
            float(e.get("delta", 0.0)),
        )
        for e in raw
    ]


def _parse(data: Mapping[str, Any]) -> Profile:
    controls = data["controls"]
    events = _decode_events(data["events"])
    return Profile(
        created=dt.date.fromisoformat(data["created"]),
        retention=RetentionPolicy.from_json(data["settings"]["retention"]),
        events=events,
        muted=set(controls["muted"]),
        paused=bool(controls["paused"]),
        sensitive_opt_in=set(controls["sensitive_opt_in"]),
        consent=_decode_consent(data["consent"]),
        ledger=_decode_ledger(data["ledger"]),
        outbox=[
            PendingReport(
                str(r["period"]),
                str(r["kind"]),
                bytes.fromhex(r["data"]),
                bytes.fromhex(r["token"]),
                str(r.get("destination", "")),
            )
            for r in data.get("outbox", [])
        ],
        ledger_floor=_floor(data.get("ledger_floor")),
    )


def _floor(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("ledger_floor is a period")
    return value
