"""What ``Engine.export()`` returns: everything kept, typed, and its documented JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discreet.profile.model import Consent, Event, LedgerEntry, Profile, RetentionPolicy

#: The documented export's format name and version (``to_json()["format"]``).
EXPORT_FORMAT, EXPORT_FORMAT_VERSION = "discreet-profile-export", 1


@dataclass(frozen=True)
class ProfileExport:
    """A snapshot of everything a profile keeps, as of ``exported_on`` (GDPR art. 15, 20).

    >>> everything = engine.export()  # doctest: +SKIP
    >>> [e.item for e in everything.events]  # doctest: +SKIP
    ['lb-0042']
    """

    exported_on: dt.date
    created: dt.date
    events: tuple[Event, ...]
    muted: frozenset[str]
    sensitive_opt_in: frozenset[str]
    paused: bool
    consent: Consent | None
    ledger: tuple[LedgerEntry, ...]
    retention: RetentionPolicy
    #: The data card's field descriptions: what each field holds, why, for how long.
    fields: tuple[Mapping[str, Any], ...]
    #: Where and how the profile is kept.
    storage: Mapping[str, str]
    _profile_json: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        profile: Profile,
        exported_on: dt.date,
        fields: tuple[Mapping[str, Any], ...],
        storage: Mapping[str, str],
    ) -> ProfileExport:
        """A snapshot of ``profile``: later changes to it do not show here."""
        return cls(
            exported_on,
            profile.created,
            tuple(profile.events),
            frozenset(profile.muted),
            frozenset(profile.sensitive_opt_in),
            profile.paused,
            profile.consent,
            tuple(profile.ledger),
            profile.retention,
            fields,
            dict(storage),
            profile.to_json(),
        )

    def to_json(self) -> dict[str, Any]:
        """The documented JSON document (``discreet profile export``)."""
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_on": self.exported_on.isoformat(),
            "fields": [dict(f) for f in self.fields],
            "storage": dict(self.storage),
            "profile": self._profile_json,
        }
